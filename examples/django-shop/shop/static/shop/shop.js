// Asks /health which build answers and shows it: a page from one release may be served
// by a host still running another during a rolling deploy.
(function () {
    "use strict";

    var target = document.getElementById("health");

    function show(text, healthy) {
        target.textContent = text;
        if (healthy) {
            target.classList.add("ok");
        }
    }

    fetch("/health", { headers: { Accept: "application/json" } })
        .then(function (response) {
            return response.json();
        })
        .then(function (body) {
            show("healthy: build " + body.build_id, body.status === "ok");
        })
        .catch(function (error) {
            show("health check failed: " + error, false);
        });
})();
