import logging
from datetime import timedelta

from django.conf import settings
from django.db import connection
from django.db.utils import DatabaseError
from django.http import HttpRequest, HttpResponseRedirect
from django.templatetags.static import static
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from integration_site.models import WorkerHeartbeat
from integration_site.scopes import Scope

logger = logging.getLogger(__name__)


def favicon(request: HttpRequest) -> HttpResponseRedirect:
    """
    Browsers ask for /favicon.ico on every admin page; a 404 there is noise in the log and an
    error in the browser's console. The icon itself is a static file (hashed, cached).
    """
    return HttpResponseRedirect(static("integration_site/favicon.svg"))


def health_problems() -> list[str]:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError:
        # The driver's message can name hosts, ports, users and file paths: the probe's caller
        # learns that the database is down, the site's log says why.
        logger.exception("health check: the database did not answer")
        return ["database: not answering (the site's log has the error)"]
    horizon = timezone.now() - timedelta(seconds=settings.WORKER_HEARTBEAT_MAX_AGE_SECONDS)
    fresh = WorkerHeartbeat.objects.filter(last_seen_at__gte=horizon)
    # Only a worker of the default queue drains results and runs the monitors and the audit
    # chain; a live update-jobs worker alone leaves all of that stopped, so it is no health.
    if not fresh.filter(periodic=True).exists():
        problem = (
            "worker: no task worker of the default queue (results, monitors, audit chain) has "
            f"checked in within {settings.WORKER_HEARTBEAT_MAX_AGE_SECONDS} seconds"
        )
        if fresh.exists():
            problem += " (only workers of dedicated queues such as updates are alive)"
        return [problem]
    return []


class HealthView(APIView):
    """Sensu-style health: 204 when healthy, 412 with the list of problems otherwise."""

    required_scopes = {"GET": Scope.HEALTH_READ}

    @extend_schema(responses={204: None, 412: dict})
    def get(self, request):
        problems = health_problems()
        if problems:
            return Response(
                {"message": "Unhealthy: " + "; ".join(problems), "problems": problems},
                status=412,
            )
        return Response(status=204)
