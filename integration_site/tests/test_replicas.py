"""
The read-replica router's decisions, without a replica (integration_site.replicas): what
stays on the primary, pinning after a write, the second answer after a replica failure, and
the health check's verdicts. Reads from a real streaming replica: tests/test_read_replica.py.
"""

import json
import time

import psycopg
import pytest
from django.contrib.auth.models import User
from django.contrib.sessions.models import Session
from django.db import DEFAULT_DB_ALIAS, connection, transaction
from django.db.utils import OperationalError
from django.http import HttpResponse
from django.test import RequestFactory
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from integration_site.models import WorkerHeartbeat
from integration_site.replicas import (
    PIN_COOKIE,
    REPLICA_ENGINE,
    ReplicaReadsMiddleware,
    ReplicaReadsMixin,
    ReplicaRouter,
    pin_seconds,
    primary_reads,
    replica_check,
    replica_error_seen,
    replica_reads,
    replica_reads_current,
)

# `one_replica` names a replica in settings.DATABASES for the router's eyes only.
pytestmark = pytest.mark.filterwarnings("ignore:Overriding setting DATABASES")

router = ReplicaRouter()


@pytest.fixture
def one_replica(settings):
    """settings.DATABASES names a replica (only its name and engine matter here)."""
    settings.DATABASES = {
        **settings.DATABASES,
        "replica_1": {**settings.DATABASES[DEFAULT_DB_ALIAS], "ENGINE": REPLICA_ENGINE},
    }
    settings.DATABASE_REPLICA_MAX_LAG_SECONDS = 5
    settings.DATABASE_REPLICA_CHECK_SECONDS = 3


def test_reads_go_to_the_primary_where_no_view_or_job_allowed_a_replica():
    assert router.db_for_read(WorkerHeartbeat) is None


def test_writes_go_to_the_primary_even_where_replica_reads_are_allowed():
    with replica_reads():
        assert router.db_for_write(WorkerHeartbeat) is None


@pytest.mark.parametrize("model", [User, Session])
def test_users_and_sessions_are_read_on_the_primary_even_where_replica_reads_are_allowed(model):
    with replica_reads() as reads:
        assert router.db_for_read(model) is None
    assert not reads.picked


@pytest.mark.django_db(transaction=True)
def test_reads_inside_a_transaction_on_the_primary_stay_there():
    with replica_reads() as reads, transaction.atomic():
        assert router.db_for_read(WorkerHeartbeat) is None
    assert not reads.picked


def test_a_job_redone_on_the_primary_reads_nothing_from_a_replica():
    with primary_reads() as reads:
        assert reads.primary_only
        assert router.db_for_read(WorkerHeartbeat) is None


def test_a_replica_is_never_migrated(one_replica):
    assert router.allow_migrate("replica_1", "audits") is False
    assert router.allow_migrate(DEFAULT_DB_ALIAS, "audits") is None


def _seen_by_the_view(request):
    """Run the middleware around a view that reports the request's replica use."""
    seen = []

    def view(request):
        seen.append(replica_reads_current())
        return HttpResponse("ok")

    return ReplicaReadsMiddleware(view)(request), seen


def test_a_browser_that_posted_is_pinned_to_the_primary_for_the_lag_limit_and_a_check(one_replica):
    request = RequestFactory().post("/admin/licensing/option/1/change/")
    request.COOKIES["sessionid"] = "x"
    response, _ = _seen_by_the_view(request)
    cookie = response.cookies[PIN_COOKIE]
    assert cookie["max-age"] == pin_seconds() == 8
    assert cookie["httponly"]
    assert int(time.time()) + 7 <= int(cookie.value) <= int(time.time()) + 8


def test_an_api_client_without_cookies_is_not_pinned(one_replica):
    response, _ = _seen_by_the_view(RequestFactory().post("/audit/v1/event"))
    assert PIN_COOKIE not in response.cookies


def test_a_get_is_not_pinned(one_replica):
    request = RequestFactory().get("/admin/")
    request.COOKIES["sessionid"] = "x"
    response, _ = _seen_by_the_view(request)
    assert PIN_COOKIE not in response.cookies


def test_a_pinned_browser_reads_the_primary_until_the_pin_ends(one_replica):
    request = RequestFactory().get("/admin/audits/auditevent/")
    request.COOKIES[PIN_COOKIE] = str(int(time.time()) + 5)
    _, seen = _seen_by_the_view(request)
    assert seen[0].primary_only
    request.COOKIES[PIN_COOKIE] = str(int(time.time()) - 1)
    _, seen = _seen_by_the_view(request)
    assert not seen[0].primary_only


