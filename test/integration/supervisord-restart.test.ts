// The supervisord restart (procman/supervisord-rpc.ts) against a real supervisord: the same
// output and exit status as `supervisorctl -c conf restart` for every kind of name and failure,
// supervisorctl itself whenever the script is unsure, and proof of which one ran.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { once } from "node:events";
import { chmod, mkdir, readFile, symlink, writeFile } from "node:fs/promises";
import { createServer } from "node:http";
import path from "node:path";
import { restartCommand } from "../../src/procman/restart.js";
import { freePort, startSupervisor, type Supervisor } from "../support/supervisor.js";
import { tmpDir } from "../support/tmp.js";

const PROGRAMS = [
  "[program:ok]",
  "command=/bin/sleep 1000",
  "startsecs=0",
  "autostart=true",
  "stopwaitsecs=2",
  "",
  "[program:idle]",
  "command=/bin/sleep 1000",
  "startsecs=0",
  "autostart=false",
  "",
  "[program:missing]",
  "command=/nonexistent/bin/app",
  "startsecs=0",
  "startretries=0",
  "autostart=false",
  "",
  "[program:dies]",
  "command=/bin/sh -c 'exit 3'",
  "startsecs=1",
  "startretries=0",
  "autostart=false",
  "",
  "[program:many]",
  "command=/bin/sleep 1000",
  "numprocs=2",
  "process_name=%(program_name)s_%(process_num)s",
  "startsecs=0",
  "autostart=true",
  "",
].join("\n");

interface Rig {
  dir: string;
  sup: Supervisor;
  current: string;
  /** supervisorctl calls made through PATH, one line each */
  ctlLog: string;
  env: NodeJS.ProcessEnv;
}

/** A supervisord, a fake release whose virtualenv/bin/python is Debian's, and a logging supervisorctl first on PATH. */
async function rig(name: string, opts: Parameters<typeof startSupervisor>[2] = {}): Promise<Rig> {
  const dir = await tmpDir(`slipway-sv-${name}`);
  const sup = await startSupervisor(dir, PROGRAMS, opts);
  const current = path.join(dir, "current");
  await mkdir(path.join(current, "virtualenv", "bin"), { recursive: true });
  await symlink("/usr/bin/python3", path.join(current, "virtualenv", "bin", "python"));
  const bin = path.join(dir, "bin");
  const ctlLog = path.join(dir, "supervisorctl.log");
  await mkdir(bin);
  await writeFile(ctlLog, "");
  await writeFile(path.join(bin, "supervisorctl"), `#!/bin/sh\necho "$*" >> '${ctlLog}'\nexec /usr/bin/supervisorctl "$@"\n`);
  await chmod(path.join(bin, "supervisorctl"), 0o755);
  const env = { PATH: `${bin}:${process.env.PATH}`, HOME: process.env.HOME, LANG: "C.UTF-8", PWD: process.cwd() }; // (sh would add PWD)
  return { dir, sup, current, ctlLog, env };
}

const restartArgv = (r: Rig, conf: string, names: string[]) =>
  restartCommand({ manager: "supervisord", programs: names, conf, command: "", scope: "system", action: "restart", sudo: false }, r.current, {})!;

function viaSlipway(r: Rig, conf: string, names: string[], env: NodeJS.ProcessEnv = {}) {
  const [cmd, ...args] = restartArgv(r, conf, names);
  const p = spawnSync(cmd!, args, { encoding: "utf8", env: { ...r.env, ...env } });
  return { out: p.stdout + p.stderr, code: p.status };
}

/** The real supervisorctl, in the same environment (less the logging wrapper on PATH). */
function viaSupervisorctl(r: Rig, conf: string, names: string[]) {
  const p = spawnSync("/usr/bin/supervisorctl", ["-c", conf, "restart", ...names], { encoding: "utf8", env: { ...r.env, PATH: process.env.PATH } });
  return { out: p.stdout + p.stderr, code: p.status };
}

/** Every program back to: ok and many_* running, the rest stopped. */
function reset(r: Rig): void {
  r.sup.ctl("stop", "idle"); // (`stop all` waits for supervisord's next 1 s tick)
  r.sup.ctl("start", "ok", "many:*");
}

