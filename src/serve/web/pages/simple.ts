/** The login form and the error page. */
import type { Viewer } from "../guard.js";
import { h, type Html } from "../html.js";
import { page } from "../layout.js";

export function loginPage(error?: string): Html {
  return page(
    "Log in",
    undefined,
    h`<h1>Log in</h1>
${error ? h`<p class="error" role="alert">${error}</p>` : ""}
<form method="post" action="/login" class="login">
<label>Token <input type="password" name="token" required autocomplete="current-password" autofocus></label>
<button type="submit" class="primary">Log in</button>
</form>
<p class="muted">A token from <code>slipway serve token create</code>. It is exchanged for a session cookie and not kept in the browser.</p>`,
  );
}

const TITLES: Record<number, string> = {
  400: "Bad request",
  403: "Forbidden",
  404: "Not found",
  409: "Conflict",
  422: "Unprocessable",
  429: "Too many attempts",
};

export function errorPage(viewer: Viewer | undefined, status: number, message: string, hint?: string): Html {
  const title = TITLES[status] ?? (status >= 500 ? "Server error" : "Error");
  return page(
    title,
    viewer,
    h`<h1>${status} ${title}</h1>
<p class="error">${message}</p>
${hint ? h`<p>${hint}</p>` : ""}
<p><a href="/">Back to the apps</a></p>`,
  );
}
