/** The page shell every dashboard page shares: head, navigation, who is logged in. */
import type { DeployState } from "../model.js";
import { h, type Html } from "./html.js";
import type { Viewer } from "./guard.js";

export interface PageOptions {
  /** Seconds: a reader without JavaScript sees a running deploy move on by reloading. */
  refresh?: number;
  /** Load /static/app.js (the live deploy page). */
  script?: boolean;
}

export function page(title: string, viewer: Viewer | undefined, body: Html, opts: PageOptions = {}): Html {
  return h`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} · slipway</title>
<link rel="stylesheet" href="/static/app.css">
${opts.refresh ? h`<noscript><meta http-equiv="refresh" content="${opts.refresh}"></noscript>` : ""}
${opts.script ? h`<script src="/static/app.js" defer></script>` : ""}
</head>
<body>
<header>
<a class="brand" href="/">slipway</a>
${
  viewer
    ? h`<nav><a href="/">Apps</a> <a href="/history">History</a></nav>
<form class="who" method="post" action="/logout"><span>${viewer.actor.user}</span> <button type="submit">Log out</button></form>`
    : ""
}
</header>
<main>
${body}
</main>
</body>
</html>`;
}

export function stateBadge(state: DeployState): Html {
  return h`<span class="state state-${state}">${state}</span>`;
}
