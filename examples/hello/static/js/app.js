/*
 * hello — front-end script.
 *
 * Polls /health and shows which build is serving, so during a deploy you can
 * watch the page switch from the old build to the new one. Deliberately
 * verbose; `slipway build` minifies it (build.minify).
 */
(function () {
    "use strict";

    // How often to ask the server, in milliseconds.
    var POLL_INTERVAL_MS = 5000;

    /**
     * Show the result of one health check.
     * @param {HTMLElement} element  the badge to update
     * @param {boolean} healthy      whether the check passed
     * @param {string} message       text to show
     */
    function showHealth(element, healthy, message) {
        element.textContent = message;
        element.classList.toggle("is-ok", healthy);
        element.classList.toggle("is-bad", !healthy);
    }

    /** Fetch /health once and update the page. */
    function checkHealth() {
        var badge = document.getElementById("health");
        var buildId = document.getElementById("build-id");
        if (!badge) {
            return;
        }

        fetch("/health", { cache: "no-store" })
            .then(function (response) {
                if (!response.ok) {
                    throw new Error("HTTP " + response.status);
                }
                return response.json();
            })
            .then(function (body) {
                if (buildId) {
                    buildId.textContent = body.build_id;
                }
                showHealth(badge, true, "healthy (build " + body.build_id + ")");
            })
            .catch(function (error) {
                showHealth(badge, false, "unhealthy: " + error.message);
            });
    }

    document.addEventListener("DOMContentLoaded", function () {
        checkHealth();
        window.setInterval(checkHealth, POLL_INTERVAL_MS);
    });
})();
