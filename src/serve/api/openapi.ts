/**
 * /api/openapi.json, generated from the zod schemas that validate the requests (schemas.ts):
 * one route table, so the document lists exactly what the server checks.
 */
import * as z from "zod";
import { VERSION } from "../../version.js";
import { artifactConflictBody, artifactRow, deployBody, deployRow, errorBody, lockBody, rollbackBody, unlockBody } from "./schemas.js";

interface Route {
  method: "get" | "put" | "post" | "delete";
  path: string;
  summary: string;
  role: "viewer" | "deployer" | "admin" | "none";
  body?: z.ZodType;
  bodyType?: string;
  ok: { status: number; schema?: z.ZodType; type?: string; description: string };
  /** Failures whose body has more than errorBody's fields. */
  errors?: { status: number; schema: z.ZodType; description: string }[];
  query?: string[];
}

const list = (key: string, item: z.ZodType) => z.object({ [key]: z.array(item) });

export const ROUTES: readonly Route[] = [
  { method: "get", path: "/api/openapi.json", summary: "This document", role: "none", ok: { status: 200, description: "OpenAPI 3.1" } },
  { method: "get", path: "/api/apps", summary: "Apps and targets the caller can see", role: "viewer", ok: { status: 200, description: "apps" } },
  {
    method: "get",
    path: "/api/apps/{app}/artifacts",
    summary: "Artifacts stored for an app, newest first",
    role: "viewer",
    ok: { status: 200, schema: list("artifacts", artifactRow), description: "artifacts" },
  },
  {
    method: "put",
    path: "/api/apps/{app}/artifacts/{build_id}",
    summary: "Upload an artifact: verified as deploy verifies (hashes, entries, signature against trusted_keys); 422 names the problem",
    role: "deployer",
    bodyType: "application/x-tar",
    ok: { status: 201, schema: artifactRow, description: "stored" },
    errors: [{ status: 409, schema: artifactConflictBody, description: "the build id is taken: the body names the stored artifact's sha256" }],
  },
  {
    method: "get",
    path: "/api/apps/{app}/targets/{target}",
    summary: "A target's roles, lock, running deploy, queue and last deploy",
    role: "viewer",
    ok: { status: 200, description: "status" },
  },
  {
    method: "post",
    path: "/api/apps/{app}/targets/{target}/deploys",
    summary: "Queue a deploy (FIFO per target; runs when the target is free and unlocked)",
    role: "deployer",
    body: deployBody,
    ok: { status: 202, schema: deployRow, description: "queued" },
  },
  {
    method: "post",
    path: "/api/apps/{app}/targets/{target}/rollback",
    summary: "Queue a rollback to the previous release or to `to`",
    role: "deployer",
    body: rollbackBody,
    ok: { status: 202, schema: deployRow, description: "queued" },
  },
  {
    method: "post",
    path: "/api/apps/{app}/targets/{target}/lock",
    summary: "Lock the target: deploys queue until it is unlocked",
    role: "deployer",
    body: lockBody,
    ok: { status: 201, description: "locked" },
  },
  {
    method: "delete",
    path: "/api/apps/{app}/targets/{target}/lock",
    summary: "Release the lock (someone else's: admin, with a reason)",
    role: "deployer",
    body: unlockBody,
    ok: { status: 204, description: "unlocked" },
  },
  {
    method: "get",
    path: "/api/apps/{app}/targets/{target}/releases",
    summary: "Each host's releases, current and previous, read live",
    role: "viewer",
    ok: { status: 200, description: "releases" },
  },
  {
    method: "get",
    path: "/api/history",
    summary: "Deploys, newest first, filtered",
    role: "viewer",
    query: ["app", "target", "user", "via", "state", "limit"],
    ok: { status: 200, schema: list("deploys", deployRow), description: "deploys" },
  },
  { method: "get", path: "/api/deploys/{id}", summary: "One deploy", role: "viewer", ok: { status: 200, schema: deployRow, description: "the deploy" } },
  {
    method: "post",
    path: "/api/deploys/{id}/cancel",
    summary: "Cancel a queued deploy",
    role: "deployer",
    ok: { status: 200, schema: deployRow, description: "cancelled" },
  },
  {
    method: "get",
    path: "/api/deploys/{id}/events",
    summary: "The deploy's events as Server-Sent Events: replayed from the start (or after Last-Event-ID), live, then `end`",
    role: "viewer",
    ok: { status: 200, type: "text/event-stream", description: "events" },
  },
];

export function openApiDocument(): object {
  const paths: Record<string, Record<string, unknown>> = {};
  const error = { "application/json": { schema: z.toJSONSchema(errorBody) } };
  for (const r of ROUTES) {
    const params = [...r.path.matchAll(/\{(\w+)\}/g)].map((m) => ({ name: m[1], in: "path", required: true, schema: { type: "string" } }));
    const query = (r.query ?? []).map((name) => ({ name, in: "query", required: false, schema: { type: "string" } }));
    const op: Record<string, unknown> = {
      summary: r.summary,
      "x-slipway-role": r.role,
      parameters: [...params, ...query],
      responses: {
        [r.ok.status]: {
          description: r.ok.description,
          ...(r.ok.schema ? { content: { "application/json": { schema: z.toJSONSchema(r.ok.schema, { unrepresentable: "any" }) } } } : {}),
          ...(r.ok.type ? { content: { [r.ok.type]: {} } } : {}),
        },
        ...(r.role === "none" ? {} : { 400: { description: "bad request", content: error }, 401: { description: "no or bad token", content: error } }),
        ...(r.role === "none"
          ? {}
          : { 403: { description: "the token's role is too low", content: error }, 404: { description: "not found", content: error } }),
        ...Object.fromEntries(
          (r.errors ?? []).map((e) => [e.status, { description: e.description, content: { "application/json": { schema: z.toJSONSchema(e.schema) } } }]),
        ),
      },
      ...(r.role === "none" ? { security: [] } : {}),
    };
    if (r.body) op.requestBody = { required: true, content: { "application/json": { schema: z.toJSONSchema(r.body) } } };
    if (r.bodyType) op.requestBody = { required: true, content: { [r.bodyType]: { schema: { type: "string", format: "binary" } } } };
    paths[r.path] ??= {};
    paths[r.path]![r.method] = op;
  }
  return {
    openapi: "3.1.0",
    info: { title: "slipway serve", version: VERSION },
    components: { securitySchemes: { token: { type: "http", scheme: "bearer" } } },
    security: [{ token: [] }],
    paths,
  };
}
