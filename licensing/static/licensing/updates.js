// The Updates page: when the job shown on it ends (update_job.js fires "update-job:finished"),
// fetch the page again and swap in its sections marked data-updates-refresh (current version,
// available updates, history), so the new version shows without a reload that would lose the
// job's log and the keyboard focus.
(function () {
  "use strict";

  function refresh() {
    fetch(window.location.pathname, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.text();
      })
      .then(function (html) {
        const fresh = new DOMParser().parseFromString(html, "text/html");
        document.querySelectorAll("[data-updates-refresh]").forEach(function (section) {
          const replacement = fresh.getElementById(section.id);
          if (replacement) section.replaceWith(document.importNode(replacement, true));
        });
        document.body.dataset.updatesRefreshed = "true";
      })
      .catch(function () {
        // The job's own panel already shows the outcome; a later visit shows the rest.
      });
  }

  document.addEventListener("update-job:finished", refresh);
})();
