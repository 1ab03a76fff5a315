// An update job's live panel (the include admin/licensing/updatejob/progress.html), on the job
// page and on the Updates page: poll the job's JSON endpoint and grow the progress bar and log
// in place. When the job ends here, the panel fires "update-job:finished" (bubbling, with the
// job as detail) so the page around it can refresh what the job changed.
// A static file because the CSP allows no inline scripts.
(function () {
  "use strict";
  const ACTIVE = new Set(["queued", "running"]);
  const POLL_MS = 500;

  // "2026-12-07T07:36:31.690188Z" -> "2026-12-07 07:36:31", as the server renders times.
  function shortTime(value) {
    return value ? value.substring(0, 19).replace("T", " ") : "—";
  }

  function watch(root) {
    if (!root.dataset.statusUrl) return; // the viewer may not read jobs: the panel stays static
    const part = function (name) {
      return root.querySelector('[data-job="' + name + '"]');
    };
    const log = part("log");
    const logBox = part("log-box");
    const bar = part("progress");
    const text = part("progress-text");
    const state = part("state");
    const error = part("error");
    const times = part("times");
    let lastId = 0;
    log.querySelectorAll("li[data-id]").forEach(function (li) {
      lastId = Math.max(lastId, parseInt(li.dataset.id, 10));
    });

    function render(job) {
      bar.value = job.progress;
      bar.textContent = job.progress + "%";
      text.textContent = job.progress + "%";
      state.textContent = job.state;
      state.className = "job-state-" + job.state;
      root.dataset.state = job.state;
      times.textContent = shortTime(job.started_at) + " / " + shortTime(job.finished_at);
      if (job.error) {
        error.textContent = job.error;
        error.hidden = false;
      }
      job.log.forEach(function (line) {
        if (line.id <= lastId) return;
        const li = document.createElement("li");
        li.dataset.id = line.id;
        const time = document.createElement("time");
        time.textContent = line.at.substring(11, 19);
        li.appendChild(time);
        li.appendChild(document.createTextNode(" " + line.message));
        log.appendChild(li);
        lastId = line.id;
      });
      logBox.scrollTop = logBox.scrollHeight;
    }

    function poll() {
      if (!ACTIVE.has(root.dataset.state)) return;
      fetch(root.dataset.statusUrl + "?after=" + lastId, {
        credentials: "same-origin",
        headers: { Accept: "application/json" },
      })
        .then(function (response) {
          if (!response.ok) throw new Error("HTTP " + response.status);
          return response.json();
        })
        .then(function (job) {
          render(job);
          if (ACTIVE.has(job.state)) {
            setTimeout(poll, POLL_MS);
          } else {
            root.dispatchEvent(
              new CustomEvent("update-job:finished", { bubbles: true, detail: job }),
            );
          }
        })
        .catch(function () {
          setTimeout(poll, POLL_MS * 4);
        });
    }

    poll();
  }

  function start() {
    document.querySelectorAll("[data-update-job]").forEach(watch);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
