// The example app set up for `slipway package` tests: a unique root under /srv (as on a host),
// a private supervisord running the app from <root>/current with its config at a host-like
// path (a /tmp path in a maintainer script is a lintian warning), and a [package] table that
// restarts it and checks its /health. Builds 1 and 2 (code only) are built.
import { randomBytes } from "node:crypto";
import { rmSync } from "node:fs";
import { appendFile, mkdir, readFile, readlink, symlink, writeFile } from "node:fs/promises";
import path from "node:path";
import { buildWith, exampleWorkspace, type Workspace } from "./build-app.js";
import { freePort, startSupervisor, waitForJson, type Supervisor } from "./supervisor.js";

export interface PackagedApp {
  ws: Workspace;
  root: string;
  port: number;
  sup: Supervisor;
  /** The supervisord config, at <root>/../supervisord.conf. */
  supConf: string;
  /** Artifacts by build id: "1", then "2" (a code-only change). */
  artifacts: Record<string, string>;
  /** Where `name` (current, previous) under the root points, or "". */
  link(name: string): Promise<string>;
  /** The build id the app answers /health with. */
  served(): Promise<unknown>;
}

export interface PackagedAppOptions {
  /** Edit slipway.toml (its root already set) before the [package] table is appended. */
  edit?: (toml: string, supConf: string, port: number) => string;
  /** Change the app before build 1 (e.g. its requirements). */
  prepare?: (ws: Workspace) => Promise<void>;
}

export async function packagedApp(prefix: string, opts: PackagedAppOptions = {}): Promise<PackagedApp> {
  const edit = opts.edit ?? ((t: string) => t);
  const ws = await exampleWorkspace(prefix);
  const root = `/srv/slw-${randomBytes(4).toString("hex")}/hello`;
  process.on("exit", () => rmSync(path.dirname(root), { recursive: true, force: true }));
  const port = await freePort();
  const supDir = path.join(ws.dir, "supervisor");
  await mkdir(supDir);
  const sup = await startSupervisor(
    supDir,
    [
      "[program:hello]",
      `command=${root}/current/virtualenv/bin/python -m hello.serve --port ${port}`,
      `directory=${root}/current`,
      "autostart=false",
      "startsecs=0",
      "stopsignal=TERM",
    ].join("\n"),
  );
  const supConf = path.join(path.dirname(root), "supervisord.conf");
  await mkdir(path.dirname(root), { recursive: true });
  await symlink(sup.conf, supConf);
  const config = path.join(ws.app, "slipway.toml");
  await writeFile(config, edit((await readFile(config, "utf8")).replace(/^root\s*=.*$/m, `root = "${root}"`), supConf, port));
  await appendFile(
    config,
    `
[package]
maintainer = "Ops Team <ops@example.com>"
[package.restart]
manager = "supervisord"
programs = ["hello"]
conf = "${supConf}"
[package.health]
url = "http://127.0.0.1:${port}/health"
timeout = "10s"
`,
  );
  await opts.prepare?.(ws);
  const artifacts: Record<string, string> = {};
  artifacts["1"] = (await buildWith(ws, "1")).result.artifact;
  await appendFile(path.join(ws.app, "hello", "app.py"), "\n# build 2: a code-only change\n");
  artifacts["2"] = (await buildWith(ws, "2")).result.artifact;
  return {
    ws,
    root,
    port,
    sup,
    supConf,
    artifacts,
    link: async (name) => readlink(path.join(root, name)).catch(() => ""),
    served: async () => (await waitForJson(`http://127.0.0.1:${port}/health`, 5_000))["build_id"],
  };
}
