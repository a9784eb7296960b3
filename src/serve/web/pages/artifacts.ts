/** `/apps/:app/artifacts`: the app's uploaded builds, and a Deploy button per target. */
import type { ArtifactRow } from "../../model.js";
import { venvChange, type VenvChange } from "../derive.js";
import type { Viewer } from "../guard.js";
import { bytes, h, when, type Html } from "../html.js";
import { page } from "../layout.js";

export interface ArtifactsData {
  app: string;
  /** Newest first. */
  artifacts: ArtifactRow[];
  /** Targets the viewer sees, with each host's current build. */
  targets: { name: string; current: ReadonlyMap<string, string | null> }[];
}

const VENV_TEXT: Record<VenvChange, string> = { same: "same venv", changes: "venv changes", unknown: "venv: unknown", first: "no deploy on record" };

export function artifactsPage(viewer: Viewer, data: ArtifactsData): Html {
  const { app, artifacts, targets } = data;
  const rows = artifacts.map(
    (a) => h`<tr>
<td><code>${a.build_id}</code></td>
<td>${a.commit ? h`<code>${a.commit.slice(0, 12)}</code>` : h`<span class="muted">none</span>`}</td>
<td>${a.dirty ? h`<span class="badge warn">dirty</span>` : "clean"}</td>
<td><code title="${a.venv_key}">${a.venv_key.slice(0, 12)}</code></td>
<td>${bytes(a.size)}</td>
<td>${a.signer ?? h`<span class="muted">unsigned</span>`}</td>
<td>${when(a.uploaded_at)} by ${a.uploaded_by}</td>
${targets.map((t) => {
  const change = venvChange(a, t.current.values(), artifacts);
  const running = [...t.current.values()].every((b) => b === a.build_id) && t.current.size > 0;
  return h`<td class="deploy-cell"><span class="venv venv-${change}">${running ? "deployed" : VENV_TEXT[change]}</span>${
    viewer.can(app, t.name, "deployer")
      ? h`<form method="post" action="/apps/${encodeURIComponent(app)}/targets/${encodeURIComponent(t.name)}/deploys"><input type="hidden" name="build_id" value="${a.build_id}"><button type="submit">Deploy to ${t.name}</button></form>`
      : ""
  }</td>`;
})}
</tr>`,
  );
  return page(
    `${app} artifacts`,
    viewer,
    h`<h1>${app}: artifacts</h1>
${
  artifacts.length
    ? h`<table class="artifacts"><thead><tr><th>Build</th><th>Commit</th><th>Tree</th><th>Venv key</th><th>Size</th><th>Signer</th><th>Uploaded</th>${targets.map(
        (t) => h`<th>${t.name}</th>`,
      )}</tr></thead><tbody>${rows}</tbody></table>`
    : h`<p>No artifacts yet: <code>slipway push ARTIFACT --server URL</code> uploads one.</p>`
}`,
  );
}
