import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { loadConfig } from "../config/load.js";
import { ArtifactError, SlipwayError, UsageError } from "../errors.js";
import { silent, type Emit, type PlanSummary } from "../events.js";
import { readHead } from "../artifact/read.js";
import { checkAgainstConfig } from "../artifact/admit.js";
import type { Manifest } from "../artifact/manifest.js";
import { sha256 } from "../util/hash.js";
import { mapLimit, settleAll } from "../util/pool.js";
import { openSessions, type TransportFactory } from "../deploy/connect.js";
import { lockAll, lockInfo, rejectHeld } from "../deploy/locking.js";
import { finishHost, listingAfterSwitch } from "../deploy/finish.js";
import { reportStranded, strandedHosts } from "../deploy/stranded.js";
import { planPrune, pruneItems } from "../deploy/prune.js";
import type { HostState } from "../deploy/probe.js";
import { admit } from "../deploy/admission.js";
import { manifestPayloads } from "../deploy/manifest-delta.js";
import { CheckedLayers } from "../artifact/checked-layers.js";
import { cacheDir } from "../build/layer-cache.js";
import { incompatibilities, planDeploy, roleBatches, summarize, type DeployPlan } from "../deploy/plan.js";
import { parseBatch, resolveTarget } from "../deploy/target.js";
import { layout } from "../deploy/layout.js";
import { balancerConfigs, closeBalancers, openBalancers } from "../lb/balancers.js";
import { refuseFullDrain } from "../lb/full-drain.js";
import { switchInBatches } from "../deploy/batches.js";
import { countPending, deployEnv, historyRecord, localFiles, runUserCommand, stageHost } from "../deploy/steps.js";
import type { HostSession } from "../deploy/session.js";
import type { Config, SourceConfig } from "../config/schema.js";
import type { HostOutcome } from "../deploy/outcome.js";
import { forHost, migrationsHost, rolesOfHost } from "../config/roles.js";
import { rejectMissingLinked } from "../deploy/linked.js";
import { bridgeAll } from "../deploy/assets.js";
import { runMigrations } from "../deploy/migrations.js";
import { chooseSources, preflightUrl, type SourceChoice } from "../deploy/source.js";
import type { PullLayers } from "../deploy/fetch.js";
import { sourceOf } from "../config/roles.js";
import { publishForPull } from "../oci/publish.js";

export interface DeployOptions {
  cwd: string;
  configPath?: string;
  artifact: string;
  target?: string;
  hosts?: string;
  /** --roles: only these roles of the target (comma-separated). */
  roles?: string;
  batch?: string;
  dryRun?: boolean;
  emit?: Emit;
  /** How hosts are reached; tests and the future server may pass their own. */
  transport?: TransportFactory;
  /** Concurrent hosts while staging. */
  parallel?: number;
}

export type { HostOutcome } from "../deploy/outcome.js";

export interface DeployResult {
  app: string;
  target: string;
  build_id: string;
  dry_run: boolean;
  plan: PlanSummary;
  hosts: HostOutcome[];
  migrations?: { host: string; pending: number; output: string };
  timings_ms: Record<string, number>;
}

const STAGE_PARALLEL = 8;

/**
 * Deploy an artifact to a target (SPEC §5): lock all hosts, preflight, stage everywhere,
 * migrations, hooks, then switch and restart batch by batch, record, prune, unlock.
 * A failure before the switch leaves every host's `current` as it was.
 */
