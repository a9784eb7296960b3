/**
 * Request and response shapes of the HTTP API: zod schemas that validate requests, and from
 * which /api/openapi.json is generated (openapi.ts), so the document cannot drift from the code.
 */
import * as z from "zod";
import { APP_NAME, BATCH_PERCENT, BUILD_ID, ROLE_NAME, TARGET_NAME } from "../../config/patterns.js";

const noDots = (s: string) => !s.includes("..");
export const buildId = z
  .string()
  .regex(BUILD_ID, "a build id: letters, digits, . _ + -, starting with a letter or digit")
  .refine(noDots, "must not contain ..");
export const appName = z.string().regex(APP_NAME, "an app name");
export const targetName = z.string().regex(TARGET_NAME, "a target name");

export const deployBody = z.strictObject({
  build_id: buildId.describe("The artifact's build id (uploaded before)"),
  roles: z
    .string()
    .refine((s) => s.split(",").every((r) => ROLE_NAME.test(r.trim())), "a comma-separated list of role names")
    .optional()
    .describe("Only these roles of the target, comma-separated"),
  batch: z
    .string()
    .refine((s) => /^[1-9][0-9]{0,5}$/.test(s) || BATCH_PERCENT.test(s), "a count (1, 2, …) or a percentage (25%)")
    .optional()
    .describe("Hosts switched at a time (default: each role's batch)"),
});

export const rollbackBody = z.strictObject({ to: buildId.optional().describe("A release kept on every host (default: the previous one)") });
export const lockBody = z.strictObject({ reason: z.string().min(1).max(500).describe("Why the target is locked") });
export const unlockBody = z.strictObject({ reason: z.string().max(500).optional().describe("Needed to release someone else's lock (admin)") });

export const historyQuery = z.strictObject({
  app: appName.optional(),
  target: targetName.optional(),
  user: z.string().max(64).optional(),
  via: z.enum(["api", "dashboard", "slack", "mattermost", "server"]).optional(),
  state: z.enum(["queued", "running", "succeeded", "failed", "cancelled", "interrupted"]).optional(),
  limit: z.coerce.number().int().min(1).max(1000).optional(),
});

export const errorBody = z.object({ error: z.string(), hint: z.string().optional() });

/** 409 to an upload: the build id is taken. `slipway push` compares `sha256` with its file's: the same artifact is not an error. */
export const artifactConflictBody = errorBody.extend({
  build_id: z.string().describe("The build id asked for"),
  sha256: z.string().describe("The sha256 of the artifact the server already holds under that build id"),
});

export const deployRow = z.object({
  id: z.number().int(),
  app: z.string(),
  target: z.string(),
  kind: z.enum(["deploy", "rollback"]),
  build_id: z.string().optional(),
  roles: z.string().optional(),
  batch: z.string().optional(),
  state: z.enum(["queued", "running", "succeeded", "failed", "cancelled", "interrupted"]),
  user: z.string(),
  via: z.string(),
  position: z.number().int().optional().describe("Place in the target's queue while queued (1 = next)"),
  created_at: z.string(),
  started_at: z.string().optional(),
  finished_at: z.string().optional(),
  duration_ms: z.number().int().optional(),
  error: z.string().optional(),
  result: z.unknown().optional(),
  interrupted: z.unknown().optional(),
});

export const artifactRow = z.object({
  app: z.string(),
  build_id: z.string(),
  commit: z.string().optional(),
  dirty: z.boolean().optional(),
  venv_key: z.string(),
  size: z.number().int(),
  signer: z.string().optional(),
  uploaded_at: z.string(),
  uploaded_by: z.string(),
  sha256: z.string(),
});
