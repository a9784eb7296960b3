/**
 * Mattermost: the slash command, verified by its token (form field `token`, or the
 * `Authorization: Token …` header newer servers send). Mattermost has no signed interactivity
 * here, so a target that asks for a confirmation is confirmed by typing `confirm` at the end.
 */
import type { Context } from "hono";
import { formatCommand } from "./command.js";
import { type ChatDeps, authFailed, authGate, followInBackground, slashName } from "./deps.js";
import { mattermostMarkup as md } from "./format.js";
import { ResponsePoster, usableResponseUrl } from "./respond.js";
import { answerText } from "./run.js";
import { verifyMattermost } from "./verify.js";

export class MattermostHandlers {
  constructor(
    private readonly deps: ChatDeps,
    private readonly token: string,
  ) {}

  /** POST /mattermost/commands */
  readonly commands = async (c: Context): Promise<Response> => {
    const { ip, wait } = authGate(this.deps, c);
    if (wait) {
      this.deps.log(`chat mattermost: refused a request from ${ip}: too many failed verifications`);
      const error = "too many failed verifications from this address";
      return c.json({ response_type: "ephemeral", error, hint: `wait ${wait} s`, text: `${error}: wait ${wait} s` }, 429);
    }
    const form = new URLSearchParams(await c.req.text());
    const header = /^Token\s+(\S+)$/i.exec(c.req.header("authorization") ?? "")?.[1];
    const verdict = verifyMattermost(this.token, form.get("token") ?? header);
    if (!verdict.ok) {
      authFailed(this.deps, ip);
      this.deps.log(`chat mattermost: refused a request from ${ip}: ${verdict.reason} token`);
      return c.json({ response_type: "ephemeral", error: verdict.error, hint: verdict.hint, text: `${verdict.error}: ${verdict.hint}` }, 401);
    }
    const userId = form.get("user_id") ?? "";
    const userName = form.get("user_name") ?? "";
    const slash = slashName(form.get("command") ?? undefined);
    const who = (userId ? this.deps.ctx.chatUsers.byMattermost(userId) : undefined) ?? (userName ? this.deps.ctx.chatUsers.byMattermost(userName) : undefined);
    const { reply, command } = answerText(this.deps.ctx, who, form.get("text") ?? "", {
      via: "mattermost",
      md,
      slash,
      log: this.deps.log,
      unmapped: unmappedText(userId, userName),
    });
    const shown = command ? formatCommand(command) : "(unparsed)";
    this.deps.log(
      `chat mattermost: ${who?.user ?? "unmapped"} (${safe(userName)}) ${shown} → ${reply.kind === "message" ? reply.visibility : "confirm"} response_url=[redacted]`,
    );
    if (reply.kind === "confirm") {
      const again = `${slash} ${formatCommand({ ...reply.command, confirmed: true })}`;
      return c.json({ response_type: "ephemeral", text: `${reply.text}\nTo go ahead, run ${md.code(again)}` });
    }
    const url = usableResponseUrl(form.get("response_url") ?? undefined);
    if (reply.follow && url) {
      const poster = new ResponsePoster(url, "mattermost", this.deps.fetch, this.deps.log);
      followInBackground(this.deps, "mattermost", reply.follow, poster, md, (text) => ({ response_type: "in_channel", text }));
    }
    return c.json({ response_type: reply.visibility, text: reply.text });
  };
}

function unmappedText(userId: string, userName: string): string {
  const name = safe(userName) || safe(userId) || "?";
  return (
    `Refused: Mattermost user ${md.code(name)} is not mapped to a slipway user.\n` +
    `Ask an admin to add ${md.code(`mattermost = "${name}"`)} to your [users.NAME] entry in slipway-server.toml.`
  );
}

/** A Mattermost id or username as shown back and logged: its own characters only. */
function safe(s: string): string {
  return /^[A-Za-z0-9._-]{1,64}$/.test(s) ? s : "";
}
