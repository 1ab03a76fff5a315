"""The site's URLs plus views whose query outlasts a tiny statement time limit (tests only)."""

from django.db import connection, transaction
from django.http import HttpRequest, HttpResponse
from django.urls import include, path
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView


def _sleep_query() -> None:
    # In a savepoint: the cancelled statement aborts only it, so the test's own transaction
    # (pytest-django wraps each test in one) stays usable for the rest of the request.
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_sleep(5)")


class SlowQueryAPIView(APIView):
    authentication_classes = []
    permission_classes = [AllowAny]

    def get(self, request):
        _sleep_query()
        return Response({"slept": True})


def slow_query_view(request: HttpRequest) -> HttpResponse:
    _sleep_query()
    return HttpResponse("slept")


urlpatterns = [
    path("api/test-slow/drf", SlowQueryAPIView.as_view()),
    path("api/test-slow/plain", slow_query_view),
    path("admin/test-slow/", slow_query_view),
    path("", include("integration_site.urls")),
]
