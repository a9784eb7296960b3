import { createReadStream } from "node:fs";
import os from "node:os";
import path from "node:path";
import type { Manifest } from "../artifact/manifest.js";
import type { Config } from "../config/schema.js";
import type { Emit } from "../events.js";
import type { HostSession } from "./session.js";
import { layout } from "./layout.js";
import { cleanStale, receiveFile, unpackRelease, unpackVenv } from "./stage.js";
import { appendLine, runInDir } from "./switch.js";
import { listHost, parseListing, planPrune, removeItems, type PrunePlan } from "./prune.js";
import type { HostPlan } from "./plan.js";

/** The layer files and manifest, verified and extracted locally once, sent to every host. */
export interface LocalFiles {
  manifest: string;
  code: string;
  venv: string;
}

/** Send one file to the host and have the host check its sha256 before it takes its name. */
async function send(s: HostSession, emit: Emit, file: string, dest: string, sha256: string, size: number, layer: "code" | "venv" | "manifest") {
  await s.run("send", receiveFile(dest, sha256), {
    stdin: createReadStream(file, { highWaterMark: 1 << 20 }),
    onSent: (sent) => emit({ type: "transfer", host: s.host, layer, sent, total: size }),
  });
}

/**
 * SPEC §5 steps 3–4 on one host: send what it lacks, verify on the host, unpack beside the
 * old release and rename into place. Nothing here touches `current`.
 */
export async function stageHost(s: HostSession, emit: Emit, m: Manifest, manifestSha: string, manifestSize: number, files: LocalFiles, plan: HostPlan, shared: readonly string[]): Promise<number> {
  const L = layout(m.root);
  const [code, venv] = m.layers;
  await s.step("clean", () => s.run("clean", cleanStale(m.root)));
  if (plan.releasePresent) return 0;
  const inc = (name: string) => `${L.incoming}/${m.build_id}-${name}`;
  let sent = 0;
  await s.step("send", async () => {
    if (plan.sendVenv) {
      await send(s, emit, files.venv, inc(venv!.member), venv!.sha256, venv!.size, "venv");
      sent += venv!.size;
    }
    await send(s, emit, files.manifest, inc("slipway.json"), manifestSha, manifestSize, "manifest");
    await send(s, emit, files.code, inc(code!.member), code!.sha256, code!.size, "code");
    sent += manifestSize + code!.size;
  }, () => `${sent} bytes${plan.sendVenv ? " (code + venv)" : " (code only)"}`);
  await s.step("unpack", async () => {
    if (plan.sendVenv) await s.run("unpack", unpackVenv(m.root, m.env.key, inc(venv!.member), venv!.compression));
    await s.run("unpack", unpackRelease(m.root, m.build_id, m.env.key, inc(code!.member), inc("slipway.json"), shared, code!.compression));
  });
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

export async function runUserCommand(s: HostSession, step: "migrate" | "hooks" | "after-hooks", dir: string, command: string, env: Record<string, string>, hint: string) {
  return s.run(step, runInDir(dir, command, env), { hint });
}

export interface HistoryRecord {
  at: string;
  action: "deploy" | "rollback" | "prune";
  user: string;
  from: string;
  target: string;
  host: string;
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
  return s.step("prune", async () => {
    const listing = parseListing((await s.run("list", listHost(root))).stdout);
    const plan = planPrune(listing, keep);
    const argv = removeItems(root, plan);
    if (argv) await s.run("prune", argv);
    return plan;
  }, (p) => `kept ${p.keep.length}, removed ${p.removeReleases.length} release(s), ${p.removeVenvs.length} venv(s)`);
}

export function localFiles(dir: string, m: Manifest): LocalFiles {
  return { manifest: path.join(dir, "slipway.json"), code: path.join(dir, m.layers[0]!.member), venv: path.join(dir, m.layers[1]!.member) };
}
