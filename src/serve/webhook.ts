/**
 * An app's outgoing webhook: a POST when one of its deploys starts and when it ends, signed
 * `X-Slipway-Signature: sha256=<hex HMAC-SHA256 of the body>` with the app's secret, so the
 * receiver can check it came from this server. Best effort: a failure is logged, never retried
 * and never holds a deploy up.
 */
import { createHmac } from "node:crypto";
import type { DeployRow } from "./model.js";

export interface WebhookTarget {
  url: string;
  secret: string;
}

export function signBody(body: string, secret: string): string {
  return `sha256=${createHmac("sha256", secret).update(body).digest("hex")}`;
}

export async function sendWebhook(
  hook: WebhookTarget,
  event: "deploy.started" | "deploy.finished",
  deploy: DeployRow,
  log: (l: string) => void,
): Promise<void> {
  const { result: _result, ...summary } = deploy;
  const body = JSON.stringify({ event, deploy: summary });
  const where = new URL(hook.url);
  try {
    const res = await fetch(hook.url, {
      method: "POST",
      headers: { "content-type": "application/json", "x-slipway-signature": signBody(body, hook.secret), "x-slipway-event": event },
      body,
      signal: AbortSignal.timeout(10_000),
    });
    if (!res.ok) log(`webhook ${where.origin}${where.pathname}: ${event} for deploy ${deploy.id} answered ${res.status}`);
  } catch (err) {
    log(`webhook ${where.origin}${where.pathname}: ${event} for deploy ${deploy.id} failed: ${(err as Error).message}`);
  }
}
