/**
 * Who is asking and may they: the session cookie, the Origin check on every POST (CSRF), and
 * the role a viewer has on an app and target.
 */
import type { Context } from "hono";
import { deleteCookie, getCookie, setCookie } from "hono/cookie";
import type { ServerContext } from "../context.js";
import { roleAtLeast, type Actor, type Grant, type Role } from "../model.js";

export const SESSION_COOKIE = "slipway_session";

/** A logged-in dashboard user. */
export interface Viewer {
  actor: Actor;
  grants: readonly Grant[];
  role(app: string, target: string): Role | undefined;
  can(app: string, target: string, need: Role): boolean;
  /** Whether any target of the app is visible (any role there). */
  seesApp(app: string, targets: readonly string[]): boolean;
}

export function viewerOf(ctx: ServerContext, session: { actor: Actor; grants: readonly Grant[] }): Viewer {
  // Whatever the session recorded, a request through these pages is a dashboard request.
  const actor: Actor = { ...session.actor, via: "dashboard" };
  const role = (app: string, target: string) => ctx.auth.roleFor(session.grants, app, target);
  return {
    actor,
    grants: session.grants,
    role,
    can: (app, target, need) => {
      const r = role(app, target);
      return r !== undefined && roleAtLeast(r, need);
    },
    seesApp: (app, targets) => targets.some((t) => role(app, t) !== undefined),
  };
}

/** The session's viewer, or undefined without a valid session cookie. */
export function currentViewer(ctx: ServerContext, c: Context): Viewer | undefined {
  const id = getCookie(c, SESSION_COOKIE);
  if (!id) return undefined;
  const session = ctx.sessions.get(id);
  return session ? viewerOf(ctx, session) : undefined;
}

export function sessionId(c: Context): string | undefined {
  return getCookie(c, SESSION_COOKIE);
}

/** The request came over https (directly, or as a TLS-terminating proxy says). */
export function isHttps(c: Context): boolean {
  return new URL(c.req.url).protocol === "https:" || c.req.header("x-forwarded-proto")?.split(",")[0]?.trim() === "https";
}

export function setSessionCookie(c: Context, id: string): void {
  setCookie(c, SESSION_COOKIE, id, { httpOnly: true, sameSite: "Lax", path: "/", secure: isHttps(c) });
}

export function clearSessionCookie(c: Context): void {
  deleteCookie(c, SESSION_COOKIE, { path: "/", secure: isHttps(c) });
}

/**
 * CSRF: a state-changing request must come from a page of this server. The browser's Origin
 * (or, when a browser sends none, the Referer's origin) must name the host the request was sent
 * to. Hosts are compared, not schemes: behind a TLS-terminating proxy the request arrives as
 * http while the page was https. Neither header present, or "null" (an opaque origin): refused.
 * Hono's csrf() middleware does not fall back to Referer and skips non-form bodies, hence this.
 */
export function sameOrigin(headers: { origin?: string; referer?: string; host?: string }, requestUrl: string): boolean {
  const expected = hostKey(headers.host ?? new URL(requestUrl).host);
  const from = headers.origin !== undefined ? headers.origin : headers.referer;
  if (from === undefined || from === "" || from === "null") return false;
  let url: URL;
  try {
    url = new URL(from);
  } catch {
    return false;
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") return false;
  return hostKey(url.host) === expected;
}

/** host[:port] without a default port: "Example.com:443" and "example.com" are one host. */
function hostKey(host: string): string {
  return host.toLowerCase().replace(/:(80|443)$/, "");
}

export function requestIsSameOrigin(c: Context): boolean {
  return sameOrigin({ origin: c.req.header("origin"), referer: c.req.header("referer"), host: c.req.header("host") }, c.req.url);
}
