import path from "node:path";
import type { BuildResult } from "../commands/build.js";
import type { InspectResult } from "../commands/inspect.js";
import type { InitResult } from "../commands/init.js";
import type { KeyPair } from "../artifact/keys.js";
import { bytes, duration } from "./format.js";

type Out = (line: string) => void;

export function buildSummary(r: BuildResult, cwd: string): (out: Out) => void {
  return (out) => {
    const total = Object.values(r.timings_ms).reduce((a, b) => a + b, 0);
    out(`built ${path.relative(cwd, r.artifact) || r.artifact} (${bytes(r.size)}) in ${duration(total)}`);
    out(`  sha256   ${r.sha256}`);
    out(`  venv     ${r.venv.key} (${r.venv.cache}; layer ${r.venv_layer_cache === "hit" ? "reused from cache" : "compressed"})`);
    out(`  code     ${bytes(r.layers.code.size)}, ${r.layers.code.files} entries, sha256 ${r.layers.code.sha256.slice(0, 16)}`);
    out(`  venv     ${bytes(r.layers.venv.size)} (${bytes(r.layers.venv.unpacked_size)} unpacked), ${r.layers.venv.files} entries`);
    if (r.signed_by) out(`  signed   by key ${r.signed_by}`);
  };
}

export function inspectSummary(r: InspectResult): (out: Out) => void {
  return (out) => {
    const m = r.manifest;
    out(`${path.basename(r.artifact)}`);
    out(`  app        ${m.app}`);
    out(`  build      ${m.build_id}  (created ${m.created_at} on ${m.builder.hostname}, slipway ${m.builder.slipway_version})`);
    out(`  git        ${m.git ? `${m.git.commit.slice(0, 12)}${m.git.dirty ? " (dirty)" : ""}` : "—"}`);
    out(`  root       ${m.root}`);
    const py = m.env.python;
    out(`  python     ${py.configured} → ${py.executable} (${py.implementation} ${py.version}, ${py.abi}, ${py.platform})`);
    out(`  venv key   ${m.env.key}  from ${m.env.inputs.map((i) => i.path).join(", ") || "no inputs"}`);
    out(`  signed     ${signedLine(r)}`);
    out("  layers");
    for (const l of m.layers) {
      out(
        `    ${l.name.padEnd(5)} ${l.member.padEnd(13)} ${bytes(l.size).padStart(10)}  ${bytes(l.unpacked_size).padStart(10)} unpacked  ${String(l.files).padStart(6)} entries  sha256 ${l.sha256}`,
      );
    }
    if (r.code.largest.length) {
      out("  largest files in the code layer");
      for (const f of r.code.largest) out(`    ${bytes(f.size).padStart(10)}  ${f.rel}`);
    }
    if (r.code.warning) out(`warning: ${r.code.warning}`);
    if (r.verified) {
      out(
        `verified: every layer matches its sha256 and size, and every entry is safe to unpack; file sha256 ${r.verified.sha256}` +
          (r.verified.checksumFile === "matched" ? " matches the .sha256 file" : " (no .sha256 file beside it)"),
      );
    }
    if (r.admitted) {
      const sig = r.admitted.signature;
      out(
        `accepted by ${path.basename(r.admitted.config)}: app, root and interpreter match` +
          (sig?.trusted ? `; signed by trusted key ${sig.key_id}` : "; no trusted keys configured"),
      );
    }
  };
}

function signedLine(r: InspectResult): string {
  if (!r.signature) return "no";
  if (r.signature.problem) return `yes, but ${r.signature.problem}`;
  const checked = r.verified?.signature ? "signature verified" : "not verified: use --verify";
  return `yes, by key ${r.signature.key_id} (${checked})`;
}

export function initSummary(r: InitResult): (out: Out) => void {
  return (out) => {
    out(`wrote ${r.file}`);
    out(`  app name      ${r.detected.name}`);
    out(`  requirements  ${r.detected.requirements.join(", ") || "none found — create requirements.txt"}`);
    if (r.detected.django) out("  django        collectstatic step and migration commands added");
    if (r.detected.staticDirs.length) out(`  minify        ${r.detected.staticDirs.join(", ")}`);
    out("review root, python and the target, then run `slipway build`");
  };
}

export function keygenSummary(r: KeyPair): (out: Out) => void {
  return (out) => {
    out(`wrote an ed25519 key pair, key id ${r.key_id}`);
    out(`  private  ${r.private_key}  (mode 0600: keep it on the build machine, e.g. as a CI secret)`);
    out(`  public   ${r.public_key}  (list it in deploy.trusted_keys)`);
    out("sign with `slipway build --sign <private>` or build.signing_key");
  };
}