export async function deploy(opts: DeployOptions): Promise<DeployResult> {
  const emit = opts.emit ?? silent;
  const timings: Record<string, number> = {};
  const { config, appDir } = await loadConfig({ cwd: opts.cwd, configPath: opts.configPath });
  const { name, target, hosts } = resolveTarget(config, opts.target, opts.hosts, opts.roles);
  // --batch sets every role's batch; without it each role has its own (default: the target's).
  const batch = parseBatch(opts.batch);
  refuseFullDrain(
    roleBatches(target.roles, batch).flatMap((r) => r.batches),
    balancerConfigs(target),
  );
  const file = path.resolve(opts.cwd, opts.artifact);
  if (!existsSync(file)) throw new UsageError(`${opts.artifact}: no such file`, "give the path of a .tar built by `slipway build`");

  const work = await mkdtemp(path.join(os.tmpdir(), "slipway-deploy-"));
  const sessions = openSessions(hosts, target, emit, opts.transport);
  const balancers = openBalancers(target);
  try {
    const head = await readHead(file);
    const m = head.manifest;
    const { signature } = await checkAgainstConfig(file, head, config, appDir);
    if (signature?.trusted) emit({ type: "log", level: "info", message: `signed by trusted key ${signature.key_id}` });
    const all = [...sessions.sessions.values()];
    const outcomes = new Map<string, HostOutcome>(hosts.map((h) => [h, { host: h, result: "not-switched", bytes_sent: 0, durations_ms: {} }]));
    const manifestSha = sha256(head.manifestBytes);

    // Read-only first: the artifact verified here (every layer; one this machine checked before
    // is only re-hashed) while every host is probed (lock, interpreter, disk, tools, what is
    // there). Any refusal here leaves every host exactly as it was — nothing has been written yet.
    const checked = new CheckedLayers(cacheDir(process.env));
    // Pull mode: the registry gets the image (what it lacks) while the hosts are probed; a dry
    // run pushes nothing.
    const publishing = opts.dryRun ? new Map<string, Promise<PullLayers>>() : publishAll(opts, config, target, hosts, m, head.manifestBytes, emit, timings);
    const { states, verifyMs } = await admit({
      file,
      head,
      work,
      sessions: all,
      balancers,
      hosts,
      emit,
      checked,
      linkedFiles: config.deploy.linked_files,
      registryOf: (h) => preflightUrl(target, h),
    });
    timings["verify"] = verifyMs;
    rejectHeld(
      name,
      [...states].map(([host, st]) => [host, st.lock]),
    );
    rejectMissingLinked(states, m.root);
    const manifests = await manifestPayloads(head.manifestBytes, m.root, states, m.layers[0]!.compression, work);
    const sources = chooseSources(target, hosts, states);
    for (const p of sources.pushedInstead)
      emit({ type: "log", level: "warn", message: `${p.host}: ${p.why}; its layers are sent over ssh (source.fallback = "push")` });
    const plan = planDeploy(config, name, target, hosts, m, states, batch, (h) => manifests.get(h)!.bytes.length, sources.pull);
    rejectIncompatible(plan, m, manifestSha, states, sources);
    emit({ type: "plan", plan: summarize(plan) });
    if (opts.dryRun) return result(config, name, m, true, plan, outcomes, undefined, timings);
    const pulls = await pullPlans(target, sources, publishing);

    const info = lockInfo("deploy", name, m.build_id);
    await lockAll(all, m.root, info, name, { peeked: true, clean: true });
    let migrations: DeployResult["migrations"];
    let failure: unknown;
    try {
      const t0 = performance.now();
      const files = localFiles(work, file, m);
      await mapLimit(plan.hosts, opts.parallel ?? STAGE_PARALLEL, async (hp) => {
        const sent = await stageHost(
          sessions.get(hp.host),
          emit,
          m,
          manifestSha,
          manifests.get(hp.host)!,
          files,
          hp,
          sharedLinks(config),
          info.token.slice(0, 8),
          pulls.get(hp.host),
        );
        outcomes.get(hp.host)!.bytes_sent = sent;
      });
      timings["stage"] = Math.round(performance.now() - t0);

      if (config.deploy.assets) await bridgeAll(all, m.root, m.build_id, config.deploy.assets, config.deploy.keep_releases);
      const release = layout(m.root).release(m.build_id);
      const first = sessions.get(migrationsHost(target, config.deploy.migrations.role));
      const envFor = (h: string) => deployEnv(config, name, h, m, plan.hosts.find((x) => x.host === h)?.current);
      migrations = await runMigrations(config, first, release, envFor(first.host), emit);
      const hooks = config.deploy.hooks.before_switch;
      if (hooks.length) {
        await settleAll(
          all.map((s) =>
            s.step("hooks", async () => {
              for (const cmd of hooks) await runUserCommand(s, "hooks", release, cmd, envFor(s.host), "a before_switch hook failed: no host was switched");
            }),
          ),
        );
      }

      await switchInBatches(plan, {
        sessions: (h) => sessions.get(h),
        activation: (h) => ({
          session: sessions.get(h),
          root: m.root,
          ...forHost(target, h),
          balancers,
          env: envFor(h),
          emit,
          drainedBefore: states.get(h)?.drained,
        }),
        afterSwitch: config.deploy.hooks.after_switch,
        currentDir: layout(m.root).current,
        buildId: m.build_id,
        targetName: name,
        onFailure: target.on_failure,
        outcomes,
        emit,
      });
      return result(config, name, m, false, plan, outcomes, migrations, timings);
    } catch (err) {
      failure = err;
      throw err;
    } finally {
      // Record, prune (planned from the preflight listing, only where the deploy succeeded)
      // and unlock: one round trip per host, also when the deploy failed. A host that cannot
      // be reached keeps its lock, and the error says what to run when it is back.
      const finished = await Promise.allSettled(
        all.map((s) => {
          const o = outcomes.get(s.host)!;
          const record = historyRecord({
            action: "deploy",
            target: name,
            host: s.host,
            roles: rolesOfHost(target, s.host).map((r) => r.name),
            build_id: m.build_id,
            previous: o.previous ?? plan.hosts.find((x) => x.host === s.host)?.current,
            result: o.result,
            durations_ms: { ...timings, ...o.durations_ms },
            error: o.error,
          });
          const prune =
            o.result === "ok" ? planPrune(listingAfterSwitch(states.get(s.host)!.listing, m.build_id, m.env.key), config.deploy.keep_releases) : undefined;
          return s.step(
            "finish",
            () => s.run("finish", finishHost(m.root, JSON.stringify(record), info.token, prune ? pruneItems(prune) : [])),
            () =>
              prune ? `recorded, pruned ${prune.removeReleases.length} release(s) and ${prune.removeVenvs.length} venv(s), unlocked` : "recorded, unlocked",
          );
        }),
      );
      const before = (h: string) => plan.hosts.find((x) => x.host === h)?.current;
      reportStranded(
        name,
        m.build_id,
        strandedHosts(
          all.map((s) => s.host),
          finished,
          before,
        ),
        failure,
      );
    }
  } finally {
    await Promise.all([sessions.close(), closeBalancers(balancers)]);
    await rm(work, { recursive: true, force: true });
  }
}

