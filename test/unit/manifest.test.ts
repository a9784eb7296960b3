import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  ARTIFACT_FORMAT,
  MANIFEST_MEMBER,
  SIGNATURE_MEMBER,
  artifactFileName,
  manifestSchema,
  serializeManifest,
  type Manifest,
} from "../../src/artifact/manifest.js";
import { parseManifest } from "../../src/artifact/read.js";
import { ArtifactError, ExitCode } from "../../src/errors.js";

const H1 = "1".repeat(64);
const H2 = "2".repeat(64);

/** A valid manifest, built the way src/commands/build.ts builds one. */
function valid(): Manifest {
  const interpreter = {
    executable: "/usr/bin/python3.11",
    implementation: "cpython",
    version: "3.11.2",
    abi: "cpython-311-x86_64-linux-gnu",
    platform: "linux-x86_64/glibc-2.36",
  };
  return {
    format: 1,
    app: "accounting",
    build_id: "20240501T123456Z.abc1234",
    created_at: "2024-05-01T12:34:56.789Z",
    git: { commit: "0123456789abcdef0123456789abcdef01234567", dirty: false },
    root: "/srv/accounting",
    env: {
      key: "0123456789abcdef",
      python: { ...interpreter, configured: "/usr/bin/python3" },
      inputs: [{ path: "requirements.txt", sha256: H1 }],
    },
    layers: [
      { name: "code", member: "code.tar.zst", compression: "zstd", sha256: H1, size: 100, unpacked_size: 400, files: 12 },
      { name: "venv", member: "venv.tar.zst", compression: "zstd", sha256: H2, size: 2000, unpacked_size: 9000, files: 300 },
    ],
    builder: { slipway_version: "0.1.0", hostname: "ci-01" },
  };
}

const bytes = (m: unknown) => Buffer.from(JSON.stringify(m));

/** parseManifest must reject the mutated manifest with an ArtifactError whose message matches. */
function rejects(mutate: (m: any) => void, message: RegExp): ArtifactError {
  const m: any = structuredClone(valid());
  mutate(m);
  let caught: unknown;
  try {
    parseManifest(bytes(m), "/out/acc-1.tar");
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof ArtifactError, `expected an ArtifactError, got ${String(caught)}`);
  assert.equal(caught.exitCode, ExitCode.rejected);
  assert.ok(caught.message.startsWith("/out/acc-1.tar: "), `the message names the artifact: ${caught.message}`);
  assert.match(caught.message, message);
  // The schema alone must agree.
  assert.equal(manifestSchema.safeParse(m).success, false, "manifestSchema accepted it");
  return caught;
}

describe("manifest constants", () => {
  test("format 1 and member names from SPEC §3", () => {
    assert.equal(ARTIFACT_FORMAT, 1);
    assert.equal(MANIFEST_MEMBER, "slipway.json");
    assert.equal(SIGNATURE_MEMBER, "slipway.json.sig");
  });
});

describe("manifestSchema / parseManifest: accepted", () => {
  test("a valid manifest round-trips through serialize + parse", () => {
    const m = valid();
    assert.deepEqual(parseManifest(serializeManifest(m), "x.tar"), m);
    assert.equal(manifestSchema.safeParse(m).success, true);
  });

  test("git may be null (built outside git)", () => {
    const m = { ...valid(), git: null };
    assert.equal(parseManifest(bytes(m), "x.tar").git, null);
  });

  test("gzip layers", () => {
    const m = valid();
    m.layers = [
      { ...m.layers[0]!, member: "code.tar.gz", compression: "gzip" },
      { ...m.layers[1]!, member: "venv.tar.gz", compression: "gzip" },
    ];
    assert.equal(parseManifest(bytes(m), "x.tar").layers[1]!.member, "venv.tar.gz");
  });

  test("no inputs, a short commit, build ids with + and _", () => {
    const m = valid();
    m.env.inputs = [];
    m.git = { commit: "abc1234", dirty: true };
    m.build_id = "1.2.3+build_7";
    assert.doesNotThrow(() => parseManifest(bytes(m), "x.tar"));
  });
});

