/**
 * `slipway push ARTIFACT --server URL`: upload an artifact to a deploy server (CI's step
 * between build and deploy). The token comes from the environment (SLIPWAY_TOKEN), never
 * from the command line, where `ps` would show it.
 */
import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import { request } from "node:http";
import { request as httpsRequest } from "node:https";
import { readHead } from "../artifact/read.js";
import { ArtifactError, SlipwayError, UsageError } from "../errors.js";
import type { Emit } from "../events.js";
import { sha256File } from "../util/hash.js";

export interface PushOptions {
  artifact: string;
  server: string;
  token?: string;
  emit?: Emit;
}

export interface PushResult {
  app: string;
  build_id: string;
  url: string;
  status: "stored" | "already stored";
  sha256?: string;
  size: number;
}

export class PushError extends SlipwayError {}

/** The server holds another artifact under this build id, or one it does not name (exit 3: the artifact is rejected). */
export class PushConflictError extends ArtifactError {}

export async function push(opts: PushOptions): Promise<PushResult> {
  let base: URL;
  try {
    base = new URL(opts.server);
  } catch {
    throw new UsageError(`--server ${JSON.stringify(opts.server)} is not a URL`, "e.g. --server https://deploy.internal:8780");
  }
  if (base.protocol !== "http:" && base.protocol !== "https:") throw new UsageError(`--server must be http:// or https://, not ${base.protocol}`);
  if (base.username || base.password) throw new UsageError("--server must not carry credentials", "put the token in SLIPWAY_TOKEN");
  if (!opts.token)
    throw new UsageError("no token: set SLIPWAY_TOKEN", "create one on the server: slipway serve token create --name ci --role deployer --app APP");
  const { manifest } = await readHead(opts.artifact);
  const size = (await stat(opts.artifact)).size;
  const url = new URL(`/api/apps/${encodeURIComponent(manifest.app)}/artifacts/${encodeURIComponent(manifest.build_id)}`, base);
  const { status, body } = await upload(url, opts.artifact, size, opts.token, (sent) =>
    opts.emit?.({ type: "progress", phase: "artifact", done: sent, total: size, unit: "bytes" }),
  );
  const json = parse(body);
  if (status === 201) return { app: manifest.app, build_id: manifest.build_id, url: url.toString(), status: "stored", sha256: json.sha256 as string, size };
  if (status === 409) {
    // "Already stored" only when it is this very file: a build id reused for other bytes must not pass silently.
    const ours = await sha256File(opts.artifact);
    const theirs = typeof json.sha256 === "string" ? json.sha256 : undefined;
    const what = `${manifest.app} ${manifest.build_id}`;
    if (theirs === ours) return { app: manifest.app, build_id: manifest.build_id, url: url.toString(), status: "already stored", sha256: ours, size };
    if (theirs === undefined)
      throw new PushConflictError(
        `the server already holds an artifact as ${what} and did not say which (no sha256 in its 409): cannot tell whether it is ${opts.artifact}`,
        "upgrade the server, or build again with a new --build-id",
      );
    throw new PushConflictError(
      `the server already holds a different artifact as ${what}: sha256 ${theirs} there, ${ours} in ${opts.artifact}`,
      "a build id names one artifact: build again with a new --build-id",
    );
  }
  throw new PushError(`the server refused the upload (${status}): ${(json.error as string) ?? body.slice(0, 300)}`, json.hint as string | undefined);
}

function parse(body: string): Record<string, unknown> {
  try {
    return JSON.parse(body) as Record<string, unknown>;
  } catch {
    return {};
  }
}

function upload(url: URL, file: string, size: number, token: string, progress: (sent: number) => void): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = (url.protocol === "https:" ? httpsRequest : request)(url, {
      method: "PUT",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/x-tar", "content-length": String(size) },
    });
    req.on("error", (err) => reject(new PushError(`cannot reach ${url.origin}: ${err.message}`, "check --server and that `slipway serve` runs there")));
    req.on("response", (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (d) => (body += d));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    let sent = 0;
    const src = createReadStream(file);
    src.on("data", (chunk) => {
      sent += chunk.length;
      progress(sent);
    });
    src.on("error", reject);
    src.pipe(req);
  });
}
