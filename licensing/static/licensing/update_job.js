// Update job page: poll the job's JSON endpoint and grow the progress bar and log in place.
// A static file because the CSP allows no inline scripts.
(function () {
  "use strict";
  const ACTIVE = new Set(["queued", "running"]);
  const POLL_MS = 500;

  function start() {
    const root = document.getElementById("update-job");
    if (!root) return;
    const log = document.getElementById("job-log");
    const bar = document.getElementById("job-progress");
    const text = document.getElementById("job-progress-text");
    const state = document.getElementById("job-state");
    const error = document.getElementById("job-error");
    const times = document.getElementById("job-times");
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
      times.textContent = (job.started_at || "—") + " / " + (job.finished_at || "—");
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
      log.scrollTop = log.scrollHeight;
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
          if (ACTIVE.has(job.state)) setTimeout(poll, POLL_MS);
        })
        .catch(function () {
          setTimeout(poll, POLL_MS * 4);
        });
    }

    poll();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
