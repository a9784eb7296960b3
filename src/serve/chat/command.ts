/**
 * The chat command language, shared by Slack and Mattermost: `deploy APP BUILD to TARGET`,
 * `rollback APP TARGET [to BUILD]`, `lock APP TARGET REASON...`, `unlock APP TARGET [REASON...]`,
 * `status [APP [TARGET]]`, `help`. Parsing is pure; names are checked with the same patterns as
 * the config, so nothing reaches the core that the CLI would refuse.
 */
import { APP_NAME, TARGET_NAME, isValidBuildId } from "../../config/patterns.js";

export type ChatCommand =
  | { kind: "deploy"; app: string; target: string; build: string; confirmed: boolean }
  | { kind: "rollback"; app: string; target: string; to?: string; confirmed: boolean }
  | { kind: "lock"; app: string; target: string; reason: string }
  | { kind: "unlock"; app: string; target: string; reason?: string }
  | { kind: "status"; app?: string; target?: string }
  | { kind: "help" };

/** A command that could not be parsed: what was wrong, and the usage line of the command meant. */
export class ChatUsageError extends Error {
  constructor(
    message: string,
    readonly usage: string,
  ) {
    super(message);
    this.name = "ChatUsageError";
  }
}

export const USAGE = {
  deploy: "deploy APP BUILD to TARGET [confirm]",
  rollback: "rollback APP TARGET [to BUILD] [confirm]",
  lock: "lock APP TARGET REASON...",
  unlock: "unlock APP TARGET [REASON...]",
  status: "status [APP [TARGET]]",
  help: "help",
} as const;

const ALL_USAGE = Object.values(USAGE).join(" · ");

/** Longest text accepted: a lock reason is a sentence, not a document. */
const MAX_TEXT = 1000;

export function parseCommand(text: string): ChatCommand {
  if (text.length > MAX_TEXT) throw new ChatUsageError(`the command is ${text.length} characters long (at most ${MAX_TEXT})`, ALL_USAGE);
  const words = text.trim().split(/\s+/).filter(Boolean);
  const verb = words.shift()?.toLowerCase();
  if (verb === undefined) throw new ChatUsageError("no command given", ALL_USAGE);
  switch (verb) {
    case "deploy":
      return parseDeploy(words);
    case "rollback":
      return parseRollback(words);
    case "lock": {
      const { app, target } = appTarget(words, USAGE.lock);
      const reason = words.slice(2).join(" ");
      if (!reason) throw new ChatUsageError("lock needs a reason (others see it while the target is locked)", USAGE.lock);
      return { kind: "lock", app, target, reason };
    }
    case "unlock": {
      const { app, target } = appTarget(words, USAGE.unlock);
      const reason = words.slice(2).join(" ");
      return reason ? { kind: "unlock", app, target, reason } : { kind: "unlock", app, target };
    }
    case "status": {
      if (words.length > 2) throw new ChatUsageError(`status takes at most APP and TARGET, got ${words.length} words`, USAGE.status);
      const [app, target] = words;
      if (app !== undefined) checkName("APP", app, APP_NAME, USAGE.status);
      if (target !== undefined) checkName("TARGET", target, TARGET_NAME, USAGE.status);
      return { kind: "status", ...(app ? { app } : {}), ...(target ? { target } : {}) };
    }
    case "help":
      return { kind: "help" };
    default:
      throw new ChatUsageError(`unknown command "${clip(verb)}"`, ALL_USAGE);
  }
}

function parseDeploy(words: string[]): ChatCommand {
  const usage = USAGE.deploy;
  const confirmed = takeConfirm(words);
  // "deploy APP BUILD to TARGET" or "deploy APP BUILD TARGET"
  if (words.length === 4 && words[2]!.toLowerCase() === "to") words.splice(2, 1);
  if (words.length !== 3) throw new ChatUsageError(`deploy needs APP, BUILD and TARGET, got ${describe(words)}`, usage);
  const [app, build, target] = words as [string, string, string];
  checkName("APP", app, APP_NAME, usage);
  checkBuild(build, usage);
  checkName("TARGET", target, TARGET_NAME, usage);
  return { kind: "deploy", app, build, target, confirmed };
}

