// Pull mode from an S3 store ([targets.X.source] s3): two namespace hosts fetch the layers they
// lack from OpenStack Swift's s3api (test/support/swift-s3.ts) with presigned GET URLs the
// deployer sends on the session's stdin. Each host fetches each layer once and never one it
// has; no presigned URL or key reaches an argv, a host's environment or a file on a host; a
// layer altered in the store is refused on the host with nothing switched; a host that cannot
// reach the store is refused at preflight, or sent the layers over ssh with fallback = "push".
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { appendFile, readFile, writeFile } from "node:fs/promises";
import { createServer, request, type Server } from "node:http";
import path from "node:path";
import { promisify } from "node:util";
import { CreateBucketCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { deploy } from "../../src/commands/deploy.js";
import { readHead } from "../../src/artifact/read.js";
import { pushS3 } from "../../src/s3/push.js";
import type { SlipwayEvent } from "../../src/events.js";
import { buildWith } from "../support/build-app.js";
import { buildEntries, fleetApp, type FleetApp } from "../support/fleet-app.js";
import { freePort } from "../support/supervisor.js";
import { startSwiftS3, type SwiftS3 } from "../support/swift-s3.js";

const exec = promisify(execFile);
const BUCKET = "fleet-artifacts";
const PREFIX = "team/hello";

let f: FleetApp;
let swift: SwiftS3;
let front: Front;
let storeIp: string;
const saved: Record<string, string | undefined> = {};
const AWS_VARS = ["AWS_ENDPOINT_URL_S3", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_EC2_METADATA_DISABLED"] as const;

/**
 * A pass-through HTTP proxy in front of Swift on an address of the fleet's bridge (Host header
 * kept, so signatures still match), which can hold a presigned GET back while the test looks.
 */
interface Front {
  addr: string;
  onPresignedGet?: () => Promise<void>;
  held: number;
  close(): Promise<void>;
}

async function startFront(host: string, upstream: URL): Promise<Front> {
  const port = await freePort();
  const state: Front = { addr: `${host}:${port}`, held: 0, close: async () => {} };
  const server: Server = createServer(async (req, res) => {
    if (req.method === "GET" && req.url?.includes("X-Amz-Signature=") && state.onPresignedGet) {
      state.held++;
      await state.onPresignedGet();
    }
    const up = request({ host: upstream.hostname, port: Number(upstream.port), method: req.method, path: req.url, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    up.on("error", () => res.destroy());
    req.pipe(up);
  });
  await new Promise<void>((resolve) => server.listen(port, host, resolve));
  state.close = () => new Promise<void>((resolve) => server.close(() => resolve()));
  return state;
}

before(async () => {
  f = await fleetApp(2);
  // The store's front on a second address of the fleet's bridge: one host can be cut off from it
  // alone (its ssh uses the first).
  storeIp = f.fleet.gateway.replace(/\.1$/, ".2");
  await exec("ip", ["addr", "add", `${storeIp}/24`, "dev", f.fleet.bridge]);
  swift = await startSwiftS3(path.join(f.ws.dir, "swift"));
  front = await startFront(storeIp, new URL(swift.endpoint));
  for (const k of AWS_VARS) saved[k] = process.env[k];
  Object.assign(process.env, {
    AWS_ENDPOINT_URL_S3: `http://${front.addr}`,
    AWS_ACCESS_KEY_ID: swift.accessKeyId,
    AWS_SECRET_ACCESS_KEY: swift.secretAccessKey,
    AWS_EC2_METADATA_DISABLED: "true",
  });
  await s3().send(new CreateBucketCommand({ Bucket: BUCKET }));
  await appendFile(path.join(f.ws.app, "slipway.toml"), `\n[targets.fleet.source]\ns3 = "s3://${BUCKET}/${PREFIX}"\n`);
});

after(async () => {
  for (const k of AWS_VARS) {
    if (saved[k] === undefined) delete process.env[k];
    else process.env[k] = saved[k];
  }
  await front?.close();
  await swift?.stop();
  await f?.stop();
});

function s3(): S3Client {
  return new S3Client({
    endpoint: swift.endpoint,
    region: swift.region,
    forcePathStyle: true,
    credentials: { accessKeyId: swift.accessKeyId, secretAccessKey: swift.secretAccessKey },
    requestChecksumCalculation: "WHEN_REQUIRED",
  });
}

const current = (h: FleetApp["hosts"][number]) => f.link(h, "current");
const key = (sha: string) => `/${BUCKET}/${PREFIX}/blobs/sha256/${sha}`;
/** GETs of a layer's key that Swift answered 200: every host's fetch. */
const gets = async (sha: string) => (await swift.requests()).filter((r) => r.method === "GET" && r.path === key(sha) && r.status === 200).length;
const putPaths = async (from: number) =>
  (await swift.requests())
    .slice(from)
    .filter((r) => r.method === "PUT")
    .map((r) => r.path);

function isSecret(text: string): boolean {
  return text.includes(swift.secretAccessKey) || /X-Amz-Signature=[0-9a-f]/.test(text);
}

/** Every process's argv here (the hosts share this PID namespace), and the environment of every process on a host. */
function secretInProcesses(): string[] {
  const found: string[] = [];
  const onHosts = new Set(f.hosts.flatMap((h) => h.pids()).map(String));
  for (const pid of readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
    for (const what of ["cmdline", "environ"]) {
      if (what === "environ" && !onHosts.has(pid)) continue;
      try {
        const text = readFileSync(`/proc/${pid}/${what}`).toString("latin1");
        if (isSecret(text)) found.push(`${pid} ${what}: ${text.replaceAll("\0", " ").slice(0, 120)}`);
      } catch {
        // gone, or not ours to read
      }
    }
  }
  return found;
}

/** A file under dir holding the secret key or a presigned URL's signature. */
function secretIn(dir: string): string | undefined {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) {
      const found = secretIn(p);
      if (found) return found;
    } else if (e.isFile() && isSecret(readFileSync(p).toString("latin1"))) return p;
  }
  return undefined;
}

test("s3 pull: hosts fetch each layer they lack once with presigned URLs from stdin; the deployer sends the manifest only; no URL or key in any argv or host file", {
  timeout: 600_000,
}, async () => {
  const b1 = await buildWith(f.ws, "b1");
  const h1 = (await readHead(b1.result.artifact)).manifest;
  const [code1, venv1] = [h1.layers.find((l) => l.name === "code")!, h1.layers.find((l) => l.name === "venv")!];
  const events: SlipwayEvent[] = [];
  const seen: string[] = [];
  front.onPresignedGet = async () => {
    await new Promise((r) => setTimeout(r, 300));
    seen.push(...secretInProcesses());
  };
  let r1: Awaited<ReturnType<typeof deploy>>;
  try {
    r1 = await deploy({ cwd: f.ws.app, artifact: b1.result.artifact, target: "fleet", emit: (e) => events.push(e) });
  } finally {
    front.onPresignedGet = undefined;
  }
  assert.deepEqual(
    r1.hosts.map((h) => h.result),
    ["ok", "ok"],
  );
  assert.ok(front.held >= 4, `the hosts were caught fetching (${front.held})`);
  assert.deepEqual(seen, [], "no argv or host environment holds a presigned URL or the secret key");
  for (const h of f.hosts) {
    assert.equal(await current(h), "releases/b1");
    assert.equal((await f.health(h))["build_id"], "b1");
  }
  const plan = events.find((e) => e.type === "plan");
  assert.ok(plan?.type === "plan");
  for (const h of plan.plan.hosts) assert.deepEqual([h.send, h.pull], [["manifest"], ["code", "venv"]], h.host);
  for (const o of r1.hosts) assert.ok(o.bytes_sent < 64 * 1024, `${o.host}: the deployer sent ${o.bytes_sent} bytes`);
  const pulled = events.flatMap((e) => (e.type === "host" && e.step === "venv" && e.status === "done" ? [e.detail ?? ""] : []));
  assert.equal(pulled.length, 2);
  assert.ok(
    pulled.every((d) => /pulled from the S3 store/.test(d)),
    pulled.join("\n"),
  );
  assert.equal(await gets(venv1.sha256), 2, "each host fetched the venv layer once");
  assert.equal(await gets(code1.sha256), 2, "each host fetched the code layer once");

  // b2, code only: the store gets the code layer and the manifest; no host fetches the venv it has.
  await appendFile(path.join(f.ws.app, "hello", "app.py"), "\n# b2\n");
  const b2 = await buildWith(f.ws, "b2");
  const code2 = (await readHead(b2.result.artifact)).manifest.layers.find((l) => l.name === "code")!;
  const mark = (await swift.requests()).length;
  await deploy({ cwd: f.ws.app, artifact: b2.result.artifact, target: "fleet" });
  assert.deepEqual(await putPaths(mark), [key(code2.sha256), `/${BUCKET}/${PREFIX}/manifests/b2.json`]);
  assert.equal(await gets(venv1.sha256), 2, "no host fetched the venv it has");
  assert.equal(await gets(code2.sha256), 2);
  for (const h of f.hosts) {
    assert.equal(await current(h), "releases/b2");
    assert.equal(secretIn(h.srv), undefined, `${h.name}'s /srv holds no credential`);
    assert.equal(secretIn(h.dir), undefined, `${h.name}'s /tmp and /root hold no credential`);
  }
});

test("s3 pull: a layer altered in the store is refused on every host (exit 3 there), nothing switched", { timeout: 600_000 }, async () => {
  await appendFile(path.join(f.ws.app, "hello", "app.py"), "\n# b3\n");
  const b3 = (await buildWith(f.ws, "b3")).result.artifact;
  const code3 = (await readHead(b3)).manifest.layers.find((l) => l.name === "code")!;
  await pushS3({ cwd: f.ws.app, artifact: b3, to: `s3://${BUCKET}/${PREFIX}` });
  // Same size, other bytes: the deploy's own push sees it there and does not send it again.
  await s3().send(new PutObjectCommand({ Bucket: BUCKET, Key: key(code3.sha256).slice(BUCKET.length + 2), Body: Buffer.alloc(code3.size, 7) }));
  await assert.rejects(
    deploy({ cwd: f.ws.app, artifact: b3, target: "fleet" }),
    /refused .* from the S3 store \(presigned URL\): its bytes hash to sha256:[0-9a-f]{64}, not the digest/s,
  );
  for (const h of f.hosts) {
    assert.equal(await current(h), "releases/b2", `${h.name} still on b2`);
    assert.equal((await f.health(h))["build_id"], "b2");
    assert.equal((await h.exec(["sh", "-c", `ls ${f.ws.root}/releases`])).includes("b3"), false, `${h.name} has no b3 release`);
  }
});

test("s3 pull: a host that cannot reach the store is refused at preflight (exit 3, named, nothing changed); with fallback = push it gets the layers over ssh", {
  timeout: 600_000,
}, async () => {
  const [h1, h2] = f.hosts as [FleetApp["hosts"][number], FleetApp["hosts"][number]];
  await h2.exec(["ip", "route", "add", "prohibit", `${storeIp}/32`]);
  try {
    await appendFile(path.join(f.ws.app, "hello", "app.py"), "\n# b4\n");
    const b4 = (await buildWith(f.ws, "b4")).result.artifact;
    const err = await deploy({ cwd: f.ws.app, artifact: b4, target: "fleet" }).then(
      () => assert.fail("deployed with a host that cannot reach the store"),
      (e: { exitCode?: number; message: string }) => e,
    );
    assert.equal(err.exitCode, 3, err.message);
    assert.match(err.message, new RegExp(`${h2.dest.replaceAll(".", "\\.")}: cannot reach the S3 store http://${front.addr.replaceAll(".", "\\.")}`));
    assert.doesNotMatch(err.message, new RegExp(h1.dest.replaceAll(".", "\\.")));
    for (const h of f.hosts) {
      assert.equal(await current(h), "releases/b2");
      assert.deepEqual(await buildEntries(f, h, "b4"), [], `${h.name}: nothing of b4`);
    }

    const config = path.join(f.ws.app, "slipway.toml");
    await writeFile(config, (await readFile(config, "utf8")).replace(`s3 = "s3://${BUCKET}/${PREFIX}"`, `$&\nfallback = "push"`));
    const events: SlipwayEvent[] = [];
    const r = await deploy({ cwd: f.ws.app, artifact: b4, target: "fleet", emit: (e) => events.push(e) });
    assert.deepEqual(
      r.hosts.map((h) => h.result),
      ["ok", "ok"],
    );
    const byHost = new Map(r.hosts.map((h) => [h.host, h.bytes_sent]));
    const codeSize = (await readHead(b4)).manifest.layers[0]!.size;
    assert.ok(byHost.get(h2.dest)! >= codeSize, `${h2.dest} was sent the code layer (${byHost.get(h2.dest)} bytes)`);
    assert.ok(byHost.get(h1.dest)! < codeSize, `${h1.dest} pulled it (${byHost.get(h1.dest)} bytes sent)`);
    assert.ok(events.some((e) => e.type === "log" && e.level === "warn" && e.message.includes(h2.dest) && e.message.includes('fallback = "push"')));
    for (const h of f.hosts) assert.equal((await f.health(h))["build_id"], "b4");
  } finally {
    await h2.exec(["ip", "route", "del", "prohibit", `${storeIp}/32`]).catch(() => undefined);
  }
});
