/**
 * Runs a parsed chat command for a mapped chat user against the server core. Platform-free:
 * Slack and Mattermost render the Reply. The core's actions check roles themselves; checking
 * here first gives the ephemeral refusal the issue asks for, naming the role that is missing.
 */
import type { ServerContext } from "../context.js";
import { ServeError } from "../errors.js";
import { type Actor, type DeployRow, type Grant, type Role, roleAtLeast } from "../model.js";
import { type ChatCommand, ChatUsageError, formatCommand, helpLines, parseCommand } from "./command.js";
import { type Markup, deployLink, describeDeploy, statusLines, where } from "./format.js";

export interface ChatUser {
  user: string;
  grants: Grant[];
}

export type Visibility = "ephemeral" | "in_channel";

export type Reply =
  | { kind: "message"; visibility: Visibility; text: string; follow?: DeployRow }
  /** The target asks for a confirmation: the platform shows Confirm/Cancel for `command`. */
  | { kind: "confirm"; text: string; command: ChatCommand & { kind: "deploy" | "rollback" } };

const NEEDS: Record<ChatCommand["kind"], Role | undefined> = {
  deploy: "deployer",
  rollback: "deployer",
  lock: "deployer",
  unlock: "deployer",
  status: "viewer",
  help: undefined,
};

/** Most targets one `status` lists; chat messages are for a glance, the dashboard for the rest. */
const STATUS_MAX_TARGETS = 10;

export interface RunOptions {
  via: "slack" | "mattermost";
  md: Markup;
  /** How users type the command ("/slipway"), for help text. */
  slash: string;
}

const ephemeral = (text: string): Reply => ({ kind: "message", visibility: "ephemeral", text });

/**
 * The whole answer to a command's text: usage errors, an unmapped user (`unmapped` says who
 * they are and how to get mapped) and unexpected failures all become ephemeral replies.
 */
export function answerText(
  ctx: ServerContext,
  who: ChatUser | undefined,
  text: string,
  opts: RunOptions & { unmapped: string; log: (msg: string) => void; confirmed?: boolean },
): { reply: Reply; command?: ChatCommand } {
  let cmd: ChatCommand;
  try {
    cmd = parseCommand(text);
  } catch (err) {
    if (!(err instanceof ChatUsageError)) throw err;
    return { reply: ephemeral(`${opts.md.text(err.message)}\nUsage: ${opts.md.code(`${opts.slash} ${err.usage}`)} (${opts.slash} help lists all)`) };
  }
  if (opts.confirmed && (cmd.kind === "deploy" || cmd.kind === "rollback")) cmd = { ...cmd, confirmed: true };
  if (!who) return { reply: ephemeral(opts.unmapped), command: cmd };
  try {
    return { reply: runCommand(ctx, who, cmd, opts), command: cmd };
  } catch (err) {
    opts.log(`chat ${opts.via}: ${formatCommand(cmd)} by ${who.user} failed: ${(err as Error).message}`);
    return { reply: ephemeral("The server failed to run this command; its log has the details."), command: cmd };
  }
}

