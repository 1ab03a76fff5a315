// The entry scripts/build_js.sh bundles (with React and @retracedhq/logs-viewer) into
// audits/static/audits/retraced/logs-viewer.js. It mounts Retraced's RetracedEventsBrowser on
// every element carrying `data-retraced-logs-viewer`, with its props read from data attributes:
//   data-audit-log-token  a viewer token (GET /publisher/v1/project/<pid>/viewertoken)
//   data-host             the absolute /viewer/v1 URL of the site
//   data-header           the widget's title (default "Events")
//   data-refresh-url      the page's own endpoint answering POST with {"token": "<new token>"}
//   data-csrf-token       sent as X-CSRFToken on that POST, when the page has one (Django's)
// No inline script is needed, so the site's CSP (script-src 'self' + nonce) stays as it is.
import RetracedEventsBrowser from "@retracedhq/logs-viewer";
import { useCallback, useRef, useState } from "react";
import { createRoot } from "react-dom/client";

// logs-viewer calls refreshToken whenever a search comes back without edges (an expired
// session, but also a server error); a refresh that does not help must not become a loop.
const REFRESH_MIN_INTERVAL_MS = 10_000;

function LogsViewer({ initialToken, host, header, refreshUrl, csrfToken, onError }) {
  const [token, setToken] = useState(initialToken);
  const lastRefresh = useRef(0);
  const refreshToken = useCallback(async () => {
    if (!refreshUrl || Date.now() - lastRefresh.current < REFRESH_MIN_INTERVAL_MS) return;
    lastRefresh.current = Date.now();
    const headers = { Accept: "application/json" };
    if (csrfToken) headers["X-CSRFToken"] = csrfToken;
    try {
      const response = await fetch(refreshUrl, {
        method: "POST",
        headers,
        credentials: "same-origin",
      });
      if (!response.ok) throw new Error(`${response.status} ${response.statusText}`);
      const body = await response.json();
      onError("");
      setToken(body.token); // a new token: logs-viewer opens a new session and searches again
    } catch (error) {
      onError(`The audit log could not be refreshed (${error.message}); reload the page.`);
    }
  }, [refreshUrl, csrfToken, onError]);
  return (
    <RetracedEventsBrowser
      auditLogToken={token}
      host={host}
      header={header || "Events"}
      refreshToken={refreshToken}
    />
  );
}

function mount(element) {
  const data = element.dataset;
  const status = document.createElement("p");
  status.className = "retraced-logs-viewer-status";
  status.setAttribute("role", "status");
  const widget = document.createElement("div");
  element.replaceChildren(status, widget);
  const onError = (message) => {
    status.textContent = message;
  };
  createRoot(widget).render(
    <LogsViewer
      initialToken={data.auditLogToken}
      host={data.host}
      header={data.header}
      refreshUrl={data.refreshUrl}
      csrfToken={data.csrfToken}
      onError={onError}
    />,
  );
}

document.querySelectorAll("[data-retraced-logs-viewer]").forEach(mount);
