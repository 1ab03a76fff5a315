"""Handler runs are kept MONITORING_HANDLER_RUN_RETENTION_DAYS, then purged in batches."""

from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from monitoring.models import HandlerRun

PURGE_BATCH_SIZE = 1000
# One run purges at most this many batches; the next hourly run takes the rest.
PURGE_MAX_BATCHES = 100


def handler_runs_purge(*, now=None, batch_size: int = PURGE_BATCH_SIZE) -> int:
    """
    Delete the runs created before the retention horizon, oldest first, one bounded batch
    per statement (a long table lock or a huge transaction would stall the dispatcher);
    returns how many were deleted.
    """
    now = now or timezone.now()
    horizon = now - timedelta(days=settings.MONITORING_HANDLER_RUN_RETENTION_DAYS)
    deleted = 0
    for _ in range(PURGE_MAX_BATCHES):
        ids = list(
            HandlerRun.objects.filter(created_at__lt=horizon)
            .order_by("created_at")
            .values_list("id", flat=True)[:batch_size]
        )
        if not ids:
            break
        deleted += HandlerRun.objects.filter(pk__in=ids).delete()[0]
        if len(ids) < batch_size:
            break
    return deleted