@pytest.mark.parametrize("value", ["", "soon", "-5", "١٢٣", "9" * 400, "1e99"])
def test_a_garbled_pin_cookie_pins_nothing_and_breaks_nothing(one_replica, value):
    request = RequestFactory().get("/api/audits")
    request.COOKIES[PIN_COOKIE] = value
    response, seen = _seen_by_the_view(request)
    assert response.status_code == 200
    assert not seen[0].primary_only


def test_without_replicas_the_middleware_leaves_requests_alone():
    request = RequestFactory().post("/admin/")
    request.COOKIES["sessionid"] = "x"
    response, seen = _seen_by_the_view(request)
    assert seen == [None]
    assert PIN_COOKIE not in response.cookies


def _lost_connection_error() -> OperationalError:
    """Django's error for a refused connection, as a replica that went away raises it."""
    try:
        psycopg.connect(host="127.0.0.1", port=1, connect_timeout=2)
    except psycopg.OperationalError as refused:
        error = OperationalError(*refused.args)
        error.__cause__ = refused
        return error
    raise AssertionError("port 1 accepted a connection")


def _failing_once(request):
    """A view whose first answer meets a replica that went away."""
    runs = []

    def view(request):
        reads = replica_reads_current()
        runs.append(reads.primary_only)
        if len(runs) == 1:
            replica_error_seen("replica_1", _lost_connection_error())
            return HttpResponse("database unavailable", status=503)
        return HttpResponse("from the primary")

    return ReplicaReadsMiddleware(view)(request), runs


def test_a_get_whose_replica_went_away_is_answered_again_from_the_primary(one_replica):
    response, runs = _failing_once(RequestFactory().get("/api/audits"))
    assert runs == [False, True]
    assert response.status_code == 200
    assert response.content == b"from the primary"


def test_a_post_that_may_have_written_is_not_answered_twice(one_replica):
    response, runs = _failing_once(RequestFactory().post("/api/bookmarks"))
    assert runs == [False]
    assert response.status_code == 503


def test_a_statement_timeout_on_a_replica_is_not_a_replica_failure(one_replica):
    with replica_reads() as reads:
        error = OperationalError("canceling statement due to statement timeout")
        error.__cause__ = psycopg.errors.QueryCanceled("canceling statement")
        replica_error_seen("replica_1", error)
    assert not reads.failed


@pytest.mark.django_db
@pytest.mark.postgres
def test_the_health_check_refuses_a_server_that_is_not_a_replica(settings):
    status = replica_check(connection.get_connection_params())
    assert not status.usable
    assert status.problem == "not a streaming replica, or received nothing"


def test_the_health_check_of_a_replica_that_is_down_fails_at_once():
    started = time.monotonic()
    status = replica_check({"host": "127.0.0.1", "port": 1, "dbname": "x", "connect_timeout": 2})
    assert not status.usable
    assert status.problem.startswith("check failed:")
    assert time.monotonic() - started < 10


def test_a_query_by_post_whose_replica_went_away_is_answered_again_with_its_body(one_replica):
    """GraphQL searches are POSTs: their views list POST in `replica_read_methods`, and the
    middleware keeps the body so the second answer can read it too."""
    bodies = []

    class Search(ReplicaReadsMixin, APIView):
        replica_read_methods = ("GET", "HEAD", "POST")
        authentication_classes = []
        permission_classes = [AllowAny]

        def post(self, request):
            bodies.append(request.data)
            if len(bodies) == 1:
                replica_error_seen("replica_1", _lost_connection_error())
                return Response(status=503)
            return Response({"answered": "from the primary"})

    view = Search.as_view()
    middleware = ReplicaReadsMiddleware(
        lambda request: middleware.process_view(request, view, (), {}) or view(request)
    )
    request = RequestFactory().post(
        "/graphql", data=json.dumps({"query": "{ search }"}), content_type="application/json"
    )
    response = middleware(request)
    assert response.status_code == 200
    assert bodies == [{"query": "{ search }"}, {"query": "{ search }"}]


def test_an_api_view_reads_replicas_only_after_authenticating_and_only_for_its_methods(
    one_replica,
):
    seen = []

    class Search(ReplicaReadsMixin, APIView):
        authentication_classes = []
        permission_classes = [AllowAny]

        def get(self, request):
            seen.append(replica_reads_current().allowed)
            return Response({})

        post = get

    view = Search.as_view()
    middleware = ReplicaReadsMiddleware(view)
    middleware(RequestFactory().get("/search"))
    middleware(RequestFactory().post("/search", data={}))
    assert seen == [True, False]