describe("manifestSchema / parseManifest: rejected", () => {
  test("a wrong format version: the message names the version", () => {
    const err = rejects((m) => (m.format = 2), /artifact format 2 is not supported \(this slipway reads format 1\)/);
    assert.match(err.hint ?? "", /slipway version/);
  });

  test("format as a string", () => {
    rejects((m) => (m.format = "1"), /artifact format "1" is not supported/);
  });

  test("a missing format", () => {
    rejects((m) => delete m.format, /artifact format .* is not supported/);
  });

  test("an unknown top-level key", () => {
    rejects((m) => (m.extra = 1), /slipway\.json is invalid at \(top\):.*"extra"/);
  });

  test("an unknown nested key", () => {
    rejects((m) => (m.env.python.extra = 1), /invalid at env\.python:.*"extra"/);
    rejects((m) => (m.layers[0].extra = 1), /invalid at layers\[0\]:.*"extra"/);
    rejects((m) => (m.git.branch = "main"), /invalid at git:.*"branch"/);
  });

  for (const id of ["../x", "a/b", ".hidden", "-x", "a..b", "", "a b"]) {
    test(`build_id ${JSON.stringify(id)}`, () => {
      rejects((m) => (m.build_id = id), /invalid at build_id/);
    });
  }

  test("a relative root", () => {
    rejects((m) => (m.root = "srv/acc"), /invalid at root/);
  });
  test("a root with ..", () => {
    rejects((m) => (m.root = "/srv/../etc"), /invalid at root: .*no \. or \.\. components/);
  });
  test("a root or interpreter with spaces, quotes or controls (they reach host scripts as arguments)", () => {
    rejects((m) => (m.root = "/srv/my app"), /invalid at root/);
    rejects((m) => (m.root = "/srv/a\nb"), /invalid at root/);
    rejects((m) => (m.env.python.executable = "/usr/bin/python3 -c x"), /invalid at env\.python\.executable/);
    rejects((m) => (m.env.python.configured = "/usr/bin/py*"), /invalid at env\.python\.configured/);
    rejects((m) => (m.env.python.configured = "-c"), /invalid at env\.python\.configured/);
  });
  test("sizes and counts beyond the documented limits (a bomb declared up front)", () => {
    rejects(
      (m) => (m.layers[1].unpacked_size = 16 * 2 ** 30 + 1),
      /invalid at layers\[1\]\.unpacked_size: is more than slipway accepts \(at most 16 GiB unpacked per layer/,
    );
    rejects((m) => (m.layers[0].files = 1_000_001), /invalid at layers\[0\]\.files: is more than slipway accepts/);
    rejects((m) => (m.layers[0].size = 2 ** 40), /invalid at layers\[0\]\.size: is more than slipway accepts/);
    rejects(
      (m) => (m.env.inputs = Array.from({ length: 10_001 }, (_, i) => ({ path: `r${i}.txt`, sha256: H1 }))),
      /invalid at env\.inputs: lists more than 10000 inputs/,
    );
  });
  test("control characters in text inspect prints (they could rewrite a terminal)", () => {
    rejects((m) => (m.builder.hostname = "ci\u001b[2J"), /invalid at builder\.hostname: must not contain control characters/);
    rejects((m) => (m.env.python.platform = "linux\u009b31m"), /invalid at env\.python\.platform/);
    rejects((m) => (m.env.inputs[0].path = "req\n.txt"), /invalid at env\.inputs\[0\]\.path/);
  });
  test('root "/" and a trailing /', () => {
    rejects((m) => (m.root = "/"), /invalid at root/);
    rejects((m) => (m.root = "/srv/acc/"), /invalid at root/);
  });

  test("a bad layer sha256: upper-case, short, not hex", () => {
    rejects((m) => (m.layers[0].sha256 = "A".repeat(64)), /invalid at layers\[0\]\.sha256: must be a sha256 in lower-case hex/);
    rejects((m) => (m.layers[1].sha256 = "abc"), /invalid at layers\[1\]\.sha256/);
    rejects((m) => (m.layers[1].sha256 = "g".repeat(64)), /invalid at layers\[1\]\.sha256/);
  });

  test("a bad input sha256", () => {
    rejects((m) => (m.env.inputs[0].sha256 = "x"), /invalid at env\.inputs\[0\]\.sha256/);
  });

  test("layers out of order", () => {
    rejects((m) => m.layers.reverse(), /layers must be code, then venv/);
  });

  test("two code layers", () => {
    rejects((m) => (m.layers[1] = structuredClone(m.layers[0])), /layers must be code, then venv/);
  });

  test("member / compression mismatch", () => {
    rejects((m) => (m.layers[0].member = "code.tar.gz"), /member must be <name>\.tar\.zst or <name>\.tar\.gz matching its compression/);
    rejects((m) => (m.layers[1].compression = "gzip"), /matching its compression/);
  });

  test("member / name mismatch", () => {
    rejects((m) => (m.layers[0].member = "venv.tar.zst"), /matching its compression/);
  });

  test("a wrong number of layers", () => {
    rejects((m) => m.layers.pop(), /invalid at layers/);
    rejects((m) => m.layers.push(structuredClone(m.layers[1])), /invalid at layers/);
    rejects((m) => (m.layers = []), /invalid at layers/);
  });

  test("negative or fractional sizes", () => {
    rejects((m) => (m.layers[0].size = -1), /invalid at layers\[0\]\.size/);
    rejects((m) => (m.layers[0].files = 1.5), /invalid at layers\[0\]\.files/);
  });

  test("a bad app name, env key, created_at, python executable", () => {
    rejects((m) => (m.app = "Bad"), /invalid at app/);
    rejects((m) => (m.env.key = "0123456789ABCDEF"), /invalid at env\.key/);
    rejects((m) => (m.created_at = "yesterday"), /invalid at created_at/);
    rejects((m) => (m.env.python.executable = "python3"), /invalid at env\.python\.executable/);
  });

  test("invalid JSON", () => {
    assert.throws(
      () => parseManifest(Buffer.from("{not json"), "/out/a.tar"),
      (err: unknown) => {
        assert.ok(err instanceof ArtifactError);
        assert.equal(err.exitCode, 3);
        assert.match(err.message, /^\/out\/a\.tar: slipway\.json is not valid JSON: /);
        return true;
      },
    );
  });

  test("JSON that is not an object", () => {
    for (const text of ["null", "[]", "1", '"x"']) {
      assert.throws(() => parseManifest(Buffer.from(text), "a.tar"), ArtifactError, text);
    }
  });
});

describe("artifactFileName", () => {
  test("<name>-<build_id>.tar", () => {
    assert.equal(artifactFileName("accounting", "42"), "accounting-42.tar");
    assert.equal(artifactFileName("acc", "20240501T123456Z.abc1234"), "acc-20240501T123456Z.abc1234.tar");
  });
});

describe("serializeManifest", () => {
  test("the same object gives the same bytes", () => {
    const m = valid();
    assert.ok(serializeManifest(m).equals(serializeManifest(m)));
    assert.ok(serializeManifest(valid()).equals(serializeManifest(valid())));
  });

  test("is pretty-printed JSON ending in a newline, parseable back", () => {
    const b = serializeManifest(valid());
    const text = b.toString("utf8");
    assert.ok(text.endsWith("}\n"));
    assert.ok(text.includes('\n  "format": 1,'));
    assert.deepEqual(JSON.parse(text), valid());
  });

  test("format comes first, so a reader sees the version at once", () => {
    assert.ok(serializeManifest(valid()).toString("utf8").startsWith('{\n  "format": 1,'));
  });

  test("a parsed manifest serializes to the bytes it was parsed from", () => {
    const original = serializeManifest(valid());
    const reparsed = serializeManifest(parseManifest(original, "x.tar"));
    assert.equal(reparsed.toString("utf8"), original.toString("utf8"));
  });
});
