"""
monitoring/services.py beyond what the API tests reach: the client delete's resolves, lock
order and retries against concurrent engine runs (its 409 is tested in monitoring/sensu/tests).
"""

import threading

import pytest
from django.db import connection

from audits.models import AuditEvent
from monitoring.engine import result_process
from monitoring.models import Client, Event
from monitoring.tests.fixtures import make_event

pytestmark = pytest.mark.django_db


# --- Client delete never deletes an event without its resolve ------------------------------


def sensu_event_actions(name: str) -> list[str]:
    events = AuditEvent.objects.filter(target_type="SensuEvent", target_name=name)
    return list(events.order_by("seq").values_list("action", flat=True))


def test_event_opened_after_the_resolves_is_resolved_before_the_client_goes(monkeypatch):
    from monitoring import services

    make_event(client="gone", check="disk", status=2)
    resolve = services.event_resolve
    calls = []

    def resolve_then_a_result_lands(**kwargs):
        issued = resolve(**kwargs)
        if not calls:  # As if an engine run committed between the resolves and the delete.
            result_process(client_name="gone", check={"name": "late", "status": 2})
        calls.append(kwargs["check_name"])
        return issued

    monkeypatch.setattr(services, "event_resolve", resolve_then_a_result_lands)
    services.client_delete(client=Client.objects.get(name="gone"))
    assert calls == ["disk", "late"]
    assert not Client.objects.filter(name="gone").exists()
    assert sensu_event_actions("gone/disk") == ["create", "resolve"]
    assert sensu_event_actions("gone/late") == ["create", "resolve"]


def test_client_delete_gives_up_rather_than_delete_an_event_unresolved(busy_client):
    from monitoring import services

    with pytest.raises(services.ClientDeleteConflict):
        services.client_delete(client=busy_client)
    assert Event.objects.filter(client__name="busy", check_name="disk").exists()


postgresql_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="Row locks and concurrent transactions: PostgreSQL"
)


def in_thread(name: str, target) -> tuple[threading.Thread, list]:
    """Run `target` on its own connection; the list receives its exception, if any."""
    errors: list = []

    def run():
        try:
            target()
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.start()
    return thread, errors


def pause_engine_audits(monkeypatch, thread_name: str, *, holding_chain: bool):
    """Stop the engine run on `thread_name` before (or after) its audit takes the chain."""
    from monitoring import engine

    paused, release = threading.Event(), threading.Event()
    append = engine.audit_events_append

    def paused_append(events, **kwargs):
        if threading.current_thread().name != thread_name:
            return append(events, **kwargs)
        stored = append(events, **kwargs) if holding_chain else None
        paused.set()
        release.wait(10)
        return stored if holding_chain else append(events, **kwargs)

    monkeypatch.setattr(engine, "audit_events_append", paused_append)
    return paused, release


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_client_delete_waits_for_a_run_opening_an_event_then_resolves_it(monkeypatch):
    from monitoring.services import client_delete

    make_event(client="gone", check="disk", status=2)
    paused, release = pause_engine_audits(monkeypatch, "late-run", holding_chain=True)
    late, late_errors = in_thread(
        "late-run",
        lambda: result_process(client_name="gone", check={"name": "late", "status": 2}),
    )
    assert paused.wait(10)
    deleter, delete_errors = in_thread(
        "deleter", lambda: client_delete(client=Client.objects.get(name="gone"))
    )
    deleter.join(0.5)
    assert deleter.is_alive()  # Waiting for the chain the late run holds.
    release.set()
    late.join(10)
    deleter.join(10)
    assert not late_errors and not delete_errors
    assert not Client.objects.filter(name="gone").exists()
    assert sensu_event_actions("gone/late") == ["create", "resolve"]
    assert sensu_event_actions("gone/disk") == ["create", "resolve"]


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_a_run_opening_an_event_during_the_delete_fails_and_leaves_no_trace(monkeypatch):
    from django.db import IntegrityError

    from monitoring.services import client_delete

    make_event(client="gone", check="disk", status=2)
    paused, release = pause_engine_audits(monkeypatch, "late-run", holding_chain=False)
    late, late_errors = in_thread(
        "late-run",
        lambda: result_process(client_name="gone", check={"name": "late", "status": 2}),
    )
    assert paused.wait(10)
    try:
        client_delete(client=Client.objects.get(name="gone"))
    finally:
        release.set()
        late.join(10)
    # Its event row referenced a client deleted before it committed: the whole run rolled
    # back, its "create" audit with it.
    assert [type(e) for e in late_errors] == [IntegrityError]
    assert not Client.objects.filter(name="gone").exists()
    assert not Event.objects.exists()
    assert sensu_event_actions("gone/late") == []
    assert sensu_event_actions("gone/disk") == ["create", "resolve"]


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_client_delete_steps_back_while_the_client_row_is_held(monkeypatch):
    from django.db import transaction

    from monitoring import services

    make_event(client="held", check="disk", status=2)
    locked, release = threading.Event(), threading.Event()

    def hold_the_row():  # As client_register does while it waits for the audit chain.
        with transaction.atomic():
            Client.objects.select_for_update().get(name="held")
            locked.set()
            release.wait(10)

    holder, holder_errors = in_thread("holder", hold_the_row)
    assert locked.wait(10)
    monkeypatch.setattr(services, "CLIENT_DELETE_PAUSE_SECONDS", 0.01)
    try:
        with pytest.raises(services.ClientDeleteConflict):
            services.client_delete(client=Client.objects.get(name="held"))
        assert Client.objects.filter(name="held").exists()
    finally:
        release.set()
        holder.join(10)
    assert not holder_errors
    services.client_delete(client=Client.objects.get(name="held"))
    assert not Client.objects.filter(name="held").exists()
    assert sensu_event_actions("held/disk") == ["create", "resolve"]


# --- client_register and the engine take their locks in an order that cannot deadlock --------


def _someone_waits_for_a_lock() -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_locks WHERE NOT granted")
        return cursor.fetchone()[0] > 0


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_client_register_and_an_engine_run_holding_the_chain_do_not_deadlock():
    from django.db import transaction

    from audits.chain import chain_head_locked
    from monitoring.services import client_register

    client = client_register(data={"name": "busy", "address": "10.0.0.1"})
    engine_holds_chain = threading.Event()

    def engine_run():  # As an engine run: the chain head, then an event naming the client.
        with transaction.atomic():
            chain_head_locked()
            engine_holds_chain.set()
            for _ in range(200):  # Until client_register holds the row and waits for the chain.
                if _someone_waits_for_a_lock():
                    break
                threading.Event().wait(0.01)
            Event.objects.create(client=client, check_name="disk", status=2, timestamp=0)

    engine, engine_errors = in_thread("engine", engine_run)
    assert engine_holds_chain.wait(10)
    register, register_errors = in_thread(
        "register",
        lambda: client_register(data={"name": "busy", "address": "10.0.0.2"}),
    )
    engine.join(20)
    register.join(20)
    assert not engine_errors and not register_errors, (engine_errors, register_errors)
    assert Client.objects.get(name="busy").address == "10.0.0.2"
    assert Event.objects.filter(client__name="busy").count() == 1
