from datetime import timedelta

from django.tasks import task

from integration_site.schedule import periodic

# A queue of its own (settings.WORKER_DEDICATED_QUEUES), served by the worker of long work
# (`manage.py worker --queue-name updates,audits`): an export or a walk of the chain may take
# minutes, and the main worker must keep draining results meanwhile. Keep the tasks' names:
# queued rows store them.
AUDITS_QUEUE = "audits"


# Keys only need to outlive AUDIT_IDEMPOTENCY_TTL_HOURS; ingest also ignores stale ones.
@periodic(every=timedelta(hours=1))
@task()
def audit_idempotency_keys_purge() -> int:
    from audits.services import audit_idempotency_keys_purge as purge

    return purge()


@task(queue_name=AUDITS_QUEUE)
def audit_export_run(export_id: int) -> str:
    """Write one AuditExport's file; progress is written as it goes."""
    from audits.jobs import audit_export_execute

    return audit_export_execute(export_id=export_id)


@task(queue_name=AUDITS_QUEUE)
def audit_verification_run(verification_id: int) -> str:
    """Walk the hash chain for one AuditVerification; progress is written as it goes."""
    from audits.jobs import audit_verification_execute

    return audit_verification_execute(verification_id=verification_id)


# Often enough that a dead worker's job is failed within a minute of its last heartbeat.
@periodic(every=timedelta(seconds=30))
@task()
def audit_jobs_reap() -> list[str]:
    """Fail exports and verifications whose worker died mid-job."""
    from audits.jobs import audit_jobs_fail_stale

    return audit_jobs_fail_stale()


# Files live AUDIT_EXPORT_RETENTION_HOURS (hours): an hourly sweep keeps them within one more.
@periodic(every=timedelta(hours=1))
@task()
def audit_exports_purge() -> int:
    """Delete export files older than AUDIT_EXPORT_RETENTION_HOURS."""
    from audits.jobs import audit_exports_purge as purge

    return purge()


# Registered in AuditsConfig.ready() with AUDIT_ANCHOR_INTERVAL_SECONDS (settings are not read
# at import time).
@task()
def audit_chain_anchor() -> int:
    from audits.anchors import audit_chain_anchor as anchor

    written = anchor()
    return len(written)


# The dashboard adds the events not rolled up yet to the counters on every view: a minute's
# backlog keeps that tail small.
@periodic(every=timedelta(minutes=1))
@task()
def audit_counts_roll_up() -> int:
    """Roll up newly linked events into the dashboard's hourly counters (audits/counters.py)."""
    from audits.counters import audit_counts_roll_up as roll_up

    return roll_up()


# Partitions are made AUDIT_PARTITION_PREMAKE intervals ahead: an hourly run leaves months of
# slack before an insert would fall into the DEFAULT partition.
@periodic(every=timedelta(hours=1))
@task()
def audit_partitions_maintain() -> list[str]:
    """Create the event table's partitions ahead of time (audits/partitions.py)."""
    from audits.partitions import audit_partitions_ensure

    return audit_partitions_ensure()