/** supervisorctl's exit status after these lines: the last failure decides (7 for a dead program, 1 otherwise). */
const lastFailure = (out: string) =>
  out.split("\n").reduce((code, line) => (/ERROR \((spawn error|abnormal termination)\)/.test(line) ? 7 : /ERROR \((?!not running)/.test(line) ? 1 : code), 0);

/** Each process's own output lines, in order (`many:many_0: stopped` → many:many_0 → [stopped]). */
function linesByProcess(out: string): Record<string, string[]> {
  const by: Record<string, string[]> = {};
  for (const line of out.split("\n").filter(Boolean)) {
    const at = line.lastIndexOf(": ");
    const name = at < 0 ? "" : line.slice(0, at);
    (by[name] ??= []).push(at < 0 ? line : line.slice(at + 2));
  }
  return by;
}

const stopsBeforeStarts = (out: string) => {
  const lines = out.split("\n");
  const lastStop = lines.findLastIndex((l) => l.endsWith(": stopped"));
  const firstStart = lines.findIndex((l) => l.endsWith(": started"));
  return lastStop < 0 || firstStart < 0 || lastStop < firstStart;
};

const calls = async (r: Rig) => (await readFile(r.ctlLog, "utf8")).split("\n").filter(Boolean);
const pid = (r: Rig, name: string) => Number(r.sup.ctl("pid", name).trim());

test("supervisord restart: same output and exit status as supervisorctl restart, without running it", async () => {
  const r = await rig("same");
  try {
    const cases: string[][] = [
      ["ok"],
      ["ok", "idle"],
      ["idle"],
      ["nope"],
      ["missing"],
      ["dies"],
      ["many:*"],
      ["many:many_1"],
      ["many"],
      ["nogroup:*"],
      ["all"],
    ];
    for (const names of cases) {
      reset(r);
      const before = pid(r, "ok");
      const ours = viaSlipway(r, r.sup.conf, names);
      if (names.includes("ok")) assert.notEqual(pid(r, "ok"), before, `${names.join(" ")}: ok was restarted (new pid)`);
      reset(r);
      const theirs = viaSupervisorctl(r, r.sup.conf, names);
      if (names.every((n) => !/:\*$|^all$|^many$/.test(n))) {
        assert.deepEqual(ours, theirs, `restart ${names.join(" ")}`);
        continue;
      }
      // Several processes: supervisord reports a group's (or `all`'s) processes in whatever
      // order they finish, and supervisorctl's exit status is the last failure's. What is fixed
      // is each process's own lines, in order, and that every stop precedes every start.
      const label = `restart ${names.join(" ")}`;
      assert.deepEqual(linesByProcess(ours.out), linesByProcess(theirs.out), label);
      for (const o of [ours, theirs]) assert.ok(stopsBeforeStarts(o.out), `${label}: every stop before any start: ${JSON.stringify(o.out)}`);
      // Same order, same status; another order may end on another failure, whose status decides.
      if (ours.out === theirs.out) assert.equal(ours.code, theirs.code, label);
      else for (const o of [ours, theirs]) assert.equal(o.code, lastFailure(o.out), `${label}: ${JSON.stringify(o)}`);
    }
    assert.deepEqual(await calls(r), [], "supervisorctl was never run");
  } finally {
    r.sup.stop();
  }
});

test("supervisord restart: %(here)s and %(ENV_*)s in serverurl, an inet server, credentials", async () => {
  const port = await freePort();
  const r = await rig("auth", { auth: { username: "deploy", password: "s3cret" }, inetPort: port });
  try {
    const conf = (lines: string[]) => {
      const file = path.join(r.dir, `client-${Math.random().toString(36).slice(2)}.conf`);
      return writeFile(file, ["; a client-only config", "[supervisorctl]", ...lines, ""].join("\n")).then(() => file);
    };
    const here = await conf(["serverurl = unix://%(here)s/supervisor.sock ; inline comment", "username = deploy", "password = s3cret"]);
    const env = await conf(["serverurl=unix://%(ENV_SV_DIR)s/supervisor.sock", "username=%(ENV_SV_USER)s", "password=s3cret"]);
    const inet = await conf([`serverurl=http://127.0.0.1:${port}`, "username=deploy", "password=s3cret"]);
    for (const [file, extra] of [
      [here, {}],
      [env, { SV_DIR: r.dir, SV_USER: "deploy" }],
      [inet, {}],
    ] as const) {
      const before = pid(r, "ok");
      const res = viaSlipway(r, file, ["ok"], extra);
      assert.deepEqual(res, { out: "ok: stopped\nok: started\n", code: 0 }, file);
      assert.notEqual(pid(r, "ok"), before);
    }
    assert.deepEqual(await calls(r), [], "all three spoke XML-RPC themselves");

    // A wrong password is supervisorctl's to report, word for word.
    const wrong = await conf(["serverurl = unix://%(here)s/supervisor.sock", "username = deploy", "password = nope"]);
    assert.deepEqual(viaSlipway(r, wrong, ["ok"]), viaSupervisorctl(r, wrong, ["ok"]));
    assert.deepEqual(await calls(r), [`-c ${wrong} restart ok`]);
  } finally {
    r.sup.stop();
  }
});

test("supervisord restart: hands over to supervisorctl, before doing anything, whenever it is unsure", async () => {
  const r = await rig("unsure");
  try {
    const write = async (name: string, text: string) => {
      const file = path.join(r.dir, name);
      await writeFile(file, text);
      return file;
    };
    const noSection = await write("no-ctl.conf", "[unix_http_server]\nfile=/tmp/x.sock\n");
    const noSocket = await write("no-socket.conf", `[supervisorctl]\nserverurl=unix://${r.dir}/absent.sock\n`);
    const unknownName = await write("unknown.conf", "[supervisorctl]\nserverurl=unix://%(nope)s/x.sock\n");
    const otherScheme = await write("scheme.conf", "[supervisorctl]\nserverurl=https://127.0.0.1:1\n");
    for (const conf of [noSection, noSocket, unknownName, otherScheme, path.join(r.dir, "absent.conf")]) {
      const before = pid(r, "ok");
      const ours = viaSlipway(r, conf, ["ok"]);
      assert.deepEqual(ours, viaSupervisorctl(r, conf, ["ok"]), conf);
      assert.notEqual(ours.code, 0, `${conf}: supervisorctl fails too`);
      assert.equal(pid(r, "ok"), before, `${conf}: nothing was restarted`);
    }
    assert.equal((await calls(r)).length, 5, "each one ran supervisorctl");

    // No conf named: supervisorctl searches its default paths; without python in the release too.
    const log = await readFile(r.ctlLog, "utf8");
    viaSlipway(r, "", ["ok"]);
    const [cmd, ...args] = restartArgv({ ...r, current: path.join(r.dir, "no-release") }, r.sup.conf, ["ok"]);
    const before = pid(r, "ok");
    const p = spawnSync(cmd!, args, { encoding: "utf8", env: r.env });
    assert.equal(p.stdout, "ok: stopped\nok: started\n");
    assert.notEqual(pid(r, "ok"), before);
    assert.deepEqual((await readFile(r.ctlLog, "utf8")).slice(log.length).split("\n").filter(Boolean), ["restart ok", `-c ${r.sup.conf} restart ok`]);
  } finally {
    r.sup.stop();
  }
});

test("supervisord restart: unsure after a stop went out, it never restarts a second time — it says what it did, exit 1", async () => {
  const r = await rig("partial");
  r.sup.stop();
  // A server that stops fine, then answers the start with a fault supervisorctl does not know.
  const sock = path.join(r.dir, "fake.sock");
  const seen: string[] = [];
  const fault = (code: number, text: string) =>
    `<?xml version="1.0"?><methodResponse><fault><value><struct><member><name>faultCode</name><value><int>${code}</int></value></member><member><name>faultString</name><value><string>${text}</string></value></member></struct></value></fault></methodResponse>`;
  const ok = '<?xml version="1.0"?><methodResponse><params><param><value><boolean>1</boolean></value></param></params></methodResponse>';
  const server = createServer((req, res) => {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      const method = /<methodName>([^<]+)<\/methodName>/.exec(body)?.[1] ?? "";
      seen.push(method);
      res.writeHead(200, { "content-type": "text/xml" }).end(method.startsWith("supervisor.stop") ? ok : fault(6, "SHUTDOWN_STATE"));
    });
  });
  await new Promise<void>((done) => server.listen(sock, done));
  try {
    const conf = path.join(r.dir, "fake.conf");
    await writeFile(conf, `[supervisorctl]\nserverurl=unix://${sock}\n`);
    // (asynchronously: the server answering it lives in this process)
    const [cmd, ...args] = restartArgv(r, conf, ["web"]);
    const child = spawn(cmd!, args, { env: r.env });
    let out = "";
    child.stdout.on("data", (c) => (out += c));
    child.stderr.on("data", (c) => (out += c));
    const [code] = (await once(child, "close")) as [number];
    assert.deepEqual({ out, code }, { out: "web: stopped\nerror: an answer from supervisord it could not read, after the calls above\n", code: 1 });
    assert.deepEqual(seen, ["supervisor.stopProcess", "supervisor.startProcess"]);
    assert.deepEqual(await calls(r), [], "supervisorctl was not run: it would have stopped web again");
  } finally {
    server.close();
  }
});
