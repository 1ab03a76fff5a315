// The monitoring overview: refresh the regions in place from the JSON endpoint every N
// seconds and when the filter changes; post Resolve, Silence and Clear without a reload.
// A static file because the CSP allows no inline scripts.
(function () {
  "use strict";
  const REGIONS = ["counts", "clients", "events", "silences"];
  const TYPING_PAUSE_MS = 250;

  function start() {
    const root = document.getElementById("monitoring-overview");
    if (!root) return;
    const refreshUrl = root.dataset.refreshUrl;
    const every = (parseInt(root.dataset.refreshSeconds, 10) || 10) * 1000;
    const filter = document.getElementById("overview-filter");
    const message = document.getElementById("overview-message");
    const dialog = document.getElementById("silence-dialog");
    let timer = null;
    let typing = null;
    let generation = 0;
    let opener = null;

    function query() {
      const params = new URLSearchParams(new FormData(filter));
      for (const [key, value] of Array.from(params.entries())) {
        if (!value) params.delete(key);
      }
      return params.toString();
    }

    function announce(text, isError) {
      message.textContent = text;
      message.classList.toggle("is-error", Boolean(isError));
    }

    function schedule() {
      clearTimeout(timer);
      timer = setTimeout(refresh, every);
    }

    // Replace a region's markup, keeping the checked boxes and the focused control (by id);
    // if the focused control is gone (its event resolved), focus goes to the region's heading.
    function replace(name, html) {
      const region = document.getElementById("overview-" + name);
      const active = document.activeElement;
      const hadFocus = active && region.contains(active);
      const focusId = hadFocus ? active.id : "";
      const checked = Array.from(region.querySelectorAll("input[type=checkbox]:checked"), function (box) {
        return box.id;
      });
      region.innerHTML = html;
      checked.forEach(function (id) {
        const box = document.getElementById(id);
        if (box) box.checked = true;
      });
      if (hadFocus) {
        const again = focusId && document.getElementById(focusId);
        const heading = region.closest("section") && region.closest("section").querySelector("h2");
        if (again) again.focus();
        else if (heading) {
          heading.setAttribute("tabindex", "-1");
          heading.focus();
        }
      }
    }

    function refresh() {
      // A refresh would rebuild the rows a dialog is about; it waits until it closes.
      if (dialog && dialog.open) return schedule();
      const mine = ++generation;
      const search = query();
      return fetch(refreshUrl + (search ? "?" + search : ""), {
        credentials: "same-origin",
        headers: { Accept: "application/json" },
      })
        .then(function (response) {
          if (!response.ok) throw new Error("HTTP " + response.status);
          return response.json();
        })
        .then(function (data) {
          if (mine !== generation) return; // a newer filter won
          REGIONS.forEach(function (name) {
            replace(name, data.html[name]);
          });
          root.dataset.refreshedAt = data.refreshed_at;
          root.dataset.refreshes = String((parseInt(root.dataset.refreshes, 10) || 0) + 1);
        })
        .catch(function () {
          root.dataset.refreshedAt = "";
        })
        .finally(schedule);
    }

    function selected() {
      return Array.from(root.querySelectorAll("#overview-events input[name=event]:checked"), function (box) {
        return box.value;
      });
    }

    function post(form, submitter) {
      const body = new FormData(form, submitter);
      // getAttribute: the forms hold an input named "action", which shadows form.action.
      return fetch(form.getAttribute("action"), {
        method: "POST",
        body: body,
        credentials: "same-origin",
        headers: { Accept: "application/json" },
      })
        .then(function (response) {
          return response.json().then(function (data) {
            announce(data.message, !data.ok);
          });
        })
        .catch(function () {
          announce("The request failed; try again.", true);
        })
        .then(refresh);
    }

    function openSilence(ids, label) {
      const holder = document.getElementById("silence-dialog-events");
      holder.textContent = "";
      ids.forEach(function (id) {
        const input = document.createElement("input");
        input.type = "hidden";
        input.name = "event";
        input.value = id;
        holder.appendChild(input);
      });
      document.getElementById("silence-dialog-what").textContent = label;
      opener = document.activeElement;
      dialog.showModal();
      document.getElementById("id_reason").focus();
    }

    function closeSilence() {
      dialog.close();
    }

    filter.addEventListener("submit", function (event) {
      event.preventDefault();
      history.replaceState(null, "", "?" + query());
      refresh();
    });
    filter.addEventListener("input", function () {
      clearTimeout(typing);
      typing = setTimeout(function () {
        history.replaceState(null, "", "?" + query());
        refresh();
      }, TYPING_PAUSE_MS);
    });

    root.addEventListener("change", function (event) {
      if (event.target.id !== "events-select-all") return;
      root.querySelectorAll("#overview-events input[name=event]").forEach(function (box) {
        box.checked = event.target.checked;
      });
    });

    root.addEventListener("click", function (event) {
      const one = event.target.closest("[data-silence-event]");
      if (one) {
        const id = one.dataset.silenceEvent;
        const name = document.getElementById("event-" + id + "-name").textContent;
        openSilence([id], "Silence client:" + name + " (the entry client:<client>:<check>).");
        return;
      }
      if (event.target.closest("[data-silence-selected]")) {
        const ids = selected();
        if (!ids.length) return announce("Select the events to silence first.", true);
        openSilence(ids, "Silence " + ids.length + " selected event(s), each as client:<client>:<check>.");
        return;
      }
      if (event.target.id === "silence-cancel") closeSilence();
    });

    document.addEventListener("submit", function (event) {
      const form = event.target;
      if (!form.matches("form[data-overview-post]")) return;
      event.preventDefault();
      if (form.id === "overview-bulk" && !selected().length) {
        return announce("Select the events to resolve first.", true);
      }
      if (form.id === "silence-form") closeSilence();
      post(form, event.submitter);
    });

    if (dialog) {
      dialog.addEventListener("close", function () {
        if (opener && document.contains(opener)) opener.focus();
        opener = null;
        schedule();
      });
    }

    schedule();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
