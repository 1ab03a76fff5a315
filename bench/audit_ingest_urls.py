"""
The site's URLs plus the bare-Django ceilings the ingest benchmark compares with, bench-only:

- /bench/audit-ceiling reads the body and does one INSERT per request (into bench_ceiling,
  created by the bench script): what a single-event POST costs in this deployment.
- /bench/audit-fast-ceiling does the same INSERT where the ingest fast path answers (a
  valid token with audit:write, ahead of the browser middleware, URL resolution and DRF):
  the like-for-like ceiling for `POST /audit/v1/event`, which skips all of those.
- /bench/audit-bulk-ceiling parses a bulk body and COPYs one row per event (its JSON text)
  into the same unindexed table: what moving 1,000 events from a request into PostgreSQL
  costs here, with no authentication, validation, chain or indexes.
"""

import json

from django.db import connection
from django.http import HttpResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from rest_framework.views import APIView

from integration_site.fast_path import TokenFastPathMixin
from integration_site.scopes import Scope
from integration_site.urls import urlpatterns as site_urlpatterns


@csrf_exempt
def audit_ceiling(request):
    return _ceiling_insert(request)


def _ceiling_insert(request) -> HttpResponse:
    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO bench_ceiling (body) VALUES (%s)", [request.body.decode()])
    return HttpResponse(status=201, content_type="text/plain; charset=utf-8")


class FastPathCeilingView(TokenFastPathMixin, APIView):
    required_scopes = {"POST": Scope.AUDIT_WRITE}

    def fast_post(self, request):
        return _ceiling_insert(request)

    def post(self, request):  # reached only without a valid token
        return _ceiling_insert(request)


@csrf_exempt
def audit_bulk_ceiling(request):
    events = json.loads(request.body)["events"]
    with (
        connection.cursor() as cursor,
        cursor.cursor.copy("COPY bench_ceiling (body) FROM STDIN") as copy,
    ):
        for event in events:
            copy.write_row([json.dumps(event)])
    return HttpResponse(status=201, content_type="text/plain; charset=utf-8")


urlpatterns = [
    path("bench/audit-ceiling", audit_ceiling),
    path("bench/audit-fast-ceiling", FastPathCeilingView.as_view()),
    path("bench/audit-bulk-ceiling", audit_bulk_ceiling),
    *site_urlpatterns,
]
