"""The monitors as periodic worker tasks (imported from MonitoringConfig.ready())."""

from datetime import timedelta

from django.conf import settings
from django.tasks import task

from audits.context import audit_context
from integration_site.schedule import periodic
from monitoring.engine import accepted_results_drain
from monitoring.handling.retention import handler_runs_purge
from monitoring.monitors import MONITOR_INTERVAL_SECONDS, keepalive_monitor_run, ttl_monitor_run


@periodic(every=timedelta(seconds=MONITOR_INTERVAL_SECONDS))
@task
def keepalive_monitor() -> int:
    with audit_context():
        return keepalive_monitor_run()


@periodic(every=timedelta(seconds=MONITOR_INTERVAL_SECONDS))
@task
def ttl_monitor() -> int:
    with audit_context():
        return ttl_monitor_run()


@periodic(every=timedelta(seconds=1))
@task
def results_drain() -> int:
    """Process the results POST /results queued (Sensu's `results` transport queue)."""
    # Bounded so the worker loop still beats its heartbeat and runs the monitors; the next
    # run is due a second later.
    with audit_context():
        return accepted_results_drain(seconds=settings.MONITORING_RESULTS_DRAIN_SECONDS)


@periodic(every=timedelta(hours=1))
@task
def handler_runs_retention() -> int:
    """Purge handler runs older than MONITORING_HANDLER_RUN_RETENTION_DAYS."""
    return handler_runs_purge()
