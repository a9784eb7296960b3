/**
 * The dashboard's routes (mounted at / beside /api): pages for reading, forms for acting.
 * State changes only on POST, and every POST passes the Origin check first. The actions check
 * roles themselves; the pages check too, to show a viewer no buttons and answer 403 early.
 * No middleware here is registered on "*": once mounted it would run for /api as well.
 */
import { Hono, type Context } from "hono";
import { secureHeaders } from "hono/secure-headers";
import { isValidBuildId } from "../../config/patterns.js";
import type { ServerContext } from "../context.js";
import { attempt, authKeys, type FailureLimiter } from "../rate-limit.js";
import { badRequest, forbidden, notFound, ServeError } from "../errors.js";
import { FINISHED, type DeployRow, type Role } from "../model.js";
import { currentBuilds } from "./derive.js";
import { clearSessionCookie, currentViewer, requestIsSameOrigin, sessionId, setSessionCookie, type Viewer } from "./guard.js";
import type { Html } from "./html.js";
import { appsPage, type TargetCard } from "./pages/apps.js";
import { artifactsPage } from "./pages/artifacts.js";
import { confirmPage } from "./pages/confirm.js";
import { deployPage, liveFragment } from "./pages/deploy.js";
import { historyPage, type HistoryFilter } from "./pages/history.js";
import { errorPage, loginPage } from "./pages/simple.js";
import { APP_CSS, APP_JS } from "./static.js";

export interface WebOptions {
  /** Failed logins count per client address and per token tried (the API's keys: authKeys). */
  limiter?: Pick<FailureLimiter, "blockedFor" | "fail">;
  /** The client's address (the server's trust_proxy rule): the limiter's key, and the audit row of a login or logout. */
  clientIp?: (c: Context) => string;
  /** Where an unexpected failure's stack goes (the server's log); stderr without one. */
  log?: (line: string) => void;
}

const PATHS = ["/", "/login", "/logout", "/history", "/apps/*", "/deploys/*", "/static/*"];
/** How many finished deploys of a target are read to learn what each host runs. */
const CURRENT_DEPTH = 50;
const ROLES_FIELD = /^[a-z][a-z0-9_-]{0,31}(,[a-z][a-z0-9_-]{0,31})*$/;
const BATCH_FIELD = /^([0-9]{1,5}|[1-9][0-9]?%|100%)$/;

type Body = Record<string, string | File | (string | File)[]>;

