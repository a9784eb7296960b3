/**
 * The dashboard's static files, kept here as strings so that the bundled CLI carries them
 * (no files to copy beside dist/). app.js is the whole of the progressive enhancement: the
 * live deploy page follows the deploy's SSE stream and pulls server-rendered rows; every
 * page reads fine without it.
 */
export const APP_JS = `// slipway dashboard: follow a running deploy live. Markup comes from the server (escaped there).
(function () {
  "use strict";
  var live = document.getElementById("live");
  if (!live || !window.EventSource || !window.fetch) return;
  var state = live.getAttribute("data-state");
  if (state !== "queued" && state !== "running") return;
  var id = live.getAttribute("data-deploy");
  var busy = false;
  var again = false;
  // The stream starts after the events the page already shows (it resumes by Last-Event-ID after that).
  var source = new EventSource("/api/deploys/" + encodeURIComponent(id) + "/events?after=" + encodeURIComponent(live.getAttribute("data-after") || "0"));

  function finished(s) {
    return s !== "queued" && s !== "running";
  }

  // Fetch what changed since the last row shown; one request at a time, one more if events came meanwhile.
  function pull() {
    if (busy) {
      again = true;
      return;
    }
    busy = true;
    var after = live.getAttribute("data-after") || "0";
    fetch("/deploys/" + encodeURIComponent(id) + "/live?after=" + encodeURIComponent(after), { credentials: "same-origin" })
      .then(function (res) {
        return res.ok ? res.text() : Promise.reject(new Error("HTTP " + res.status));
      })
      .then(function (text) {
        var t = document.createElement("template");
        t.innerHTML = text;
        var frag = t.content.firstElementChild;
        if (!frag) return;
        ["summary", "actions", "hosts"].forEach(function (part) {
          var next = frag.querySelector("#" + part);
          var cur = document.getElementById(part);
          if (next && cur) cur.replaceWith(next);
        });
        var log = document.querySelector("#log tbody");
        frag.querySelectorAll("tr[data-seq]").forEach(function (row) {
          log.appendChild(row);
          row.scrollIntoView({ block: "nearest" });
        });
        live.setAttribute("data-after", frag.getAttribute("data-after") || after);
        // Finished: close the stream and reload for the final page (its buttons and totals).
        if (finished(frag.getAttribute("data-state"))) {
          source.close();
          location.reload();
        }
      })
      .catch(function () {})
      .finally(function () {
        busy = false;
        if (again) {
          again = false;
          pull();
        }
      });
  }

  // The API names its events "event" (one per deploy event) and "end" (the deploy finished).
  source.addEventListener("event", pull);
  source.addEventListener("end", pull);
  // The stream closes at the end (the browser would reconnect): one pull tells whether it is over.
  source.onerror = pull;
})();
`;

export const APP_CSS = `:root { font-family: system-ui, sans-serif; color: #1d2330; background: #f7f8fa; }
body { margin: 0; }
header { display: flex; gap: 1.5rem; align-items: center; padding: .6rem 1.2rem; background: #1d2330; color: #fff; }
header a { color: #fff; text-decoration: none; margin-right: 1rem; }
header .brand { font-weight: 700; }
header .who { margin-left: auto; display: flex; gap: .5rem; align-items: center; }
main { padding: 1rem 1.2rem; }
h1 { font-size: 1.4rem; } h2 { font-size: 1.15rem; } h3 { margin: 0 0 .5rem; }
.small { font-size: .8rem; font-weight: normal; }
.targets { display: flex; flex-wrap: wrap; gap: 1rem; }
.target { background: #fff; border: 1px solid #d8dce3; border-radius: 6px; padding: .8rem; min-width: 20rem; }
table { border-collapse: collapse; background: #fff; }
th, td { border: 1px solid #d8dce3; padding: .25rem .5rem; text-align: left; vertical-align: top; }
.log td { border: none; border-bottom: 1px solid #eef0f3; font-size: .85rem; }
.log pre { margin: 0; white-space: pre-wrap; word-break: break-word; }
.log tr.failed, .log tr.warn { background: #fff4e5; }
.state { padding: 0 .4rem; border-radius: 3px; font-size: .85rem; background: #e5e8ee; }
.state-succeeded { background: #d9f2dd; } .state-failed, .state-interrupted { background: #fbdada; }
.state-running { background: #dbe8ff; } .state-queued { background: #fff1c2; }
.badge { font-size: .75rem; padding: 0 .3rem; border-radius: 3px; background: #e5e8ee; }
.badge.warn, .warn { background: #fff1c2; }
.error { color: #a11; } .muted { color: #778; } .locked { color: #8a4b00; }
.step-done { color: #176b2c; } .step-failed { color: #a11; } .step-start { color: #1f4fa8; }
.summary { display: grid; grid-template-columns: max-content 1fr; gap: .2rem 1rem; }
.summary dd { margin: 0; } .summary pre { margin: 0; white-space: pre-wrap; }
form.inline { display: inline; }
.actions { margin: .8rem 0; }
.confirm { margin-top: 1rem; }
.filters, .confirm, .login { display: flex; flex-wrap: wrap; gap: .6rem; align-items: center; margin-bottom: 1rem; }
button.primary { background: #1f4fa8; color: #fff; border: 0; padding: .4rem .9rem; border-radius: 4px; }
.deploy-cell form { margin-top: .3rem; }
`;
