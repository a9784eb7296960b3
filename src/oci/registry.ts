/**
 * A client of the OCI distribution API (v2) for pushing one image: HEAD each blob and skip it
 * when the registry has it, else upload it (monolithic, or chunked PATCHes above a threshold),
 * then PUT the manifest under a tag; and GET a manifest or blob (a base image, oci/base.ts).
 * Auth follows the registry's 401 challenge: Basic, or a Bearer token fetched from the realm it
 * names (cached per scope). Credentials and tokens go only into Authorization headers: never
 * into URLs, errors or events.
 */
import { createHash } from "node:crypto";
import { createWriteStream, readFileSync } from "node:fs";
import { open, rm } from "node:fs/promises";
import { Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { homedir } from "node:os";
import path from "node:path";
import { SlipwayError } from "../errors.js";

export interface Credentials {
  user: string;
  password: string;
}

export type RegistryStep =
  | "check blob"
  | "start upload"
  | "upload chunk"
  | "finish upload"
  | "put manifest"
  | "get manifest"
  | "get blob"
  | "get token"
  | "connect";

/** A registry refused or failed a step of a push. */
export class RegistryError extends SlipwayError {
  constructor(
    readonly registry: string,
    readonly step: RegistryStep,
    readonly status: number | undefined,
    detail: string,
    hint?: string,
  ) {
    super(`registry ${registry}: ${step} failed${status ? ` (HTTP ${status})` : ""}: ${detail}`, hint);
  }
}

const AUTH_HINT = "give credentials in SLIPWAY_REGISTRY_USER and SLIPWAY_REGISTRY_PASSWORD, or log in with `docker login HOST:PORT` (~/.docker/config.json)";

/**
 * Credentials for a registry host ("host:port"): SLIPWAY_REGISTRY_USER / SLIPWAY_REGISTRY_PASSWORD,
 * else `auths[host].auth` (base64 "user:pass") in $DOCKER_CONFIG/config.json or ~/.docker/config.json.
 */
export function registryCredentials(host: string, env: NodeJS.ProcessEnv = process.env): Credentials | undefined {
  const user = env["SLIPWAY_REGISTRY_USER"];
  const password = env["SLIPWAY_REGISTRY_PASSWORD"];
  if (user !== undefined && password !== undefined) return { user, password };
  const dir = env["DOCKER_CONFIG"] ?? path.join(env["HOME"] ?? homedir(), ".docker");
  let auths: Record<string, { auth?: string }>;
  try {
    auths = (JSON.parse(readFileSync(path.join(dir, "config.json"), "utf8")) as { auths?: typeof auths }).auths ?? {};
  } catch {
    return undefined;
  }
  // Keys are "host:port" or a URL ("https://host:port/v1/") depending on the tool that wrote them.
  const entry = Object.entries(auths).find(([k]) => k === host || hostOf(k) === host)?.[1];
  if (!entry?.auth) return undefined;
  const decoded = Buffer.from(entry.auth, "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  if (colon < 0) return undefined;
  return { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

function hostOf(key: string): string | undefined {
  try {
    return new URL(key).host;
  } catch {
    return undefined;
  }
}

/** `Basic realm="x"` or `Bearer realm="…",service="…",scope="…"`. */
export function parseChallenge(header: string): { scheme: string; params: Record<string, string> } {
  const m = /^\s*(\S+)\s*(.*)$/s.exec(header);
  const params: Record<string, string> = {};
  for (const p of (m?.[2] ?? "").matchAll(/([a-zA-Z_]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))/g)) {
    params[p[1]!.toLowerCase()] = p[2] !== undefined ? p[2].replace(/\\(.)/g, "$1") : (p[3] ?? "");
  }
  return { scheme: (m?.[1] ?? "").toLowerCase(), params };
}

export interface RegistryClientOptions {
  /** http(s)://host:port of the registry. */
  base: URL;
  /** The repository, e.g. "team/ledger". */
  repo: string;
  credentials?: Credentials;
  /** Blobs above this size go up in PATCH chunks of this size (default 32 MiB). */
  chunkSize?: number;
}

interface Req {
  method: string;
  url: URL;
  step: RegistryStep;
  headers?: Record<string, string>;
  body?: Buffer;
}

export class RegistryClient {
  readonly base: URL;
  readonly repo: string;
  readonly chunkSize: number;
  readonly #credentials: Credentials | undefined;
  /** The Authorization header that last worked (a Bearer token's covers every later step of a push). */
  #auth: string | undefined;
  readonly #tokens = new Map<string, { header: string; until: number }>();

  constructor(opts: RegistryClientOptions) {
    this.base = opts.base;
    this.repo = opts.repo;
    this.chunkSize = opts.chunkSize ?? 32 * 1024 * 1024;
    this.#credentials = opts.credentials;
  }

  get registry(): string {
    return this.base.host;
  }

  /**
   * The Authorization header that last worked (after a request the registry challenged), for
   * handing a pull to someone else (a host in pull mode: deploy/fetch.ts); none for an open registry.
   */
  get authorization(): string | undefined {
    return this.#auth;
  }

  /** GET /v2/: is an OCI distribution registry there (before any work)? 401 is an answer too: auth comes later. */
  async ping(): Promise<void> {
    const res = await this.#fetch({ method: "GET", url: new URL("/v2/", this.base), step: "connect" }, undefined);
    await drain(res);
    if (res.status !== 200 && res.status !== 401)
      throw new RegistryError(
        this.registry,
        "connect",
        res.status,
        `GET ${new URL("/v2/", this.base).href} did not answer as a registry`,
        "is this an OCI distribution registry?",
      );
  }

  async hasBlob(digest: string): Promise<boolean> {
    const res = await this.#send({ method: "HEAD", url: this.#url(`blobs/${digest}`), step: "check blob" });
    if (res.status === 200) return true;
    if (res.status === 404) return false;
    throw await this.#fail("check blob", res, `HEAD ${digest}`);
  }

  /** Upload a blob from `file` (its whole content is the blob); `progress` gets the bytes sent so far. */
  async uploadBlob(digest: string, size: number, file: string, progress: (sent: number) => void = () => {}): Promise<void> {
    const start = await this.#send({ method: "POST", url: this.#url("blobs/uploads/"), step: "start upload", headers: { "content-length": "0" } });
    if (start.status !== 202) throw await this.#fail("start upload", start, `POST blobs/uploads/ for ${digest}`);
    await drain(start);
    let location = this.#location(start, "start upload");
    const fh = await open(file, "r");
    try {
      const read = async (offset: number, length: number) => {
        const buf = Buffer.alloc(length);
        const { bytesRead } = await fh.read(buf, 0, length, offset);
        if (bytesRead !== length)
          throw new RegistryError(this.registry, "upload chunk", undefined, `${file} is shorter than its descriptor says (${size} bytes)`);
        return buf;
      };
      let sent = 0;
      if (size > this.chunkSize) {
        // Chunked: each PATCH carries Content-Range and the registry answers with the next Location.
        while (sent < size) {
          const n = Math.min(this.chunkSize, size - sent);
          const res = await this.#send({
            method: "PATCH",
            url: location,
            step: "upload chunk",
            headers: { "content-type": "application/octet-stream", "content-length": String(n), "content-range": `${sent}-${sent + n - 1}` },
            body: await read(sent, n),
          });
          if (res.status !== 202) throw await this.#fail("upload chunk", res, `PATCH ${digest} bytes ${sent}-${sent + n - 1}`);
          await drain(res);
          location = this.#location(res, "upload chunk");
          sent += n;
          progress(sent);
        }
        const done = await this.#send({ method: "PUT", url: withDigest(location, digest), step: "finish upload", headers: { "content-length": "0" } });
        if (done.status !== 201) throw await this.#fail("finish upload", done, `PUT ${digest}`);
        await drain(done);
        return;
      }
      const body = await read(0, size);
      const res = await this.#send({
        method: "PUT",
        url: withDigest(location, digest),
        step: "finish upload",
        headers: { "content-type": "application/octet-stream", "content-length": String(size) },
        body,
      });
      if (res.status !== 201) throw await this.#fail("finish upload", res, `PUT ${digest}`);
      await drain(res);
      progress(size);
    } finally {
      await fh.close();
    }
  }

  /** PUT the manifest under `tag`; returns the digest the registry reports (Docker-Content-Digest). */
  async putManifest(tag: string, mediaType: string, bytes: Buffer): Promise<string | undefined> {
    const res = await this.#send({
      method: "PUT",
      url: this.#url(`manifests/${encodeURIComponent(tag)}`),
      step: "put manifest",
      headers: { "content-type": mediaType, "content-length": String(bytes.length) },
      body: bytes,
    });
    if (res.status !== 201) throw await this.#fail("put manifest", res, `PUT manifests/${tag}`);
    await drain(res);
    return res.headers.get("docker-content-digest") ?? undefined;
  }

  /**
   * GET a manifest or index by tag or digest, `accept` the media types wanted; undefined when
   * the registry has no such repository or reference (404). A digest reference is checked.
   */
  async getManifest(reference: string, accept: readonly string[]): Promise<{ bytes: Buffer; mediaType: string; digest: string } | undefined> {
    const url = this.#url(`manifests/${encodeURIComponent(reference)}`);
    const res = await this.#send({ method: "GET", url, step: "get manifest", headers: { accept: accept.join(", ") } });
    if (res.status === 404) {
      await drain(res);
      return undefined;
    }
    if (res.status !== 200) throw await this.#fail("get manifest", res, `GET manifests/${reference}`);
    const bytes = Buffer.from(await res.arrayBuffer());
    const digest = `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
    if (reference.startsWith("sha256:") && reference !== digest)
      throw new RegistryError(this.registry, "get manifest", 200, `manifests/${reference} came back with digest ${digest}`);
    const mediaType = (res.headers.get("content-type") ?? "").split(";")[0]!.trim();
    return { bytes, mediaType, digest };
  }

  /** GET a blob into `file`, checking its size and digest while it streams (a wrong one is an error, and `file` is removed). */
  async getBlob(digest: string, size: number, file: string): Promise<void> {
    const res = await this.#send({ method: "GET", url: this.#url(`blobs/${digest}`), step: "get blob" });
    if (res.status !== 200 || !res.body) throw await this.#fail("get blob", res, `GET blobs/${digest}`);
    const hash = createHash("sha256");
    const registry = this.registry;
    let got = 0;
    const check = new Transform({
      transform(chunk: Buffer, _enc, done) {
        got += chunk.length;
        if (got > size) return done(new RegistryError(registry, "get blob", 200, `blob ${digest} is longer than its descriptor's ${size} bytes`));
        hash.update(chunk);
        done(null, chunk);
      },
    });
    try {
      await pipeline(Readable.fromWeb(res.body as import("node:stream/web").ReadableStream), check, createWriteStream(file, { mode: 0o644 }));
      const actual = `sha256:${hash.digest("hex")}`;
      if (got !== size || actual !== digest)
        throw new RegistryError(
          this.registry,
          "get blob",
          200,
          `blob ${digest} arrived as ${got} bytes with digest ${actual}`,
          "the registry or a proxy serves wrong content",
        );
    } catch (err) {
      await rm(file, { force: true });
      throw err;
    }
  }

  #url(rest: string): URL {
    return new URL(`/v2/${this.repo}/${rest}`, this.base);
  }

  #location(res: Response, step: RegistryStep): URL {
    const loc = res.headers.get("location");
    if (!loc) throw new RegistryError(this.registry, step, res.status, "the response has no Location header", "is this an OCI distribution registry?");
    return new URL(loc, this.base);
  }

  /** One request; on 401, answer the challenge once and retry. */
  async #send(req: Req): Promise<Response> {
    const first = await this.#fetch(req, this.#auth);
    if (first.status !== 401) return first;
    await drain(first);
    const challenge = first.headers.get("www-authenticate");
    if (!challenge) throw new RegistryError(this.registry, req.step, 401, "unauthorized, and the registry names no way to log in", AUTH_HINT);
    const auth = await this.#answer(parseChallenge(challenge), req.step);
    const second = await this.#fetch(req, auth);
    if (second.status === 401 || second.status === 403) {
      await drain(second);
      throw new RegistryError(
        this.registry,
        req.step,
        second.status,
        this.#credentials ? `the credentials for user ${JSON.stringify(this.#credentials.user)} were refused` : "anonymous access was refused",
        AUTH_HINT,
      );
    }
    this.#auth = auth;
    return second;
  }

  async #answer(ch: { scheme: string; params: Record<string, string> }, step: RegistryStep): Promise<string> {
    if (ch.scheme === "basic") {
      if (!this.#credentials)
        throw new RegistryError(this.registry, step, 401, "the registry asks for a user and password (Basic auth) and none were given", AUTH_HINT);
      return basic(this.#credentials);
    }
    if (ch.scheme === "bearer") return this.#token(ch.params, step);
    throw new RegistryError(this.registry, step, 401, `unsupported auth scheme ${JSON.stringify(ch.scheme)}`, "slipway speaks Basic and Bearer token auth");
  }

  async #token(params: Record<string, string>, step: RegistryStep): Promise<string> {
    const scope = params["scope"] ?? "";
    const cached = this.#tokens.get(scope);
    if (cached && cached.until > Date.now()) return cached.header;
    if (!params["realm"]) throw new RegistryError(this.registry, step, 401, "a Bearer challenge without a realm", "check the registry's auth settings");
    let realm: URL;
    try {
      realm = new URL(params["realm"]);
    } catch {
      throw new RegistryError(this.registry, "get token", undefined, `the token realm ${JSON.stringify(params["realm"])} is not a URL`);
    }
    if (params["service"]) realm.searchParams.set("service", params["service"]);
    if (scope) realm.searchParams.set("scope", scope);
    let res: Response;
    try {
      res = await fetch(realm, { headers: this.#credentials ? { authorization: basic(this.#credentials) } : {} });
    } catch (err) {
      throw new RegistryError(this.registry, "get token", undefined, `cannot reach the token server ${realm.origin}: ${(err as Error).message}`);
    }
    // The token server's body may echo what it got: report its status only.
    if (res.status !== 200) {
      await drain(res);
      throw new RegistryError(
        this.registry,
        "get token",
        res.status,
        `the token server ${realm.origin} refused${this.#credentials ? ` user ${JSON.stringify(this.#credentials.user)}` : " an anonymous request"} for scope ${JSON.stringify(scope)}`,
        AUTH_HINT,
      );
    }
    const body = (await res.json().catch(() => ({}))) as { token?: string; access_token?: string; expires_in?: number };
    const token = body.token ?? body.access_token;
    if (!token) throw new RegistryError(this.registry, "get token", 200, `the token server ${realm.origin} answered without a token`);
    // Default lifetime 60 s (the distribution token spec); renew 10 s early.
    const life = (typeof body.expires_in === "number" && body.expires_in > 0 ? body.expires_in : 60) * 1000;
    const header = `Bearer ${token}`;
    this.#tokens.set(scope, { header, until: Date.now() + Math.max(0, life - 10_000) });
    return header;
  }

  async #fetch(req: Req, auth: string | undefined): Promise<Response> {
    try {
      return await fetch(req.url, {
        method: req.method,
        headers: { ...req.headers, ...(auth ? { authorization: auth } : {}) },
        body: req.body,
        redirect: "follow",
      });
    } catch (err) {
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      throw new RegistryError(
        this.registry,
        req.step,
        undefined,
        `cannot reach ${req.url.origin}: ${cause?.code ?? cause?.message ?? (err as Error).message}`,
        cause?.message === "bad port"
          ? "Node's fetch refuses this port (the fetch standard's blocked ports): run the registry on another port"
          : "check the host and port, and oci:// (https) against oci+http:// (plain http)",
      );
    }
  }

  /** An error from a response: the registry's error codes and messages (never the request's headers). */
  async #fail(step: RegistryStep, res: Response, what: string): Promise<RegistryError> {
    let detail = "";
    try {
      const text = await res.text();
      const body = JSON.parse(text) as { errors?: { code?: string; message?: string }[] };
      detail = (body.errors ?? []).map((e) => [e.code, e.message].filter(Boolean).join(": ")).join("; ");
    } catch {
      // not a JSON error body: the status says it
    }
    return new RegistryError(this.registry, step, res.status, `${what}${detail ? `: ${detail}` : ""}`, hintFor(res.status));
  }
}

function hintFor(status: number): string | undefined {
  if (status === 403) return `the credentials may lack push rights on this repository; ${AUTH_HINT}`;
  if (status === 404) return "check the repository name in --to";
  if (status === 413) return "the registry (or a proxy in front of it) limits the body size: check its limits";
  if (status >= 500) return "the registry failed: check its log and storage";
  return undefined;
}

function basic(c: Credentials): string {
  return `Basic ${Buffer.from(`${c.user}:${c.password}`).toString("base64")}`;
}

function withDigest(location: URL, digest: string): URL {
  const u = new URL(location);
  u.searchParams.set("digest", digest);
  return u;
}

/** Read a response's body to its end, so its connection goes back to the pool. */
async function drain(res: Response): Promise<void> {
  await res.arrayBuffer().catch(() => {});
}