function parseRollback(words: string[]): ChatCommand {
  const usage = USAGE.rollback;
  const confirmed = takeConfirm(words);
  if (words.length !== 2 && !(words.length === 4 && words[2]!.toLowerCase() === "to")) {
    throw new ChatUsageError(`rollback needs APP and TARGET, optionally "to BUILD"; got ${describe(words)}`, usage);
  }
  const { app, target } = appTarget(words, usage);
  const to = words[3];
  if (to === undefined) return { kind: "rollback", app, target, confirmed };
  checkBuild(to, usage);
  return { kind: "rollback", app, target, to, confirmed };
}

/** A trailing `confirm` answers a target's confirmation up front (Mattermost has no buttons here). */
function takeConfirm(words: string[]): boolean {
  if (words.length > 0 && words[words.length - 1]!.toLowerCase() === "confirm") {
    words.pop();
    return true;
  }
  return false;
}

function appTarget(words: string[], usage: string): { app: string; target: string } {
  const [app, target] = words;
  if (app === undefined || target === undefined) throw new ChatUsageError(`missing ${app === undefined ? "APP and TARGET" : "TARGET"}`, usage);
  checkName("APP", app, APP_NAME, usage);
  checkName("TARGET", target, TARGET_NAME, usage);
  return { app, target };
}

function checkName(what: string, value: string, pattern: RegExp, usage: string): void {
  if (!pattern.test(value)) {
    throw new ChatUsageError(`${what} "${clip(value)}" is not a valid name (lowercase letters, digits, . _ -; starting with a letter or digit)`, usage);
  }
}

function checkBuild(value: string, usage: string): void {
  if (!isValidBuildId(value)) {
    throw new ChatUsageError(`BUILD "${clip(value)}" is not a valid build id (letters, digits, . _ + -; no "..", no leading . or -)`, usage);
  }
}

function describe(words: string[]): string {
  return words.length === 0 ? "nothing" : `${words.length} word${words.length === 1 ? "" : "s"} (${clip(words.join(" "))})`;
}

/** Echo user input bounded, so an error message stays a line. */
function clip(s: string, max = 80): string {
  return s.length > max ? `${s.slice(0, max)}…` : s;
}

/** The command as text again (the Confirm button's value, log lines): parseCommand(formatCommand(c)) equals c. */
export function formatCommand(cmd: ChatCommand): string {
  switch (cmd.kind) {
    case "deploy":
      return `deploy ${cmd.app} ${cmd.build} to ${cmd.target}${cmd.confirmed ? " confirm" : ""}`;
    case "rollback":
      return `rollback ${cmd.app} ${cmd.target}${cmd.to ? ` to ${cmd.to}` : ""}${cmd.confirmed ? " confirm" : ""}`;
    case "lock":
      return `lock ${cmd.app} ${cmd.target} ${cmd.reason}`;
    case "unlock":
      return `unlock ${cmd.app} ${cmd.target}${cmd.reason ? ` ${cmd.reason}` : ""}`;
    case "status":
      return ["status", cmd.app, cmd.target].filter(Boolean).join(" ");
    case "help":
      return "help";
  }
}

export function helpLines(slash: string): string[] {
  return [
    `${slash} deploy APP BUILD to TARGET: deploy a build uploaded to the server`,
    `${slash} rollback APP TARGET [to BUILD]: back to the previous release, or to BUILD`,
    `${slash} lock APP TARGET REASON...: stop deploys to a target until unlocked`,
    `${slash} unlock APP TARGET [REASON...]: release the lock (someone else's: admin, with a reason)`,
    `${slash} status [APP [TARGET]]: hosts per role, last deploy, lock and queue`,
    `${slash} help: this list`,
    `Targets that ask for a confirmation get a Confirm button; add "confirm" at the end to answer it in the command.`,
  ];
}
