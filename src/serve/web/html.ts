/**
 * The dashboard's one escaping path: hono/html's `html` tag escapes every interpolated string
 * and passes nested `html` fragments through. Pages never build markup any other way.
 */
import { bytes as cliBytes } from "../../render/format.js";
import { html } from "hono/html";

/** An escaped fragment (hono's HtmlEscapedString, which its package does not export by name). */
export type Html = Exclude<ReturnType<typeof html>, Promise<unknown>>;

/** `html`, typed as the synchronous fragment it is here: no page interpolates a promise. */
export function h(strings: TemplateStringsArray, ...values: unknown[]): Html {
  const out = html(strings, ...values);
  if (out instanceof Promise) throw new Error("a dashboard template interpolated a promise");
  return out;
}

/** "1.5 MiB": sizes and bytes sent as the CLI prints them. */
export function bytes(n: number | undefined): string {
  return n === undefined || !Number.isFinite(n) ? "" : cliBytes(n);
}

/** "850 ms", "12.3 s", "4 min 05 s". */
export function duration(ms: number | undefined): string {
  if (ms === undefined || !Number.isFinite(ms)) return "";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const s = Math.round(ms / 1000);
  return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, "0")} s`;
}

/** An ISO time as "2026-11-30 18:21:45Z", in a <time> element carrying the exact value. */
export function when(iso: string | undefined): Html {
  if (!iso) return h``;
  const shown = iso.replace("T", " ").replace(/\.\d+Z$/, "Z");
  return h`<time datetime="${iso}">${shown}</time>`;
}
