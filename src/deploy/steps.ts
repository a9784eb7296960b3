import { createReadStream } from "node:fs";
import { Readable } from "node:stream";
import os from "node:os";
import path from "node:path";
import type { Manifest } from "../artifact/manifest.js";
import { memberRange } from "../artifact/member-range.js";
import { openMember } from "../artifact/read.js";
import type { Config } from "../config/schema.js";
import type { Emit } from "../events.js";
import type { HostSession } from "./session.js";
import { canSendRanges } from "../transport/range-send.js";
import type { FileRange } from "../transport/types.js";
import { layout } from "./layout.js";
import { pullVenv, stageRelease, stageVenv } from "./stage.js";
import { layerFetch, pulledTarFlags, type PullLayers } from "./fetch.js";
import { appendLine, runInDir } from "./switch.js";
import { listHost, parseListing, planPrune, removeItems, type PrunePlan } from "./prune.js";
import type { HostPlan } from "./plan.js";
import type { ManifestPayload } from "./manifest-delta.js";

/**
 * The layers as sent: the code layer verified and extracted locally once (every host gets it);
 * the venv layer opened from the artifact for each host that lacks it.
 */
export interface LocalFiles {
  code: string;
  venv: () => Readable;
  /** Where the venv layer's bytes lie in the artifact file, if they lie there as one range. */
  venvRange?: () => Promise<FileRange | undefined>;
}

/**
 * A venv layer this big goes to a host by a command of its own whose stdin the kernel feeds
 * from the artifact (transport/range-send.ts), not through the host's session: that costs the
 * host's login shell once more (tens of ms, more with a slow rc file) and saves node relaying
 * every byte (about 1.5 ms per MB here: docs/performance.md, "Big venvs").
 */
export const OWN_COMMAND_BYTES = 64 << 20;

/** Files, bytes and opened streams as one stream of `bytes` in all, reporting how much of it went out. */
function upload(files: readonly (string | Buffer | (() => Readable))[], bytes: number, onSent: (sent: number) => void) {
  return {
    stdinBytes: bytes,
    stdin: Readable.from(
      (async function* () {
        for (const f of files) {
          if (Buffer.isBuffer(f)) yield f;
          else if (typeof f === "function") yield* f();
          else yield* createReadStream(f, { highWaterMark: 1 << 20 });
        }
      })(),
    ),
    onSent,
  };
}

/**
 * SPEC §5 steps 3–4 on one host: send what it lacks, verify it on the host, unpack beside the
 * old release and rename into place — one round trip for the venv layer (only when the host
 * lacks it) and one for the manifest and code layer. Nothing here touches `current`.
 * Received files are named per run (`runId`), so what a killed earlier run may still be
 * receiving on the host never shares a name with this run's files.
 */
export async function stageHost(
  s: HostSession,
  emit: Emit,
  m: Manifest,
  manifestSha: string,
  manifest: ManifestPayload,
  files: LocalFiles,
  plan: HostPlan,
  shared: readonly string[],
  runId = "",
  /** The host pulls both layers from the registry (plan.pull): what to pull, and how. */
  pull?: PullLayers,
): Promise<number> {
  if (plan.releasePresent) return 0;
  const L = layout(m.root);
  const [code, venv] = m.layers;
  const inc = (name: string) => `${L.incoming}/${m.build_id}-${runId ? `${runId}-` : ""}${name}`;
  if (plan.pull && pull) return pullHost(s, m, manifestSha, manifest, plan, shared, inc, pull);
  let sent = 0;
  if (plan.sendVenv) {
    let direct = false;
    await s.step(
      "venv",
      async () => {
        const argv = stageVenv(
          m.root,
          m.env.key,
          inc(venv!.member),
          venv!.sha256,
          venv!.compression,
          [m.env.python.configured, m.env.python.executable],
          {
            bytes: venv!.size,
            unpacked: venv!.unpacked_size,
            files: venv!.files,
          },
          plan.interpreterMark,
        );
        const range = venv!.size >= OWN_COMMAND_BYTES && (await canSendRanges()) ? await files.venvRange?.() : undefined;
        direct = range?.length === venv!.size;
        await s.run("venv", argv, {
          ...upload([files.venv], venv!.size, (n) => emit({ type: "transfer", host: s.host, layer: "venv", sent: n, total: venv!.size })),
          stdinRange: direct ? range : undefined,
        });
        sent += venv!.size;
      },
      () => `${venv!.size} bytes sent${direct ? " straight from the artifact" : ""}, unpacked as they arrived, verified`,
    );
  }
  await s.step(
    "stage",
    async () => {
      const argv = stageRelease(
        m.root,
        m.build_id,
        m.env.key,
        releaseFiles(m, manifestSha, manifest, inc, code!.member, code!.sha256),
        shared,
        code!.compression,
        undefined,
        plan.interpreterMark,
      );
      const total = manifest.bytes.length + code!.size;
      await s.run(
        "stage",
        argv,
        upload([manifest.bytes, files.code], total, (n) => emit({ type: "transfer", host: s.host, layer: "code", sent: n, total })),
      );
      sent += total;
    },
    () =>
      `${manifest.bytes.length + code!.size} bytes sent (manifest${manifest.delta ? `, as a ${manifest.delta.codec} delta,` : ""} + code), verified, unpacked`,
  );
  return sent;
}

/** The files stageRelease receives, named by `inc`: the manifest (perhaps as a delta) and the code layer, with its sha256. */
function releaseFiles(m: Manifest, manifestSha: string, manifest: ManifestPayload, inc: (name: string) => string, codeName: string, codeSha: string) {
  return {
    code: inc(codeName),
    codeSha,
    manifest: inc("slipway.json"),
    manifestSha,
    manifestSize: manifest.bytes.length,
    manifestDelta: manifest.delta,
    python: m.env.python.configured,
  };
}

