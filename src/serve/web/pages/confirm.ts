/** The confirmation a Deploy or Rollback button leads to: it names the target and its hosts. */
import type { TargetStatus } from "../../model.js";
import type { Viewer } from "../guard.js";
import { h, type Html } from "../html.js";
import { page } from "../layout.js";

export interface ConfirmData {
  kind: "deploy" | "rollback";
  status: TargetStatus;
  /** The build to deploy, or the rollback's `to` (undefined: the previous release). */
  build_id?: string;
  roles?: string;
  batch?: string;
}

export function confirmPage(viewer: Viewer, d: ConfirmData): Html {
  const s = d.status;
  const action = `/apps/${encodeURIComponent(s.app)}/targets/${encodeURIComponent(s.target)}/${d.kind === "deploy" ? "deploys" : "rollback"}`;
  const heading =
    d.kind === "deploy"
      ? h`Deploy <code>${d.build_id}</code> to ${s.app} / ${s.target}?`
      : h`Roll back ${s.app} / ${s.target} to ${d.build_id ? h`<code>${d.build_id}</code>` : "the previous release"}?`;
  const hostCount = new Set(s.roles.flatMap((r) => r.hosts)).size;
  return page(
    `Confirm ${d.kind}`,
    viewer,
    h`<h1>${heading}</h1>
${s.confirm ? h`<p class="warn">${s.target} is marked <em>confirm</em>: check the hosts below.</p>` : ""}
${s.lock ? h`<p class="locked">Locked by ${s.lock.user}: ${s.lock.reason}. This ${d.kind} will wait in the queue until it is released.</p>` : ""}
${s.running || s.queue.length ? h`<p>The target is busy: this ${d.kind} joins the queue (${s.queue.length + (s.running ? 1 : 0)} ahead).</p>` : ""}
<p>${hostCount} host${hostCount === 1 ? "" : "s"}:</p>
<table class="hosts"><thead><tr><th>Role</th><th>Hosts</th></tr></thead><tbody>
${s.roles.map((r) => h`<tr><td>${r.name}</td><td>${r.hosts.join(", ")}</td></tr>`)}
</tbody></table>
<form method="post" action="${action}" class="confirm">
<input type="hidden" name="confirmed" value="1">
${d.kind === "deploy" ? h`<input type="hidden" name="build_id" value="${d.build_id}">` : d.build_id ? h`<input type="hidden" name="to" value="${d.build_id}">` : ""}
${
  d.kind === "deploy"
    ? h`<label>Roles <input name="roles" value="${d.roles ?? ""}" placeholder="all" pattern="[a-z][a-z0-9_,-]*"></label>
<label>Batch <input name="batch" value="${d.batch ?? ""}" placeholder="target's" pattern="[0-9]+%?"></label>`
    : ""
}
<button type="submit" class="primary">${d.kind === "deploy" ? "Deploy" : "Roll back"} to ${s.target}</button>
<a href="/">Cancel</a>
</form>`,
  );
}
