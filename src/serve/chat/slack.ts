/**
 * Slack: the slash command (/slipway …) and the interactivity callback of its Confirm/Cancel
 * buttons. Every request is verified (signature v0, timestamp within 300 s, not seen before)
 * before its body is read as a form. The answer goes out at once; a deploy's progress and
 * result follow on response_url.
 */
import { randomBytes } from "node:crypto";
import type { Context } from "hono";
import { formatCommand, parseCommand } from "./command.js";
import { type ChatDeps, authFailed, authGate, followInBackground, slashName } from "./deps.js";
import { slackMarkup as md } from "./format.js";
import { ResponsePoster, usableResponseUrl } from "./respond.js";
import { type Reply, answerText } from "./run.js";
import { ReplayGuard, type Verdict, verifySlack } from "./verify.js";

export const CONFIRM_ACTION = "slipway_confirm";
export const CANCEL_ACTION = "slipway_cancel";

/** A confirmation stays answerable as long as its response_url works. */
const CONFIRM_TTL_MS = 30 * 60_000;

interface Pending {
  command: string;
  /** The slash command as the user typed it, for help text in the answer. */
  slash: string;
  expires: number;
}

export class SlackHandlers {
  private readonly replays = new ReplayGuard();
  /** Confirmations asked for and not yet answered, by nonce: a click runs only what the server offered, once. */
  private readonly pending = new Map<string, Pending>();

  constructor(
    private readonly deps: ChatDeps,
    private readonly secret: string,
  ) {}

  /** POST /slack/commands */
  readonly commands = async (c: Context): Promise<Response> => {
    const checked = await this.verified(c);
    if (checked instanceof Response) return checked;
    const form = checked;
    if (form.get("ssl_check")) return c.body(null, 200);
    const slackId = form.get("user_id") ?? "";
    const slash = slashName(form.get("command") ?? undefined);
    const who = this.deps.ctx.chatUsers.bySlackId(slackId);
    const text = form.get("text") ?? "";
    const { reply, command } = answerText(this.deps.ctx, who, text, {
      via: "slack",
      md,
      slash,
      log: this.deps.log,
      unmapped: unmappedText(slackId),
    });
    this.deps.log(
      `chat slack: ${who?.user ?? "unmapped"} (${safeId(slackId)}) ${command ? formatCommand(command) : "(unparsed)"} → ${reply.kind === "message" ? reply.visibility : "confirm"} response_url=[redacted]`,
    );
    if (reply.kind === "confirm") return c.json(this.confirmMessage(reply, slash));
    this.follow(reply, form.get("response_url") ?? undefined);
    return c.json({ response_type: reply.visibility, text: reply.text });
  };

  /** POST /slack/actions: block_actions from the Confirm/Cancel buttons. */
  readonly actions = async (c: Context): Promise<Response> => {
    const checked = await this.verified(c);
    if (checked instanceof Response) return checked;
    let payload: BlockActions;
    try {
      payload = JSON.parse(checked.get("payload") ?? "") as BlockActions;
    } catch {
      return c.json({ error: "the payload field is not JSON", hint: "Slack sends interactivity as payload=<json>" }, 400);
    }
    const action =
      payload?.type === "block_actions" ? payload.actions?.find((a) => a.action_id === CONFIRM_ACTION || a.action_id === CANCEL_ACTION) : undefined;
    // Other interactions (a shortcut, a view) are not ours; Slack only needs the 200.
    if (!action) return c.body(null, 200);
    const url = usableResponseUrl(payload.response_url);
    if (!url) return c.json({ error: "block_actions without a response_url", hint: "only Slack's own callbacks are accepted" }, 400);
    const poster = new ResponsePoster(url, "slack", this.deps.fetch, this.deps.log);
    const slackId = typeof payload.user?.id === "string" ? payload.user.id : "";
    const value = parseValue(action.value);
    const pending = value ? this.takePending(value.nonce, value.command) : undefined;
    const confirm = action.action_id === CONFIRM_ACTION;
    this.deps.log(
      `chat slack: ${safeId(slackId)} pressed ${confirm ? "Confirm" : "Cancel"} on ${value ? value.command : "(bad value)"} response_url=[redacted]`,
    );
    this.answerAction(confirm, slackId, pending, poster).catch((err: unknown) =>
      this.deps.log(`chat slack: answering a button failed: ${(err as Error).message}`),
    );
    return c.body(null, 200);
  };

