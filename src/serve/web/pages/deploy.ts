/**
 * `/deploys/:id`: one deploy — its summary, steps per host, bytes sent, durations, the failure
 * text and the log. While it runs, /static/app.js pulls `liveFragment` as SSE events arrive;
 * without JavaScript a meta refresh reloads the page.
 */
import { FINISHED, type DeployEvent, type DeployRow } from "../../model.js";
import { deployView, eventText, type DeployView, type HostStepView } from "../derive.js";
import type { Viewer } from "../guard.js";
import { bytes, duration, h, when, type Html } from "../html.js";
import { page, stateBadge } from "../layout.js";

export interface DeployData {
  row: DeployRow;
  events: DeployEvent[];
}

export function deployPage(viewer: Viewer, d: DeployData): Html {
  const { row } = d;
  const finished = FINISHED.includes(row.state);
  const last = d.events.at(-1)?.seq ?? 0;
  const view = deployView(d.events, row);
  const title = row.kind === "rollback" ? `rollback${row.build_id ? ` to ${row.build_id}` : ""}` : `deploy ${row.build_id}`;
  return page(
    `#${row.id} ${title}`,
    viewer,
    h`<h1>#${row.id} ${title} → ${row.app} / ${row.target}</h1>
<div id="live" data-deploy="${row.id}" data-state="${row.state}" data-after="${last}">
${summary(row)}
${actions(viewer, row)}
${hostsTable(view)}
<h2>Log</h2>
<table id="log" class="log"><tbody>${logRows(d.events)}</tbody></table>
</div>`,
    { refresh: finished ? undefined : 3, script: !finished },
  );
}

/** What the live page pulls: the summary, buttons and hosts table anew, and the log rows after `after`. */
export function liveFragment(viewer: Viewer, d: DeployData, after: number): Html {
  const last = d.events.at(-1)?.seq ?? after;
  return h`<div data-state="${d.row.state}" data-after="${last}">${summary(d.row)}${actions(viewer, d.row)}${hostsTable(deployView(d.events, d.row))}<table><tbody>${logRows(
    d.events.filter((e) => e.seq > after),
  )}</tbody></table></div>`;
}

/** Cancel while queued, Rollback once finished: for deployers only. */
function actions(viewer: Viewer, row: DeployRow): Html {
  const deployer = viewer.can(row.app, row.target, "deployer");
  const base = `/apps/${encodeURIComponent(row.app)}/targets/${encodeURIComponent(row.target)}`;
  return h`<div id="actions" class="actions">${
    deployer && row.state === "queued"
      ? h`<form class="inline" method="post" action="/deploys/${row.id}/cancel"><button type="submit">Cancel</button></form>`
      : ""
  }${
    deployer && FINISHED.includes(row.state)
      ? h`<form class="inline" method="post" action="${base}/rollback"><button type="submit">Rollback ${row.target}</button></form>`
      : ""
  }</div>`;
}

function summary(row: DeployRow): Html {
  return h`<dl id="summary" class="summary">
<dt>State</dt><dd>${stateBadge(row.state)}${row.position ? h` position ${row.position} in the queue` : ""}</dd>
<dt>By</dt><dd>${row.user} via ${row.via}</dd>
<dt>Queued</dt><dd>${when(row.created_at)}</dd>
${row.started_at ? h`<dt>Started</dt><dd>${when(row.started_at)}</dd>` : ""}
${row.finished_at ? h`<dt>Finished</dt><dd>${when(row.finished_at)}</dd>` : ""}
${row.duration_ms !== undefined ? h`<dt>Duration</dt><dd>${duration(row.duration_ms)}</dd>` : ""}
${row.roles ? h`<dt>Roles</dt><dd>${row.roles}</dd>` : ""}
${row.batch ? h`<dt>Batch</dt><dd>${row.batch}</dd>` : ""}
${row.error ? h`<dt>Failure</dt><dd><pre class="error">${row.error}</pre></dd>` : ""}
${
  row.interrupted
    ? h`<dt>Left behind</dt><dd>${Object.entries(row.interrupted.hosts).map(([host, cur]) => h`${host}: current ${cur ?? "none"}<br>`)}${
        row.interrupted.lock ? h`lock: ${row.interrupted.lock}` : ""
      }</dd>`
    : ""
}
</dl>`;
}

const MARK: Record<HostStepView["status"], string> = { start: "…", done: "✓", failed: "✗", skipped: "–" };

function hostsTable(v: DeployView): Html {
  if (v.hosts.length === 0) return h`<table id="hosts" class="hosts"><tbody><tr><td class="muted">No host has started yet.</td></tr></tbody></table>`;
  return h`<table id="hosts" class="hosts steps"><thead><tr><th>Host</th>${v.steps.map((s) => h`<th>${s}</th>`)}<th>Sent</th><th>Result</th></tr></thead><tbody>
${v.hosts.map(
  (host) =>
    h`<tr><td>${host.host}</td>${v.steps.map((s) => {
      const st = host.steps.get(s as never);
      if (!st) return h`<td></td>`;
      return h`<td class="step step-${st.status}" title="${st.detail ?? ""}">${MARK[st.status]} ${duration(st.ms)}${
        st.status === "failed" && st.detail ? h`<div class="error">${st.detail}</div>` : ""
      }</td>`;
    })}<td>${bytes(host.sent)}${host.total ? h` / ${bytes(host.total)}` : ""}</td><td>${host.result ?? ""}${
      host.error ? h`<div class="error">${host.error}</div>` : ""
    }</td></tr>`,
)}
</tbody></table>`;
}

function logRows(events: readonly DeployEvent[]): Html[] {
  return events.flatMap((e) => {
    const text = eventText(e.event);
    if (text === undefined) return [];
    const level = e.event.type === "log" && e.event["level"] === "warn" ? "warn" : e.event["status"] === "failed" ? "failed" : "";
    return [h`<tr data-seq="${e.seq}" class="${level}"><td>${when(e.at)}</td><td><pre>${text}</pre></td></tr>`];
  });
}
