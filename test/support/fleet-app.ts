// The example app built for a root under /srv, and a target of N namespace hosts running it under supervisord.
import { randomBytes } from "node:crypto";
import { rmSync } from "node:fs";
import { appendFile, readFile, symlink, writeFile } from "node:fs/promises";
import path from "node:path";
import { startFleet, type FleetOptions, type TestFleet, type TestHost } from "./fleet.js";
import { copyExampleApp, tmpDir } from "./tmp.js";
import { ensureWheelhouse } from "./wheelhouse.js";
import { pythonEnv } from "./env.js";
import { waitForJson } from "./supervisor.js";
import type { Workspace } from "./build-app.js";

export const APP_PORT = 8000;

export interface FleetApp {
  ws: Workspace;
  fleet: TestFleet;
  hosts: TestHost[];
  health(host: TestHost): Promise<Record<string, unknown>>;
  /** Read a file under the app root on a host. */
  read(host: TestHost, rel: string): Promise<string>;
  /** `readlink <root>/<link>` on a host ("" when missing). */
  link(host: TestHost, name: string): Promise<string>;
  stop(): Promise<void>;
}

/** Where fleetApp links each host's supervisord.conf (under the host's own /srv). */
export const SUPERVISOR_CONF = "/srv/supervisord.conf";

/**
 * A `[targets.<name>]` of every host in the fleet, over ssh with the fleet's key, restarting the
 * example's supervisord program; `extra` are more keys of the target (TOML values as written),
 * `sshOptions` go to its `ssh.options`.
 */
export function targetToml(name: string, fleet: TestFleet, extra: Record<string, string> = {}, sshOptions: readonly string[] = []): string {
  const options = sshOptions.length ? `, options = ${JSON.stringify(sshOptions)}` : "";
  return `
[targets.${name}]
hosts = ${JSON.stringify(fleet.hosts.map((h) => h.dest))}
${Object.entries(extra)
  .map(([k, v]) => `${k} = ${v}`)
  .join("\n")}
ssh = { identity = "${fleet.ssh.identity}", known_hosts = "${fleet.ssh.known_hosts}"${options} }
[targets.${name}.restart]
manager = "supervisord"
programs = ["hello"]
conf = "${SUPERVISOR_CONF}"
`;
}

/**
 * A workspace whose app root is /srv/<unique>/hello (the same path on this machine, where the
 * venv is built, and on every host, each with its own /srv), and a fleet whose hosts run the
 * app under supervisord from <root>/current, restarted by slipway.
 */
export async function fleetApp(
  count: number,
  opts: {
    target?: Record<string, string>;
    fleet?: FleetOptions;
    /** The supervisord program's command line (default: the example's wsgiref server). */
    command?: (root: string) => string;
    /** Extra TOML appended after the [targets.fleet] tables (e.g. health, haproxy). */
    extraToml?: string;
    /** More supervisord programs for every host, given the app root (e.g. a worker). */
    extraPrograms?: (root: string) => string;
  } = {},
): Promise<FleetApp> {
  const dir = await tmpDir("slipway-fleet-app");
  const root = `/srv/slw-${randomBytes(4).toString("hex")}/hello`;
  const wheelhouse = await ensureWheelhouse();
  const app = await copyExampleApp("hello", `${dir}/app`, { root, pipArgs: ["--no-index", "--find-links", wheelhouse] });
  const cache = `${dir}/cache`;
  const ws: Workspace = { dir, app, root, cache, wheelhouse, env: pythonEnv({ SLIPWAY_CACHE_DIR: cache }) };
  const program = [
    "[program:hello]",
    `command=${opts.command?.(root) ?? `${root}/current/virtualenv/bin/python -m hello.serve --host 0.0.0.0 --port ${APP_PORT}`}`,
    `directory=${root}/current`,
    "autostart=false",
    "startsecs=0",
    "stopsignal=TERM",
    "stopwaitsecs=10",
    ...(opts.extraPrograms ? ["", opts.extraPrograms(root)] : []),
  ].join("\n");
  const fleet = await startFleet(count, { supervisorPrograms: program, ...opts.fleet });
  // Each host's supervisord.conf lives in its own dir; give them one path, as a real fleet has.
  await Promise.all(fleet.hosts.map((h) => symlink(h.supervisorConf!, path.join(h.srv, path.relative("/srv", SUPERVISOR_CONF)))));
  const target = targetToml("fleet", fleet, opts.target) + (opts.extraToml ?? "");
  const file = path.join(app, "slipway.toml");
  await writeFile(file, (await readFile(file, "utf8")) + target);
  const stopAll = async () => {
    await fleet.stop();
    rmSync(path.dirname(root), { recursive: true, force: true });
  };
  process.on("exit", () => rmSync(path.dirname(root), { recursive: true, force: true }));
  return {
    ws,
    fleet,
    hosts: fleet.hosts,
    // Without a [health] check a deploy ends when supervisord has started the program
    // (startsecs=0), which may not be listening yet: wait for it, a few seconds at most.
    health: (h) => waitForJson(`http://${h.ip}:${APP_PORT}/health`, 5_000),
    read: (h, rel) => h.exec(["cat", `${root}/${rel}`]),
    link: (h, name) => h.exec(["sh", "-c", 'readlink "$1" || true', "sh", `${root}/${name}`]).then((s) => s.trim()),
    stop: stopAll,
  };
}

/**
 * The entries of a build on a host, by name: releases/<id> or .tmp-<id>-…, and received files
 * <id>-… in .slipway/incoming. (Not `ls` of the dirs: it prints their paths too, and the root's
 * random hex may hold any two characters.)
 */
export async function buildEntries(f: FleetApp, h: TestHost, buildId: string): Promise<string[]> {
  const out = await h.exec(["sh", "-c", 'cd "$1" && ls -A releases .slipway .slipway/incoming 2>/dev/null | grep -v ":$" || true', "sh", f.ws.root]);
  return out.split("\n").filter((n) => n.startsWith(`${buildId}-`) || n === buildId || n.startsWith(`.tmp-${buildId}-`));
}

/** gunicorn from the release's venv, resolving `current` when its master starts (docs/zero-downtime.md). */
export const gunicornCommand = (root: string): string =>
  `${root}/current/virtualenv/bin/gunicorn hello.app:application --bind 0.0.0.0:${APP_PORT} --workers 2 --threads 4 --graceful-timeout 30 --chdir ${root}/current`;

/**
 * Put the fleet's target behind an HAProxy in the root namespace ("local" socket): health
 * checks on the hosts, each host mapped to its server name, and gunicorn in the requirements.
 */
export async function behindHaproxy(f: FleetApp, socket: string, opts: { drainTimeout: string; healthTimeout: string }): Promise<void> {
  const servers = f.hosts.map((h) => `"${h.dest}" = "${h.name}"`).join(", ");
  await appendFile(
    path.join(f.ws.app, "slipway.toml"),
    `
[targets.fleet.health]
url = "http://127.0.0.1:${APP_PORT}/health"
timeout = "${opts.healthTimeout}"
[targets.fleet.haproxy]
socket = "${socket}"
host = "local"
backend = "app"
servers = { ${servers} }
drain_timeout = "${opts.drainTimeout}"
`,
  );
  await appendFile(path.join(f.ws.app, "requirements.txt"), "\ngunicorn\n");
}