  private async answerAction(confirm: boolean, slackId: string, pending: Pending | undefined, poster: ResponsePoster): Promise<void> {
    if (!pending) {
      await poster.post({ replace_original: true, text: "This confirmation expired or was already answered; run the command again." });
      return;
    }
    if (!confirm) {
      await poster.post({ replace_original: true, text: `Cancelled: ${md.code(pending.command)}` });
      return;
    }
    // Whoever clicks is the actor: their mapping and role are checked as for a typed command.
    const who = this.deps.ctx.chatUsers.bySlackId(slackId);
    const { reply } = answerText(this.deps.ctx, who, pending.command, {
      via: "slack",
      md,
      slash: pending.slash,
      log: this.deps.log,
      unmapped: unmappedText(slackId),
      confirmed: true,
    });
    if (reply.kind !== "message") {
      await poster.post({ replace_original: true, text: "The command asked for a confirmation again; run it again." });
      return;
    }
    if (reply.visibility === "ephemeral") {
      await poster.post({ replace_original: true, text: reply.text });
      return;
    }
    // The question was ephemeral: remove it, then tell the channel (an in_channel reply cannot replace it).
    await poster.post({ delete_original: true });
    await poster.post({ response_type: "in_channel", replace_original: false, text: reply.text });
    if (reply.follow) followInBackground(this.deps, "slack", reply.follow, poster, md, inChannel);
  }

  /** The signature, the timestamp, not seen before; then the form. A refusal is a 401 JSON answer. */
  private async verified(c: Context): Promise<URLSearchParams | Response> {
    const { ip, wait } = authGate(this.deps, c);
    if (wait) {
      this.deps.log(`chat slack: refused a request from ${ip}: too many failed verifications`);
      return c.json({ error: "too many failed verifications from this address", hint: `wait ${wait} s` }, 429);
    }
    const body = await c.req.text();
    const signature = c.req.header("x-slack-signature");
    let verdict: Verdict = verifySlack(this.secret, { timestamp: c.req.header("x-slack-request-timestamp"), signature }, body, this.deps.now());
    if (verdict.ok && !this.replays.firstSeen(signature!, this.deps.now())) {
      verdict = { ok: false, reason: "replayed", error: "this request was already received", hint: "each Slack request is accepted once" };
    }
    if (!verdict.ok) {
      authFailed(this.deps, ip);
      this.deps.log(`chat slack: refused a request from ${ip}: ${verdict.reason}${verdict.skew_s !== undefined ? ` (clock skew ${verdict.skew_s} s)` : ""}`);
      return c.json({ error: verdict.error, hint: verdict.hint }, 401);
    }
    return new URLSearchParams(body);
  }

  private follow(reply: Reply & { kind: "message" }, responseUrl: string | undefined): void {
    const url = usableResponseUrl(responseUrl);
    if (!reply.follow || !url) return;
    followInBackground(this.deps, "slack", reply.follow, new ResponsePoster(url, "slack", this.deps.fetch, this.deps.log), md, inChannel);
  }

  private confirmMessage(reply: Reply & { kind: "confirm" }, slash: string): Record<string, unknown> {
    const now = this.deps.now();
    for (const [k, p] of this.pending) if (p.expires <= now) this.pending.delete(k);
    const nonce = randomBytes(16).toString("base64url");
    const command = formatCommand(reply.command);
    this.pending.set(nonce, { command, slash, expires: now + CONFIRM_TTL_MS });
    const value = JSON.stringify({ n: nonce, c: command });
    return {
      response_type: "ephemeral",
      text: reply.text,
      blocks: [
        { type: "section", text: { type: "mrkdwn", text: reply.text } },
        {
          type: "actions",
          block_id: "slipway_confirm",
          elements: [
            { type: "button", action_id: CONFIRM_ACTION, style: "primary", text: { type: "plain_text", text: "Confirm" }, value },
            { type: "button", action_id: CANCEL_ACTION, text: { type: "plain_text", text: "Cancel" }, value },
          ],
        },
      ],
    };
  }

  /** The pending confirmation for a nonce, removed (answerable once), when it is live and names the same command. */
  private takePending(nonce: string, command: string): Pending | undefined {
    const p = this.pending.get(nonce);
    if (!p || p.command !== command) return undefined;
    this.pending.delete(nonce);
    return p.expires > this.deps.now() ? p : undefined;
  }
}

interface BlockActions {
  type?: string;
  user?: { id?: unknown };
  response_url?: string;
  actions?: { action_id?: string; value?: string }[];
}

function parseValue(value: string | undefined): { nonce: string; command: string } | undefined {
  try {
    const v = JSON.parse(value ?? "") as { n?: unknown; c?: unknown };
    if (typeof v.n !== "string" || typeof v.c !== "string") return undefined;
    parseCommand(v.c); // only a command the parser accepts
    return { nonce: v.n, command: v.c };
  } catch {
    return undefined;
  }
}

const inChannel = (text: string) => ({ response_type: "in_channel", replace_original: false, text });

function unmappedText(slackId: string): string {
  return (
    `Refused: Slack user ${md.code(safeId(slackId))} is not mapped to a slipway user.\n` +
    `Ask an admin to add ${md.code(`slack = "${safeId(slackId)}"`)} to your [users.NAME] entry in slipway-server.toml.`
  );
}

/** A Slack id as shown back and logged: its own characters only. */
function safeId(id: string): string {
  return /^[A-Za-z0-9]{1,32}$/.test(id) ? id : "?";
}