/** What stage links into each release: the shared dirs, and the linked files as `=path`. */
function sharedLinks(config: Config): string[] {
  return [...config.deploy.shared, ...config.deploy.linked_files.map((f) => `=${f}`)];
}

/**
 * Pull mode: start pushing the image to each registry a host of this run pulls from (at most
 * once per registry). Settled later by pullPlans; a failure only matters if a host pulls.
 */
function publishAll(
  opts: DeployOptions,
  config: Config,
  target: Config["targets"][string],
  hosts: readonly string[],
  m: Manifest,
  manifestBytes: Buffer,
  emit: Emit,
  timings: Record<string, number>,
): Map<string, Promise<PullLayers>> {
  const out = new Map<string, Promise<PullLayers>>();
  for (const h of hosts) {
    const src = sourceOf(target, h);
    if (!src || out.has(sourceKey(src))) continue;
    const t0 = performance.now();
    const p: Promise<PullLayers> = (
      src.s3
        ? import("../s3/publish.js").then(({ publishToS3 }) => publishToS3({ cwd: opts.cwd, artifact: opts.artifact, s3: src.s3!, m, emit }))
        : publishForPull({
            cwd: opts.cwd,
            configPath: opts.configPath,
            artifact: opts.artifact,
            registry: src.registry!,
            publishTo: src.publish_to,
            m,
            manifestBytes,
            config,
            emit,
          })
    ).then((r) => {
      timings["publish"] = Math.round(performance.now() - t0);
      return r;
    });
    p.catch(() => {}); // awaited by pullPlans when a host pulls from it
    out.set(sourceKey(src), p);
  }
  return out;
}

const sourceKey = (src: SourceConfig) => `${src.registry ?? src.s3} ${src.publish_to ?? ""}`;

/** Each pulling host's layers, once its registry holds the image. */
async function pullPlans(
  target: Config["targets"][string],
  sources: SourceChoice,
  publishing: Map<string, Promise<PullLayers>>,
): Promise<Map<string, PullLayers>> {
  const out = new Map<string, PullLayers>();
  for (const h of sources.pull) out.set(h, await publishing.get(sourceKey(sourceOf(target, h)!))!);
  return out;
}

function rejectIncompatible(plan: DeployPlan, m: Manifest, manifestSha: string, states: Map<string, HostState>, sources?: SourceChoice): void {
  const lines: string[] = [];
  for (const hp of plan.hosts) {
    for (const p of incompatibilities(m, manifestSha, states.get(hp.host)!, hp)) lines.push(`${hp.host}: ${p}`);
  }
  for (const p of sources?.problems ?? []) lines.push(`${p.host}: ${p.why} (set source.fallback = "push" to send it the layers over ssh instead)`);
  if (lines.length) {
    throw new ArtifactError(
      `the artifact cannot be deployed — nothing was sent or changed:\n${lines.map((l) => `  ${l}`).join("\n")}`,
      "make the hosts match the build machine (same interpreter), or build on a machine that matches them",
    );
  }
}

function result(
  config: Config,
  target: string,
  m: Manifest,
  dryRun: boolean,
  plan: DeployPlan,
  outcomes: Map<string, HostOutcome>,
  migrations: DeployResult["migrations"],
  timings: Record<string, number>,
): DeployResult {
  return {
    app: config.app.name,
    target,
    build_id: m.build_id,
    dry_run: dryRun,
    plan: summarize(plan),
    hosts: [...outcomes.values()],
    migrations,
    timings_ms: timings,
  };
}
