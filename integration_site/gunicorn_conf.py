"""gunicorn settings; each can be overridden by the usual GUNICORN_CMD_ARGS or flags."""

import multiprocessing
import os

from gunicorn.glogging import Logger

from integration_site.log_masking import secret_paths_mask

# Loopback unless HOST says otherwise: in production nginx sits in front (docs/deploy/nginx.conf)
# and reads each request whole, so no client ever talks to a sync worker directly. A flag
# (`--bind`) overrides this, as for every setting here.
bind = [f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}"]

# (2 x cores) + 1 is gunicorn's documented starting point.
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2 + 1))
threads = int(os.environ.get("GUNICORN_THREADS", 1))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", 60))
graceful_timeout = 20
accesslog = "-"
# Load the app in each worker, not before forking, so no database pool is ever shared
# between processes.
preload_app = False
# X-Forwarded-For handling is ours (integration_site.client_ip); gunicorn must not rewrite it.
forwarded_allow_ips = ""


class SecretPathMaskingLogger(Logger):
    """The access log with credentials carried in paths printed as [redacted] (log_masking)."""

    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        raw_uri = environ.get("RAW_URI", "")
        # Most requests carry no secret: one look at the path spares masking every atom.
        if secret_paths_mask(raw_uri) == raw_uri:
            return atoms
        return {
            name: secret_paths_mask(value) if isinstance(value, str) else value
            for name, value in atoms.items()
        }


logger_class = SecretPathMaskingLogger