export function runCommand(ctx: ServerContext, who: ChatUser, cmd: ChatCommand, opts: RunOptions): Reply {
  const { md } = opts;
  const actor: Actor = { user: who.user, via: opts.via };
  try {
    if (cmd.kind === "help") return ephemeral(helpLines(opts.slash).join("\n"));
    if (cmd.kind === "status") return status(ctx, who, cmd, opts);
    const refusal = refuse(ctx, who, cmd.app, cmd.target, NEEDS[cmd.kind]!, cmd.kind, md);
    if (refusal) return refusal;
    switch (cmd.kind) {
      case "deploy":
      case "rollback": {
        if (!cmd.confirmed && ctx.needsConfirm(cmd.app, cmd.target)) {
          const what = cmd.kind === "deploy" ? `Deploy ${md.code(cmd.build)} to ${where(md, cmd.app, cmd.target)}` : rollbackWhat(md, cmd);
          return { kind: "confirm", text: `${what}? This target asks for a confirmation.`, command: cmd };
        }
        const row =
          cmd.kind === "deploy"
            ? ctx.actions.deploy(actor, cmd.app, cmd.target, { build_id: cmd.build })
            : ctx.actions.rollback(actor, cmd.app, cmd.target, cmd.to ? { to: cmd.to } : {});
        const queued = row.state === "queued" && row.position ? `, queued at position ${row.position}` : "";
        return {
          kind: "message",
          visibility: "in_channel",
          text: `🚀 ${md.text(who.user)} started ${deployLink(md, ctx.publicUrl, row.id)}: ${describeDeploy(md, row)}${queued}`,
          follow: row,
        };
      }
      case "lock": {
        const lock = ctx.actions.lock(actor, cmd.app, cmd.target, cmd.reason);
        return {
          kind: "message",
          visibility: "in_channel",
          text: `🔒 ${md.text(lock.user)} locked ${where(md, cmd.app, cmd.target)}: ${md.text(lock.reason)}`,
        };
      }
      case "unlock": {
        ctx.actions.unlock(actor, cmd.app, cmd.target, cmd.reason);
        const why = cmd.reason ? `: ${md.text(cmd.reason)}` : "";
        return { kind: "message", visibility: "in_channel", text: `🔓 ${md.text(who.user)} unlocked ${where(md, cmd.app, cmd.target)}${why}` };
      }
    }
  } catch (err) {
    if (err instanceof ServeError) {
      return ephemeral(`Could not ${md.code(formatCommand(cmd))}: ${md.text(err.message)}${err.hint ? `\n${md.text(err.hint)}` : ""}`);
    }
    throw err;
  }
}

function rollbackWhat(md: Markup, cmd: ChatCommand & { kind: "rollback" }): string {
  return `Roll back ${where(md, cmd.app, cmd.target)}${cmd.to ? ` to ${md.code(cmd.to)}` : " to the previous release"}`;
}

function refuse(ctx: ServerContext, who: ChatUser, app: string, target: string, need: Role, verb: string, md: Markup): Reply | undefined {
  const have = ctx.auth.roleFor(who.grants, app, target);
  if (have && roleAtLeast(have, need)) return undefined;
  return ephemeral(
    `Refused: ${verb} on ${where(md, app, target)} needs the ${need} role; ${md.text(who.user)} has ${have ? `only ${have}` : "none"} there.\n` +
      "Ask an admin to add a grant to your [users] entry in slipway-server.toml.",
  );
}

function status(ctx: ServerContext, who: ChatUser, cmd: ChatCommand & { kind: "status" }, opts: RunOptions): Reply {
  const { md } = opts;
  if (cmd.app && cmd.target) {
    const refusal = refuse(ctx, who, cmd.app, cmd.target, "viewer", "status", md);
    if (refusal) return refusal;
    return ephemeral(statusLines(md, ctx.reads.status(cmd.app, cmd.target), ctx.publicUrl).join("\n"));
  }
  const apps = ctx.reads.apps().filter((a) => !cmd.app || a.name === cmd.app);
  if (cmd.app && apps.length === 0) return ephemeral(`No app ${md.code(cmd.app)} on this server. ${opts.slash} status lists the apps you can see.`);
  const visible = apps.flatMap((a) =>
    a.targets.filter((t) => roleAtLeastOrNone(ctx.auth.roleFor(who.grants, a.name, t), "viewer")).map((t) => ({ app: a.name, target: t })),
  );
  if (visible.length === 0)
    return ephemeral(`${md.text(who.user)} may see no target${cmd.app ? ` of ${md.code(cmd.app)}` : ""} here; ask an admin for a grant.`);
  const blocks = visible.slice(0, STATUS_MAX_TARGETS).map((v) => statusLines(md, ctx.reads.status(v.app, v.target), ctx.publicUrl).join("\n"));
  if (visible.length > STATUS_MAX_TARGETS) {
    blocks.push(
      `… and ${visible.length - STATUS_MAX_TARGETS} more targets: ${opts.slash} status APP [TARGET] narrows it${ctx.publicUrl ? `, or see ${ctx.publicUrl}` : ""}.`,
    );
  }
  return ephemeral(blocks.join("\n\n"));
}

function roleAtLeastOrNone(have: Role | undefined, need: Role): boolean {
  return have !== undefined && roleAtLeast(have, need);
}
