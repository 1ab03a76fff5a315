"""
`slow_read` (integration_site.db_limits): a read runs within its budget first; past it, again
without, only while it holds its key's slot and one of the server's slots; else it is refused.
The slots are PostgreSQL advisory locks, so another real connection holds them here.
"""

import pytest
from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import DatabaseError, connection, transaction

from integration_site.db_limits import (
    SLOW_READ_KEY_SLOT,
    SLOW_READ_SITE_SLOTS,
    SlowReadRefused,
    _slow_read_slots_take,
    slot_number,
    slow_read,
)

ON_POSTGRESQL = settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"
postgresql_only = pytest.mark.skipif(not ON_POSTGRESQL, reason="the slots are advisory locks")
pytestmark = pytest.mark.django_db(transaction=True)


def _advisory_locks_held() -> list[tuple[int, int]]:
    """(namespace, key) of the advisory locks this connection holds."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT classid::int, objid::int FROM pg_locks"
            " WHERE locktype = 'advisory' AND pid = pg_backend_pid() AND granted"
        )
        return sorted(cursor.fetchall())


class Read:
    """A read that sleeps `first_sleep` seconds on its first run only, and records what each
    run saw of its own slots."""

    def __init__(self, first_sleep: float = 0.0):
        self.first_sleep = first_sleep
        self.runs: list[list[tuple[int, int]]] = []

    def __call__(self) -> str:
        self.runs.append(_advisory_locks_held() if ON_POSTGRESQL else [])
        if len(self.runs) == 1 and self.first_sleep:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_sleep(%s)", [self.first_sleep])
        ContentType.objects.count()  # a read of the database, through the ORM
        return "read"


def test_a_quick_read_runs_once_and_takes_no_slot():
    read = Read()
    assert (
        slow_read(read, using="default", key="k", budget_ms=5000, busy_budget_ms=5000, slots=2)
        == "read"
    )
    assert read.runs == [[]]


@postgresql_only
def test_a_read_past_its_budget_runs_again_holding_its_slots_then_frees_them():
    read = Read(first_sleep=0.5)
    assert (
        slow_read(read, using="default", key="k", budget_ms=20, busy_budget_ms=20, slots=2)
        == "read"
    )
    assert len(read.runs) == 2
    assert read.runs[0] == []
    # The second run held the key's slot and the server's first slot.
    assert read.runs[1] == sorted(
        [(SLOW_READ_KEY_SLOT, slot_number("k")), (SLOW_READ_SITE_SLOTS, 0)]
    )
    assert _advisory_locks_held() == []


@postgresql_only
def test_refused_when_another_slow_read_of_the_same_key_runs(other_connection):
    other_connection().execute(
        "SELECT pg_advisory_lock(%s, %s)", [SLOW_READ_KEY_SLOT, slot_number("k")]
    )
    read = Read(first_sleep=0.5)
    with pytest.raises(SlowReadRefused) as refused:
        slow_read(read, using="default", key="k", budget_ms=20, busy_budget_ms=20, slots=2)
    assert refused.value.of_key is True
    assert read.runs == []  # refused before it ran: a loop of them costs a lock probe each
    assert _advisory_locks_held() == []
    # Another key is not held back by it.
    other = Read(first_sleep=0.5)
    assert (
        slow_read(other, using="default", key="another", budget_ms=20, busy_budget_ms=20, slots=2)
        == "read"
    )
    assert len(other.runs) == 2


@postgresql_only
def test_refused_when_every_slot_of_the_server_is_taken(other_connection):
    holder = other_connection()
    for slot in range(2):
        holder.execute("SELECT pg_advisory_lock(%s, %s)", [SLOW_READ_SITE_SLOTS, slot])
    with pytest.raises(SlowReadRefused) as refused:
        slow_read(
            Read(first_sleep=0.5),
            using="default",
            key="k",
            budget_ms=20,
            busy_budget_ms=20,
            slots=2,
        )
    assert refused.value.of_key is False
    assert _advisory_locks_held() == []  # the key's slot went with the refusal
    # A third slot is free.
    read = Read(first_sleep=0.5)
    assert (
        slow_read(read, using="default", key="k", budget_ms=20, busy_budget_ms=20, slots=3)
        == "read"
    )
    assert (SLOW_READ_SITE_SLOTS, 2) in read.runs[1]


@postgresql_only
def test_the_callers_transaction_stays_usable_after_the_budget_cancels():
    before = ContentType.objects.count()
    with transaction.atomic():
        read = Read(first_sleep=0.5)
        assert (
            slow_read(read, using="default", key="k", budget_ms=20, busy_budget_ms=20, slots=1)
            == "read"
        )
        # Not aborted by the cancelled statement, and the budget is gone: this sleeps past it.
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_sleep(0.05)")
        assert ContentType.objects.count() == before
        # The slots are the transaction's until it ends.
        assert (SLOW_READ_SITE_SLOTS, 0) in _advisory_locks_held()
    assert _advisory_locks_held() == []


def test_an_error_other_than_the_budget_propagates_without_a_second_run():
    runs = []

    def broken() -> None:
        runs.append(1)
        with connection.cursor() as cursor:
            cursor.execute("SELECT no_such_column FROM django_content_type")

    with pytest.raises(DatabaseError):
        slow_read(broken, using="default", key="k", budget_ms=5000, busy_budget_ms=5000, slots=1)
    assert runs == [1]


@postgresql_only
def test_a_budget_of_zero_runs_without_a_limit():
    read = Read(first_sleep=0.05)
    assert (
        slow_read(read, using="default", key="k", budget_ms=0, busy_budget_ms=0, slots=1) == "read"
    )
    assert len(read.runs) == 1


def test_slot_numbers_are_stable_and_signed_32_bit():
    assert slot_number("k") == slot_number("k")
    assert slot_number("k") != slot_number("k2")
    assert all(-(2**31) <= slot_number(str(n)) < 2**31 for n in range(1000))


@postgresql_only
def test_the_key_taken_between_the_probe_and_the_slot_is_refused_too(other_connection):
    other_connection().execute(
        "SELECT pg_advisory_lock(%s, %s)", [SLOW_READ_KEY_SLOT, slot_number("k")]
    )
    with transaction.atomic(), pytest.raises(SlowReadRefused) as refused:
        _slow_read_slots_take("default", key="k", slots=2, ran_past_ms=20)
    assert refused.value.of_key is True


def _hold_site_slots(connection, *slots: int) -> None:
    for slot in slots:
        connection.execute("SELECT pg_advisory_lock(%s, %s)", [SLOW_READ_SITE_SLOTS, slot])


@postgresql_only
def test_while_every_slot_is_taken_a_read_gets_the_busy_budget_and_is_refused_at_it(
    other_connection,
):
    _hold_site_slots(other_connection(), 0, 1)
    # 0.3 s is well within the budget of 5 s, but past the busy budget: it could only be
    # refused, so it is, at 50 ms rather than after a whole budget.
    read = Read(first_sleep=0.3)
    with pytest.raises(SlowReadRefused) as refused:
        slow_read(read, using="default", key="k", budget_ms=5000, busy_budget_ms=50, slots=2)
    assert refused.value.of_key is False
    assert refused.value.budget_ms == 50
    assert len(read.runs) == 1
    assert _advisory_locks_held() == []
    # A read quicker than the busy budget is never refused.
    quick = Read()
    assert slow_read(quick, using="default", key="k", budget_ms=5000, busy_budget_ms=50, slots=2)
    assert len(quick.runs) == 1


@postgresql_only
def test_with_a_slot_free_a_read_gets_the_whole_budget(other_connection):
    # Slot 0 taken, and slot 7, which is not one of the 2 this site counts: slot 1 is free.
    _hold_site_slots(other_connection(), 0, 7)
    read = Read(first_sleep=0.3)
    assert slow_read(read, using="default", key="k", budget_ms=5000, busy_budget_ms=50, slots=2)
    assert len(read.runs) == 1


@postgresql_only
def test_a_key_slot_is_not_counted_as_a_site_slot(other_connection):
    holder = other_connection()
    _hold_site_slots(holder, 0)
    holder.execute("SELECT pg_advisory_lock(%s, 1)", [SLOW_READ_KEY_SLOT])
    read = Read(first_sleep=0.3)
    assert slow_read(read, using="default", key="k", budget_ms=5000, busy_budget_ms=50, slots=2)
    assert len(read.runs) == 1
