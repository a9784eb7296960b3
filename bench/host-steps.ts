// Host-step micro benchmark: each host script a deploy runs, timed over a warm ssh master
// connection and run inside the host directly (nsenter, no ssh), on one namespace host with
// the example app deployed. Shows what a round trip costs (ssh: a command in the host's shell
// session; and as an ssh command of its own) against what the script costs.
//
//   cd /work/main && npm run build && npx tsx bench/host-steps.ts      (needs root)
//
// Also stages a release (manifest as a zstd or deflate delta, and whole) as a code-only deploy does. Prints the
// median of 7 runs per script; writes nothing.
import { fileURLToPath } from "node:url";
import { fleetApp, SUPERVISOR_CONF } from "../test/support/fleet-app.js";
import { SshTransport } from "../src/transport/ssh.js";
import { probeHost } from "../src/deploy/probe.js";
import { readHead } from "../src/artifact/read.js";
import { acquireLock, releaseLock, type LockInfo } from "../src/deploy/lock.js";
import { finishHost } from "../src/deploy/finish.js";
import { switchThenRun } from "../src/deploy/switch.js";
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import { createHash } from "node:crypto";
import { stageRelease } from "../src/deploy/stage.js";
import { manifestPayloads, type ManifestPayload } from "../src/deploy/manifest-delta.js";
import { shJoin } from "../src/transport/quote.js";
import { restartCommand } from "../src/procman/restart.js";

const CLI = fileURLToPath(new URL("../dist/cli.js", import.meta.url));
const RUNS = 7;

/** Run each way RUNS times (i = run index), print the medians. */
async function measure(name: string, overSsh: (i: number) => Promise<unknown>, inHost: (i: number) => Promise<unknown>): Promise<void> {
  const ssh: number[] = [];
  const local: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    let t0 = performance.now();
    await overSsh(i);
    ssh.push(performance.now() - t0);
    t0 = performance.now();
    await inHost(i);
    local.push(performance.now() - t0);
  }
  const med = (xs: number[]) => xs.sort((a, b) => a - b)[RUNS >> 1]!.toFixed(1);
  console.log(`${name.padEnd(40)} ssh ${med(ssh)} ms   in-host (nsenter) ${med(local)} ms`);
}
const f = await fleetApp(1);
const h = f.hosts[0]!;
const root = f.ws.root;
try {
  const r = spawnSync(process.execPath, [CLI, "build", "--build-id", "m1", "--json"], { cwd: f.ws.app, env: f.ws.env, encoding: "utf8" });
  const art = JSON.parse(r.stdout.trim().split("\n").at(-1)!).artifact as string;
  const d = spawnSync(process.execPath, [CLI, "deploy", art!, "--target", "fleet"], { cwd: f.ws.app, env: f.ws.env, encoding: "utf8" });
  if (d.status !== 0) throw new Error(d.stdout + d.stderr);
  const t = new SshTransport(h.dest, { config: "", identity: f.fleet.ssh.identity, known_hosts: f.fleet.ssh.known_hosts, options: [] });
  await t.exec(["true"]);
  const info: LockInfo = { token: "tok", user: "u", from: "f", action: "deploy", target: "t", since: "s", pid: 1 };
  const cases: [string, string[]][] = [
    ["true", ["true"]],
    ["sh -c true", ["sh", "-c", "true"]],
    ["probe", probeHost(root, (await readHead(art)).manifest.env.python, "m2", "0123456789abcdef")],
    ["python -I -c pass", ["/usr/bin/python3", "-I", "-c", "pass"]],
    ["acquire+release", ["sh", "-c", `${shJoin(acquireLock(root, info, true))}; ${shJoin(releaseLock(root, "tok"))}`]],
    ["finish (no prune)", finishHost(root, undefined, "tok", [])],
    ["switch to m1 + supervisorctl restart", switchThenRun(root, "m1", ["supervisorctl", "-c", SUPERVISOR_CONF, "restart", "hello"])],
    [
      "switch to m1 + restart (slipway's, XML-RPC)",
      switchThenRun(
        root,
        "m1",
        restartCommand(
          { manager: "supervisord", programs: ["hello"], conf: SUPERVISOR_CONF, command: "", scope: "system", action: "restart", sudo: false },
          `${root}/current`,
          {},
        )!,
      ),
    ],
    ["supervisorctl status", ["supervisorctl", "-c", SUPERVISOR_CONF, "status"]],
  ];
  // The same `true` as an ssh command of its own on the master connection (what every step was
  // before the shell session): a stdin stream of unknown size is what takes that path.
  await measure(
    "true, its own ssh command (mux)",
    () => t.exec(["true"], { stdin: Readable.from([]) }),
    () => h.exec(["true"]),
  );
  for (const [name, argv] of cases) {
    await measure(
      name,
      async () => {
        const x = await t.exec(argv);
        if (x.code !== 0) console.log(name, x.code, x.stderr.slice(0, 200));
      },
      () => h.exec(["sh", "-c", shJoin(argv)]).catch(() => {}),
    );
  }
  // Staging a release (manifest as a delta against m1's, code layer): what a code-only deploy's "stage" step runs.
  const manifest = execFileSync("tar", ["-xOf", art, "slipway.json"]);
  const m = JSON.parse(manifest.toString()) as { layers: { member: string; sha256: string }[] };
  const code = execFileSync("tar", ["-xOf", art, m.layers[0]!.member]);
  const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");
  const current = { current: "m1", currentManifest: readFileSync(`${h.srv}${root.slice("/srv".length)}/releases/m1/slipway.json`) };
  const tools = (zstd: boolean) => ({ tar: true, zstd, gzip: true, sha256sum: true, teeP: true });
  const work = mkdtempSync(path.join(tmpdir(), "slw-host-steps-"));
  const payloads = await manifestPayloads(
    manifest,
    root,
    new Map([
      ["z", { ...current, tools: tools(true) }],
      ["d", { ...current, tools: tools(false) }],
    ]),
    "zstd",
    work,
  );
  const ways: [string, ManifestPayload][] = [
    ["zstd delta", payloads.get("z")!],
    ["deflate delta", payloads.get("d")!],
    ["whole", { bytes: manifest }],
  ];
  for (const [i0, [way, p]] of ways.entries()) {
    const stage = (build: string) =>
      stageRelease(
        root,
        build,
        "0123456789abcdef",
        {
          code: `${root}/.slipway/incoming/${build}-code.tar.zst`,
          codeSha: m.layers[0]!.sha256,
          manifest: `${root}/.slipway/incoming/${build}-slipway.json`,
          manifestSha: sha(manifest),
          manifestSize: p.bytes.length,
          manifestDelta: p.delta,
          python: "/usr/bin/python3",
        },
        [],
        "zstd",
      );
    const input = Buffer.concat([p.bytes, code]);
    await measure(
      `stage: manifest (${way}, ${p.bytes.length} B) + code layer`,
      async (i) => {
        const x = await t.exec(stage(`st${i0}-${i}s`), { stdin: input });
        if (x.code !== 0) throw new Error(x.stderr);
      },
      (i) => h.exec(["sh", "-c", shJoin(stage(`st${i0}-${i}l`))], { input }),
    );
  }
  await t.close();
} finally {
  await f.stop();
}
process.exit(0);
