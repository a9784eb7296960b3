/** `/`: every app and target the viewer may see — what each host runs, lock, queue, last deploy. */
import type { DeployRow, TargetStatus } from "../../model.js";
import type { Viewer } from "../guard.js";
import { h, when, type Html } from "../html.js";
import { page, stateBadge } from "../layout.js";

export interface TargetCard {
  status: TargetStatus;
  /** Each host's current build (null: none); hosts absent were never seen deployed. */
  current: ReadonlyMap<string, string | null>;
}

export interface AppsData {
  apps: { name: string; targets: TargetCard[] }[];
}

const target = (app: string, t: string) => `/apps/${encodeURIComponent(app)}/targets/${encodeURIComponent(t)}`;

export function appsPage(viewer: Viewer, data: AppsData): Html {
  const body = data.apps.length
    ? data.apps.map(
        (a) => h`<section class="app">
<h2>${a.name} <a class="small" href="/apps/${encodeURIComponent(a.name)}/artifacts">artifacts</a></h2>
<div class="targets">${a.targets.map((t) => targetCard(viewer, t))}</div>
</section>`,
      )
    : h`<p>No apps you may see. Ask an admin for a token with a grant.</p>`;
  return page("Apps", viewer, h`<h1>Apps and targets</h1>${body}`);
}

function targetCard(viewer: Viewer, card: TargetCard): Html {
  const s = card.status;
  const deployer = viewer.can(s.app, s.target, "deployer");
  return h`<article class="target" id="target-${s.app}-${s.target}">
<h3>${s.target}${s.confirm ? h` <span class="badge">confirm</span>` : ""}</h3>
${lockBlock(viewer, s, deployer)}
${s.running ? h`<p>Running: ${deployLink(s.running)}</p>` : ""}
${
  s.queue.length
    ? h`<p>Queue:</p><ol class="queue">${s.queue.map(
        (q) =>
          h`<li>${deployLink(q)} by ${q.user}${
            deployer ? h` <form class="inline" method="post" action="/deploys/${q.id}/cancel"><button type="submit">Cancel</button></form>` : ""
          }</li>`,
      )}</ol>`
    : ""
}
<p>Last deploy: ${s.last ? h`${deployLink(s.last)} by ${s.last.user} ${when(s.last.finished_at ?? s.last.created_at)}` : "none"}</p>
<table class="hosts"><thead><tr><th>Role</th><th>Host</th><th>Current build</th></tr></thead><tbody>
${s.roles.flatMap((r) =>
  r.hosts.map((host) => {
    const cur = card.current.get(host);
    return h`<tr><td>${r.name}</td><td>${host}</td><td>${cur === undefined ? h`<span class="muted">unknown</span>` : cur === null ? h`<span class="muted">none</span>` : h`<code>${cur}</code>`}</td></tr>`;
  }),
)}
</tbody></table>
</article>`;
}

function lockBlock(viewer: Viewer, s: TargetStatus, deployer: boolean): Html {
  if (s.lock) {
    const mine = s.lock.user === viewer.actor.user;
    const admin = viewer.can(s.app, s.target, "admin");
    return h`<p class="locked">Locked by ${s.lock.user} ${when(s.lock.at)}: ${s.lock.reason}</p>
${
  deployer && (mine || admin)
    ? h`<form method="post" action="${target(s.app, s.target)}/unlock">${
        mine ? "" : h`<input name="reason" required placeholder="why release ${s.lock.user}'s lock" aria-label="reason">`
      } <button type="submit">Unlock</button></form>`
    : ""
}`;
  }
  return deployer
    ? h`<form method="post" action="${target(s.app, s.target)}/lock"><input name="reason" required placeholder="reason" aria-label="lock reason"> <button type="submit">Lock</button></form>`
    : h``;
}

export function deployLink(d: DeployRow): Html {
  const what = d.kind === "rollback" ? `rollback${d.build_id ? ` to ${d.build_id}` : ""}` : d.build_id;
  return h`<a href="/deploys/${d.id}">#${d.id} ${what}</a> ${stateBadge(d.state)}${d.position ? h` <span class="muted">position ${d.position}</span>` : ""}`;
}
