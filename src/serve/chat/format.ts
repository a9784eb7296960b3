/**
 * Chat text: Slack's mrkdwn and Mattermost's Markdown differ in bold, links and escaping; the
 * rest of chat/ writes through a Markup so one text serves both.
 */
import type { DeployRow, TargetStatus } from "../model.js";

export interface Markup {
  bold(s: string): string;
  code(s: string): string;
  link(url: string, text: string): string;
  /** Text from users or hosts (lock reasons, error messages): made inert. */
  text(s: string): string;
}

/** Slack: &, < and > must be escaped, which also keeps `<!channel>` in a lock reason from pinging anyone. */
export const slackMarkup: Markup = {
  bold: (s) => `*${s}*`,
  code: (s) => `\`${s.replaceAll("`", "'")}\``,
  link: (url, text) => `<${url}|${slackEscape(text)}>`,
  text: slackEscape,
};

function slackEscape(s: string): string {
  return s.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;");
}

/** Mattermost: a zero-width space after @ keeps `@channel` in a lock reason from pinging anyone. */
export const mattermostMarkup: Markup = {
  bold: (s) => `**${s}**`,
  code: (s) => `\`${s.replaceAll("`", "'")}\``,
  link: (url, text) => `[${text.replaceAll("]", ")")}](${url})`,
  text: (s) => s.replaceAll("@", "@\u200b"),
};

export function where(md: Markup, app: string, target: string): string {
  return md.code(`${app}/${target}`);
}

export function deployLink(md: Markup, publicUrl: string | undefined, id: number): string {
  return publicUrl ? md.link(`${publicUrl.replace(/\/+$/, "")}/deploys/${id}`, `#${id}`) : `#${id}`;
}

export function describeDeploy(md: Markup, row: DeployRow): string {
  if (row.kind === "rollback") return `rollback of ${where(md, row.app, row.target)}${row.build_id ? ` to ${md.code(row.build_id)}` : ""}`;
  return `deploy of ${md.code(row.build_id ?? "?")} to ${where(md, row.app, row.target)}`;
}

export function duration(ms: number | undefined): string {
  if (ms === undefined) return "";
  if (ms < 1000) return `${ms} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  return `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`;
}

/** One target for `status`: hosts per role, lock, what runs, the queue, the last deploy. */
export function statusLines(md: Markup, s: TargetStatus, publicUrl?: string): string[] {
  const lines = [`${md.bold(`${s.app}/${s.target}`)}${s.confirm ? " (asks for confirmation)" : ""}`];
  for (const r of s.roles) lines.push(`• ${r.name}: ${r.hosts.length ? r.hosts.map(md.text).join(", ") : "no hosts"}`);
  if (s.lock) lines.push(`• locked by ${md.text(s.lock.user)} since ${s.lock.at}: ${md.text(s.lock.reason)}`);
  else lines.push("• not locked");
  if (s.running) lines.push(`• running: ${deployLink(md, publicUrl, s.running.id)} ${describeDeploy(md, s.running)} by ${md.text(s.running.user)}`);
  if (s.queue.length) {
    const queued = s.queue.map((q) =>
      `${deployLink(md, publicUrl, q.id)} ${q.kind} ${q.build_id ? md.code(q.build_id) : ""} by ${md.text(q.user)}`.replace(/ {2,}/g, " "),
    );
    lines.push(`• queue (${s.queue.length}): ${queued.join("; ")}`);
  } else lines.push("• queue empty");
  if (s.last) {
    const l = s.last;
    const took = l.duration_ms !== undefined ? ` in ${duration(l.duration_ms)}` : "";
    lines.push(
      `• last: ${deployLink(md, publicUrl, l.id)} ${describeDeploy(md, l)} ${l.state}${took}, by ${md.text(l.user)} via ${l.via}, ${l.finished_at ?? l.created_at}`,
    );
  } else lines.push("• no deploy yet");
  return lines;
}