export function webRoutes(ctx: ServerContext, opts: WebOptions = {}): Hono {
  const web = new Hono();
  const headers = secureHeaders({
    contentSecurityPolicy: {
      defaultSrc: ["'self'"],
      scriptSrc: ["'self'"],
      styleSrc: ["'self'"],
      imgSrc: ["'self'", "data:"],
      connectSrc: ["'self'"],
      formAction: ["'self'"],
      frameAncestors: ["'none'"],
      baseUri: ["'none'"],
      objectSrc: ["'none'"],
    },
    xFrameOptions: "DENY",
    // Same-origin requests keep their Referer: the CSRF check's fallback when Origin is absent.
    referrerPolicy: "same-origin",
  });
  for (const p of PATHS) web.use(p, headers);

  const send = (c: Context, body: Html, status = 200) => c.html(body, status as 200);
  const fail = (c: Context, v: Viewer | undefined, e: unknown) => {
    if (!(e instanceof ServeError)) throw e;
    return send(c, errorPage(v, e.status, e.message, e.hint), e.status);
  };

  /** A page for logged-in users; others go to the login form. */
  const get = (path: string, fn: (c: Context, v: Viewer) => Response | Promise<Response>) =>
    web.get(path, async (c) => {
      const v = currentViewer(ctx, c);
      if (!v) return c.redirect("/login", 303);
      try {
        return await fn(c, v);
      } catch (e) {
        return fail(c, v, e);
      }
    });

  /** A form action: same origin, logged in, then the handler with the form's string fields. */
  const post = (path: string, fn: (c: Context, v: Viewer, form: (name: string) => string | undefined) => Response | Promise<Response>) =>
    web.post(path, async (c) => {
      if (!requestIsSameOrigin(c)) return crossOrigin(c);
      const v = currentViewer(ctx, c);
      if (!v) return c.redirect("/login", 303);
      try {
        return await fn(c, v, fields(await c.req.parseBody()));
      } catch (e) {
        return fail(c, v, e);
      }
    });

  // Anything else thrown by a page or form of this sub-app: an HTML page, not the server's JSON.
  // Hono applies a sub-app's onError to its own routes only, so /api keeps its JSON errors.
  web.onError((err, c) => {
    if (err instanceof ServeError) return send(c, errorPage(undefined, err.status, err.message, err.hint), err.status);
    const log = opts.log ?? ((l: string) => process.stderr.write(`${l}\n`));
    log(`error ${c.req.method} ${new URL(c.req.url).pathname}: ${(err as Error).stack ?? err}`);
    let viewer: Viewer | undefined;
    try {
      viewer = currentViewer(ctx, c);
    } catch {}
    return send(c, errorPage(viewer, 500, "Something went wrong on the server", "try again; the server's log has the details"), 500);
  });

  const crossOrigin = (c: Context) =>
    send(c, errorPage(undefined, 403, "This form was not sent from a page of this server", "reload the dashboard and submit the form again"), 403);

  // ---- static files and login

  web.get("/static/app.js", (c) => c.body(APP_JS, 200, { "content-type": "text/javascript; charset=utf-8", "cache-control": "no-cache" }));
  web.get("/static/app.css", (c) => c.body(APP_CSS, 200, { "content-type": "text/css; charset=utf-8", "cache-control": "no-cache" }));

  web.get("/login", (c) => (currentViewer(ctx, c) ? c.redirect("/", 303) : send(c, loginPage())));
  web.post("/login", async (c) => {
    if (!requestIsSameOrigin(c)) return crossOrigin(c);
    const token = fields(await c.req.parseBody())("token");
    const ip = opts.clientIp?.(c) ?? "unknown";
    // The token itself is never a key, nor logged: its hash is (authKeys).
    const r = attempt(opts.limiter, authKeys(ip, token ?? ""), () => (token ? ctx.sessions.create(token, { ip }) : undefined));
    if ("blockedFor" in r) return send(c, loginPage(`Too many failed logins: try again in ${r.blockedFor} s.`), 429);
    if ("failed" in r) return send(c, loginPage("That token is not valid, or it was revoked."), 401);
    setSessionCookie(c, r.ok.id);
    return c.redirect("/", 303);
  });
  web.post("/logout", (c) => {
    if (!requestIsSameOrigin(c)) return crossOrigin(c);
    const id = sessionId(c);
    if (id) ctx.sessions.destroy(id, { ip: opts.clientIp?.(c) ?? "unknown" });
    clearSessionCookie(c);
    return c.redirect("/login", 303);
  });

  // ---- helpers over the reads

  const targetsOf = (app: string) => ctx.reads.apps().find((a) => a.name === app)?.targets;
  /** The app's targets the viewer sees; 404 for an app unknown or wholly hidden from them. */
  const visibleApp = (v: Viewer, app: string) => {
    const targets = targetsOf(app)?.filter((t) => v.role(app, t) !== undefined);
    if (!targets?.length) throw notFound(`app ${app}`, "the apps page lists the ones you may see");
    return targets;
  };
  const needTarget = (v: Viewer, app: string, target: string, role: Role) => {
    if (!targetsOf(app)?.includes(target) || v.role(app, target) === undefined) throw notFound(`target ${app}/${target}`);
    if (!v.can(app, target, role))
      throw forbidden(
        `${role === "admin" ? "This" : "Deploying, rolling back and locking"} needs the ${role} role on ${app}/${target}`,
        `ask an admin for a token with a ${role}:${app}/${target} grant`,
      );
  };
  const current = (app: string, target: string) =>
    currentBuilds(ctx.reads.history({ app, target, limit: CURRENT_DEPTH }).filter((r) => FINISHED.includes(r.state)));
  const visibleDeploy = (v: Viewer, id: string): DeployRow => {
    const row = /^[0-9]{1,15}$/.test(id) ? ctx.reads.deploy(Number(id)) : undefined;
    if (!row || v.role(row.app, row.target) === undefined) throw notFound(`deploy ${id}`);
    return row;
  };
  const targetUrl = (app: string, target: string) => `/#target-${encodeURIComponent(app)}-${encodeURIComponent(target)}`;

  // ---- pages

  get("/", (c, v) => {
    const apps = ctx.reads
      .apps()
      .map((a) => ({
        name: a.name,
        targets: a.targets
          .filter((t) => v.role(a.name, t) !== undefined)
          .map((t): TargetCard => ({ status: ctx.reads.status(a.name, t), current: current(a.name, t) })),
      }))
      .filter((a) => a.targets.length > 0);
    return send(c, appsPage(v, { apps }));
  });

  get("/apps/:app/artifacts", (c, v) => {
    const app = param(c, "app");
    const targets = visibleApp(v, app);
    const artifacts = [...ctx.reads.artifacts(app)].sort((a, b) => b.uploaded_at.localeCompare(a.uploaded_at));
    return send(c, artifactsPage(v, { app, artifacts, targets: targets.map((t) => ({ name: t, current: current(app, t) })) }));
  });

  get("/deploys/:id", (c, v) => {
    const row = visibleDeploy(v, param(c, "id"));
    return send(c, deployPage(v, { row, events: ctx.reads.events(row.id) }));
  });

  get("/deploys/:id/live", (c, v) => {
    const row = visibleDeploy(v, param(c, "id"));
    const after = Number(c.req.query("after") ?? 0);
    if (!Number.isSafeInteger(after) || after < 0) throw badRequest("after must be an event number");
    c.header("cache-control", "no-store");
    return send(c, liveFragment(v, { row, events: ctx.reads.events(row.id) }, after));
  });

  get("/history", (c, v) => {
    const q = (k: keyof HistoryFilter) => c.req.query(k)?.trim() || undefined;
    const filter: HistoryFilter = { app: q("app"), target: q("target"), user: q("user"), via: q("via"), state: q("state") };
    const rows = ctx.reads.history({ ...filter, limit: 200 }).filter((r) => v.role(r.app, r.target) !== undefined);
    const apps = ctx.reads
      .apps()
      .filter((a) => v.seesApp(a.name, a.targets))
      .map((a) => a.name);
    return send(c, historyPage(v, rows, filter, apps));
  });

  // ---- actions

  post("/apps/:app/targets/:target/deploys", (c, v, form) => {
    const app = param(c, "app");
    const target = param(c, "target");
    needTarget(v, app, target, "deployer");
    const build_id = form("build_id");
    if (!build_id || !isValidBuildId(build_id)) throw badRequest("build_id is missing or not a build id", "use the Deploy button of the artifacts page");
    const roles = form("roles");
    if (roles && !ROLES_FIELD.test(roles)) throw badRequest(`roles ${JSON.stringify(roles)}: give role names separated by commas`);
    const batch = form("batch");
    if (batch && !BATCH_FIELD.test(batch)) throw badRequest(`batch ${JSON.stringify(batch)}: give a number of hosts or a percentage`);
    if (form("confirmed") !== "1") {
      if (!ctx.reads.artifacts(app).some((a) => a.build_id === build_id)) throw notFound(`artifact ${app} ${build_id}`, "upload it with slipway push first");
      return send(c, confirmPage(v, { kind: "deploy", status: ctx.reads.status(app, target), build_id, roles, batch }));
    }
    const row = ctx.actions.deploy(v.actor, app, target, { build_id, roles, batch });
    return c.redirect(`/deploys/${row.id}`, 303);
  });

  post("/apps/:app/targets/:target/rollback", (c, v, form) => {
    const app = param(c, "app");
    const target = param(c, "target");
    needTarget(v, app, target, "deployer");
    const to = form("to");
    if (to && !isValidBuildId(to)) throw badRequest(`to ${JSON.stringify(to)} is not a build id`);
    if (form("confirmed") !== "1") return send(c, confirmPage(v, { kind: "rollback", status: ctx.reads.status(app, target), build_id: to }));
    const row = ctx.actions.rollback(v.actor, app, target, { to });
    return c.redirect(`/deploys/${row.id}`, 303);
  });

  post("/apps/:app/targets/:target/lock", (c, v, form) => {
    const app = param(c, "app");
    const target = param(c, "target");
    needTarget(v, app, target, "deployer");
    const reason = form("reason");
    if (!reason) throw badRequest("a lock needs a reason", "say why deploys should wait, e.g. 'db maintenance'");
    ctx.actions.lock(v.actor, app, target, reason);
    return c.redirect(targetUrl(app, target), 303);
  });

  post("/apps/:app/targets/:target/unlock", (c, v, form) => {
    const app = param(c, "app");
    const target = param(c, "target");
    needTarget(v, app, target, "deployer");
    ctx.actions.unlock(v.actor, app, target, form("reason"));
    return c.redirect(targetUrl(app, target), 303);
  });

  post("/deploys/:id/cancel", (c, v) => {
    const row = visibleDeploy(v, param(c, "id"));
    needTarget(v, row.app, row.target, "deployer");
    ctx.actions.cancel(v.actor, row.id);
    return c.redirect(`/deploys/${row.id}`, 303);
  });

  return web;
}

/** A path parameter of the route (always present: the router matched it). */
function param(c: Context, name: string): string {
  const v = c.req.param(name);
  if (v === undefined) throw notFound(c.req.path);
  return v;
}

/** A form's text fields, trimmed; empty, repeated or file fields count as absent. */
function fields(body: Body): (name: string) => string | undefined {
  return (name) => {
    const v = body[name];
    return typeof v === "string" && v.trim() !== "" ? v.trim() : undefined;
  };
}
