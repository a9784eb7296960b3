/**
 * The JSON API under /api: artifacts, deploys (with their events as Server-Sent Events),
 * rollbacks, locks and live releases. Callers authenticate with `Authorization: Bearer TOKEN`
 * (a dashboard session cookie also works for GET, so the live page can follow a deploy).
 */
import { Readable } from "node:stream";
import type { ReadableStream as WebReadableStream } from "node:stream/web";
import { Hono, type Context } from "hono";
import { getCookie } from "hono/cookie";
import { streamSSE } from "hono/streaming";
import type { HttpBindings } from "@hono/node-server";
import { RESPONSE_ALREADY_SENT } from "@hono/node-server/utils/response";
import { nodeSink, streamDeployEvents } from "./sse.js";
import type * as z from "zod";
import { releases } from "../../index.js";
import type { Core, Caller } from "../core.js";
import { ServeError } from "../errors.js";
import { roleAtLeast, type Grant } from "../model.js";
import { roleFor } from "../tokens.js";
import type { ArtifactStore } from "../artifact-store.js";
import { attempt, authKeys, type FailureLimiter } from "../rate-limit.js";
import type { ServerAuth, ServerSessions } from "../context.js";
import { appName, buildId, deployBody, historyQuery, lockBody, rollbackBody, targetName, unlockBody } from "./schemas.js";
import { openApiDocument } from "./openapi.js";

export const SESSION_COOKIE = "slipway_session";

export interface ApiDeps {
  core: Core;
  artifacts: ArtifactStore;
  auth: ServerAuth;
  sessions: ServerSessions;
  limiter: FailureLimiter;
  maxUpload: number;
  clientIp: (c: Context) => string;
}

type Env = { Variables: { caller: Caller } };

