/** `/history`: who deployed what, when, how, with what result — filtered by GET query. */
import { FINISHED, type DeployRow } from "../../model.js";
import type { Viewer } from "../guard.js";
import { duration, h, when, type Html } from "../html.js";
import { page, stateBadge } from "../layout.js";

export interface HistoryFilter {
  app?: string;
  target?: string;
  user?: string;
  via?: string;
  state?: string;
}

export const VIAS = ["api", "dashboard", "slack", "mattermost", "server"] as const;
export const STATES = ["queued", "running", ...FINISHED] as const;

export function historyPage(viewer: Viewer, rows: DeployRow[], filter: HistoryFilter, apps: string[]): Html {
  const select = (name: keyof HistoryFilter, options: readonly string[]) =>
    h`<label>${name} <select name="${name}"><option value="">any</option>${options.map(
      (o) => h`<option value="${o}"${filter[name] === o ? h` selected` : ""}>${o}</option>`,
    )}</select></label>`;
  return page(
    "History",
    viewer,
    h`<h1>History</h1>
<form method="get" action="/history" class="filters">
${select("app", apps)}
<label>target <input name="target" value="${filter.target ?? ""}" size="10"></label>
<label>user <input name="user" value="${filter.user ?? ""}" size="10"></label>
${select("via", VIAS)}
${select("state", STATES)}
<button type="submit">Filter</button> <a href="/history">Clear</a>
</form>
${
  rows.length
    ? h`<table class="history"><thead><tr><th>#</th><th>When</th><th>Who</th><th>How</th><th>What</th><th>Where</th><th>Result</th><th>Duration</th></tr></thead><tbody>
${rows.map(
  (r) =>
    h`<tr><td><a href="/deploys/${r.id}">${r.id}</a></td><td>${when(r.created_at)}</td><td>${r.user}</td><td>${r.via}</td><td>${r.kind} ${
      r.build_id ? h`<code>${r.build_id}</code>` : ""
    }</td><td>${r.app} / ${r.target}</td><td>${stateBadge(r.state)}</td><td>${duration(r.duration_ms)}</td></tr>`,
)}
</tbody></table>`
    : h`<p>No deploys match.</p>`
}`,
  );
}
