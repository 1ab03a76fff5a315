"""
The site's URLs plus views that run one query (tests only). With `?die=1` the view first
has the server terminate its own backend, as a PostgreSQL restart does to every connection:
that statement fails with the error a restart gives a query in flight.
"""

from django.db import connection
from django.http import HttpRequest, HttpResponse
from django.urls import include, path
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView


def backend_terminate() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(pg_backend_pid())")


def _backend_pid(request) -> int:
    if request.GET.get("die"):
        backend_terminate()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


class QueryAPIView(APIView):
    authentication_classes = []
    permission_classes = [AllowAny]

    def get(self, request):
        return Response({"pid": _backend_pid(request)})


def query_view(request: HttpRequest) -> HttpResponse:
    return HttpResponse(str(_backend_pid(request)))


urlpatterns = [
    path("api/test-db/drf", QueryAPIView.as_view()),
    path("api/test-db/plain", query_view),
    path("admin/test-db/", query_view),
    path("", include("integration_site.urls")),
]
