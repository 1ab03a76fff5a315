from datetime import timedelta

from django.tasks import task

from integration_site.schedule import periodic


# Keys only need to outlive AUDIT_IDEMPOTENCY_TTL_HOURS; ingest also ignores stale ones.
@periodic(every=timedelta(hours=1))
@task()
def audit_idempotency_keys_purge() -> int:
    from audits.services import audit_idempotency_keys_purge as purge

    return purge()


# Registered in AuditsConfig.ready() with AUDIT_ANCHOR_INTERVAL_SECONDS (settings are not read
# at import time).
@task()
def audit_chain_anchor() -> int | None:
    from audits.anchors import audit_chain_anchor as anchor

    written = anchor()
    return written.seq if written else None