/**
 * stageHost in pull mode: the same two round trips, each sending only a command, the curl
 * config (and for the release, the manifest); the host fetches the layers by digest itself.
 */
async function pullHost(
  s: HostSession,
  m: Manifest,
  manifestSha: string,
  manifest: ManifestPayload,
  plan: HostPlan,
  shared: readonly string[],
  inc: (name: string) => string,
  pull: PullLayers,
): Promise<number> {
  const [code, venv] = m.layers as [Manifest["layers"][number], Manifest["layers"][number]];
  const oci = pull.code.prefix !== undefined;
  let sent = 0;
  if (plan.sendVenv) {
    await s.step(
      "venv",
      async () => {
        // Made now, per host: an S3 layer's presigned URL lives minutes, not the whole deploy.
        const { config, url } = await layerFetch(pull.source, pull.venv);
        const argv = pullVenv(
          m.root,
          m.env.key,
          inc(oci ? "venv.oci.tar.gz" : venv.member),
          pull.venv.digest,
          url,
          [m.env.python.configured, m.env.python.executable],
          pull.venv.compression ?? "gzip",
          pulledTarFlags(pull.venv),
          // An OCI layer also holds its prefix's dirs and the completion mark (left out).
          { bytes: pull.venv.size, unpacked: venv.unpacked_size, files: venv.files, extraEntries: oci ? 64 : 0 },
          plan.interpreterMark,
        );
        const r = await s.run("venv", argv, { stdin: config });
        sent += config.length;
        return r.stdout.trim();
      },
      (how) => (how === "present" ? "already there" : `${pull.venv.size} bytes pulled from the ${oci ? "registry" : "S3 store"}, verified, unpacked`),
    );
  }
  await s.step(
    "stage",
    async () => {
      const { config, url } = await layerFetch(pull.source, pull.code);
      const argv = stageRelease(
        m.root,
        m.build_id,
        m.env.key,
        releaseFiles(m, manifestSha, manifest, inc, oci ? "code.oci.tar.gz" : code.member, pull.code.digest),
        shared,
        pull.code.compression ?? "gzip",
        { url, tarFlags: pulledTarFlags(pull.code) },
        plan.interpreterMark,
      );
      await s.run("stage", argv, { stdin: Buffer.concat([manifest.bytes, config]) });
      sent += manifest.bytes.length + config.length;
    },
    () =>
      `manifest sent (${manifest.bytes.length} bytes), code layer (${pull.code.size} bytes) pulled from the ${oci ? "registry" : "S3 store"}, verified, unpacked`,
  );
  return sent;
}

/** The variables every user command (migrations, hooks, restart) sees. */
export function deployEnv(config: Config, target: string, host: string, m: Manifest, previous?: string): Record<string, string> {
  return {
    SLIPWAY_APP: config.app.name,
    SLIPWAY_TARGET: target,
    SLIPWAY_HOST: host,
    SLIPWAY_BUILD_ID: m.build_id,
    SLIPWAY_PREVIOUS_BUILD_ID: previous ?? "",
    SLIPWAY_ROOT: m.root,
    SLIPWAY_RELEASE_DIR: layout(m.root).release(m.build_id),
  };
}

/** Pending migrations in Django's `showmigrations --plan` / `--list` form: lines starting "[ ]". */
export function countPending(output: string): number {
  return output.split("\n").filter((l) => /^\s*\[ \]/.test(l)).length;
}

export async function runUserCommand(
  s: HostSession,
  step: "migrate" | "hooks" | "after-hooks",
  dir: string,
  command: string,
  env: Record<string, string>,
  hint: string,
) {
  return s.run(step, runInDir(dir, command, env), { hint });
}

export interface HistoryRecord {
  at: string;
  action: "deploy" | "rollback" | "prune";
  user: string;
  from: string;
  target: string;
  host: string;
  /** The host's roles in this run. */
  roles?: string[];
  build_id?: string;
  previous?: string;
  result: string;
  durations_ms?: Record<string, number>;
  error?: string;
  removed?: string[];
}

export function historyRecord(fields: Omit<HistoryRecord, "at" | "user" | "from">): HistoryRecord {
  return { at: new Date().toISOString(), user: os.userInfo().username, from: os.hostname(), ...fields };
}

export async function record(s: HostSession, root: string, rec: HistoryRecord): Promise<void> {
  await s.step("record", () => s.run("record", appendLine(layout(root).history, JSON.stringify(rec))));
}

/** SPEC §5 step 10 (prune): list the host, plan what to remove (pure), remove it. */
export async function pruneHost(s: HostSession, root: string, keep: number): Promise<PrunePlan> {
  return s.step(
    "prune",
    async () => {
      const listing = parseListing((await s.run("list", listHost(root))).stdout);
      const plan = planPrune(listing, keep);
      const argv = removeItems(root, plan);
      if (argv) await s.run("prune", argv);
      return plan;
    },
    (p) => `kept ${p.keep.length}, removed ${p.removeReleases.length} release(s), ${p.removeVenvs.length} venv(s)`,
  );
}

export function localFiles(dir: string, artifact: string, m: Manifest): LocalFiles {
  const member = m.layers[1]!.member;
  let range: Promise<FileRange | undefined> | undefined;
  return {
    code: path.join(dir, m.layers[0]!.member),
    venv: () => openMember(artifact, member),
    venvRange: () =>
      (range ??= memberRange(artifact, member).then(
        (r) => r && { path: artifact, ...r },
        () => undefined,
      )),
  };
}
