// Foreman-style completion for the audit changelist's search box: as the user types, ask
// /api/audits/auto_complete_search for what can come next (fields, operators, values) and
// offer the suggested queries in the input's <datalist>. Loaded as a file: the CSP forbids
// inline scripts.
(function () {
  "use strict";
  const input = document.getElementById("searchbar");
  const list = document.getElementById("searchbar-suggestions");
  const problem = document.getElementById("searchbar_completion_error");
  if (!input || !list || !input.dataset.autocompleteUrl) {
    return;
  }
  let timer = null;
  let latest = 0;

  function show(items) {
    list.replaceChildren();
    problem.hidden = true;
    for (const item of items) {
      if (item.error) {
        problem.textContent = item.error;
        problem.hidden = false;
        continue;
      }
      const option = document.createElement("option");
      option.value = item.label;
      if (item.category) {
        option.label = item.label + " (" + item.category + ")";
      }
      list.appendChild(option);
    }
  }

  async function suggest() {
    const ticket = ++latest;
    const url = input.dataset.autocompleteUrl + "?search=" + encodeURIComponent(input.value);
    try {
      const response = await fetch(url, {
        credentials: "same-origin",
        headers: { Accept: "application/json" },
      });
      if (!response.ok || ticket !== latest) {
        return;
      }
      show(await response.json());
    } catch (error) {
      // Completion is a convenience; searching still works without it.
    }
  }

  input.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(suggest, 150);
  });
  input.addEventListener("focus", suggest);
})();