export function apiRoutes(d: ApiDeps): Hono<Env> {
  const api = new Hono<Env>();

  api.get("/openapi.json", (c) => c.json(openApiDocument()));

  // Every other route needs a caller.
  api.use("*", async (c, next) => {
    const header = c.req.header("authorization");
    const ip = d.clientIp(c);
    if (header !== undefined) {
      const m = /^Bearer ([^\s]+)$/.exec(header);
      const token = m?.[1] ?? "";
      const r = attempt(d.limiter, authKeys(ip, token), () => (m ? d.auth.byToken(token) : undefined));
      if ("blockedFor" in r) throw new ServeError(429, "too many failed authentications", `wait ${r.blockedFor} s`);
      if ("failed" in r) {
        throw new ServeError(
          401,
          m ? "unknown or revoked token" : "the Authorization header must be `Bearer TOKEN`",
          "create a token: slipway serve token create",
        );
      }
      c.set("caller", r.ok);
      return next();
    }
    const session = getCookie(c, SESSION_COOKIE);
    if (session && c.req.method === "GET") {
      const who = d.sessions.get(session);
      if (who) {
        c.set("caller", who);
        return next();
      }
    }
    throw new ServeError(401, "authentication required", "send Authorization: Bearer TOKEN");
  });

  const needApp = (c: Context<Env>, app: string, need: "viewer" | "deployer") => {
    d.core.configFile(app);
    const { grants } = c.get("caller");
    if (!anyTargetRole(grants, app, need)) throw new ServeError(403, `${c.get("caller").actor.user} has no ${need} grant on app ${app}`);
  };

  api.get("/apps", (c) => {
    const { grants } = c.get("caller");
    const apps = d.core
      .appNames()
      .filter((a) => anyTargetRole(grants, a, "viewer"))
      .map((a) => {
        let targets: string[] = [];
        try {
          targets = Object.keys(d.core.appConfig(a).targets).filter((t) => roleFor(grants, a, t));
        } catch {}
        return { name: a, targets };
      });
    return c.json({ apps });
  });

  api.get("/apps/:app/artifacts", (c) => {
    const app = param(c, "app", appName);
    needApp(c, app, "viewer");
    return c.json({ artifacts: d.core.reads.artifacts(app) });
  });

  api.put("/apps/:app/artifacts/:build_id", async (c) => {
    const app = param(c, "app", appName);
    const build = param(c, "build_id", buildId);
    needApp(c, app, "deployer");
    const length = Number(c.req.header("content-length") ?? Number.NaN);
    if (length > d.maxUpload) throw new ServeError(413, `the upload is ${length} bytes, the server's limit is ${d.maxUpload}`, "raise [server] max_upload");
    const body = c.req.raw.body;
    if (!body) throw new ServeError(422, "the upload is empty", "send the artifact's bytes as the request body (slipway push)");
    const row = await d.artifacts.receive(
      app,
      d.core.configFile(app),
      build,
      Readable.fromWeb(body as unknown as WebReadableStream<Uint8Array>),
      d.maxUpload,
      c.get("caller").actor.user,
    );
    d.core.audit(c.get("caller").actor, "upload", { app }, { build_id: build, sha256: row.sha256, size: row.size }, "stored");
    return c.json(row, 201);
  });

  api.get("/apps/:app/targets/:target", (c) => {
    const { app, target } = appTarget(c);
    requireRole(c, app, target, "viewer");
    return c.json(d.core.status(app, target));
  });

  api.post("/apps/:app/targets/:target/deploys", async (c) => {
    const { app, target } = appTarget(c);
    requireRole(c, app, target, "deployer");
    const body = await json(c, deployBody);
    return c.json(d.core.deploy(withVia(c), app, target, body), 202);
  });

  api.post("/apps/:app/targets/:target/rollback", async (c) => {
    const { app, target } = appTarget(c);
    requireRole(c, app, target, "deployer");
    const body = await json(c, rollbackBody, true);
    return c.json(d.core.rollback(withVia(c), app, target, body), 202);
  });

  api.post("/apps/:app/targets/:target/lock", async (c) => {
    const { app, target } = appTarget(c);
    requireRole(c, app, target, "deployer");
    const body = await json(c, lockBody);
    return c.json(d.core.lock(withVia(c), app, target, body.reason), 201);
  });

  api.delete("/apps/:app/targets/:target/lock", async (c) => {
    const { app, target } = appTarget(c);
    requireRole(c, app, target, "deployer");
    const body = await json(c, unlockBody, true);
    d.core.unlock(withVia(c), app, target, body.reason);
    return c.body(null, 204);
  });

  api.get("/apps/:app/targets/:target/releases", async (c) => {
    const { app, target } = appTarget(c);
    requireRole(c, app, target, "viewer");
    const file = d.core.configFile(app);
    const r = await releases({ cwd: file.replace(/\/[^/]*$/, ""), configPath: file, target, transport: d.core.transport });
    return c.json(r);
  });

  api.get("/history", (c) => {
    const q = historyQuery.safeParse(c.req.query());
    if (!q.success) throw invalid("query", q.error);
    const { grants } = c.get("caller");
    const rows = d.core.reads.history(q.data).filter((r) => roleFor(grants, r.app, r.target));
    return c.json({ deploys: rows });
  });

  const visibleDeploy = (c: Context<Env>) => {
    const id = Number(c.req.param("id"));
    const row = Number.isSafeInteger(id) && id > 0 ? d.core.reads.deploy(id) : undefined;
    if (!row || !roleFor(c.get("caller").grants, row.app, row.target)) throw new ServeError(404, `deploy ${c.req.param("id")} not found`);
    return row;
  };

  api.get("/deploys/:id", (c) => c.json(visibleDeploy(c)));

  api.post("/deploys/:id/cancel", (c) => {
    const row = visibleDeploy(c);
    return c.json(d.core.cancel(withVia(c), row.id));
  });

  api.get("/deploys/:id/events", async (c) => {
    const row = visibleDeploy(c);
    const from = Number(c.req.header("last-event-id") ?? c.req.query("after") ?? 0);
    const after = Number.isSafeInteger(from) && from > 0 ? from : 0;
    const res = (c.env as HttpBindings | undefined)?.outgoing;
    if (res) {
      // On Node: frames straight to the socket (no web-stream hop per write and per viewer).
      const sink = nodeSink(res);
      try {
        await streamDeployEvents(d.core, row.id, after, sink);
      } finally {
        res.end();
      }
      return RESPONSE_ALREADY_SENT;
    }
    return streamSSE(c, async (stream) => {
      const abort = new AbortController();
      stream.onAbort(() => abort.abort());
      await streamDeployEvents(d.core, row.id, after, { signal: abort.signal, write: (text) => stream.write(text).then(() => {}) });
    });
  });

  return api;

  function appTarget(c: Context<Env>) {
    return { app: param(c, "app", appName), target: param(c, "target", targetName) };
  }

  function requireRole(c: Context<Env>, app: string, target: string, need: "viewer" | "deployer") {
    d.core.require(c.get("caller"), app, target, need);
  }

  function withVia(c: Context<Env>): Caller {
    const caller = c.get("caller");
    return { ...caller, actor: { ...caller.actor, via: "api" } };
  }
}

function anyTargetRole(grants: readonly Grant[], app: string, need: "viewer" | "deployer"): boolean {
  return grants.some((g) => (g.app === "*" || g.app === app) && roleAtLeast(g.role, need));
}

function param<T extends z.ZodType<string>>(c: Context, name: string, schema: T): string {
  const raw = c.req.param(name) ?? "";
  const r = schema.safeParse(raw);
  if (!r.success) throw new ServeError(400, `${name} ${JSON.stringify(raw.slice(0, 80))}: ${r.error.issues[0]?.message ?? "invalid"}`);
  return r.data;
}

async function json<T extends z.ZodType>(c: Context, schema: T, emptyOk = false): Promise<z.infer<T>> {
  const text = await c.req.text();
  if (text.length > 64 * 1024) throw new ServeError(413, "the request body is larger than 64 KiB");
  let value: unknown = {};
  if (text.trim() || !emptyOk) {
    try {
      value = JSON.parse(text);
    } catch (err) {
      throw new ServeError(400, `the request body is not valid JSON: ${(err as Error).message}`, "send Content-Type: application/json with a JSON object");
    }
  }
  const r = schema.safeParse(value);
  if (!r.success) throw invalid("body", r.error);
  return r.data;
}

function invalid(where: string, error: z.ZodError): ServeError {
  const first = error.issues[0];
  const at = first?.path.length ? `${where}.${first.path.join(".")}` : where;
  return new ServeError(400, `${at}: ${first?.message ?? "invalid"}`, error.issues.length > 1 ? `and ${error.issues.length - 1} more problem(s)` : undefined);
}
