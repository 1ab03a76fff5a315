"""
The canonical form is a documented definition (audits/chain.py, docs/internals.md): the
JSON object of HASHED_FIELDS, keys sorted at every level, no whitespace, UTF-8 kept, times in
UTC with microseconds and a Z, the IP compressed. `canonical` builds it faster than the
definition reads; these tests hold it to the definition, byte for byte, so stored hashes
never change with an optimisation.
"""

import decimal
import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from audits.chain import (
    HASHED_FIELDS,
    OPTIONAL_HASHED_FIELDS,
    TENANCY_HASHED_FIELDS,
    canonical,
    canonical_many,
    chain_hash,
)
from audits.services import audit_event_build

_text = st.text(max_size=30)
_json = st.recursive(
    st.none() | st.booleans() | st.integers() | _text,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(_text, children, max_size=4),
    max_leaves=12,
)
_times = st.datetimes(
    min_value=datetime(1990, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
).map(lambda moment: moment.astimezone(timezone(timedelta(hours=5, minutes=30))))


def _by_definition(event) -> str:
    document = {name: getattr(event, name) for name in HASHED_FIELDS}
    document.update(
        {name: getattr(event, name) for name in OPTIONAL_HASHED_FIELDS if getattr(event, name)}
    )
    document.update(
        {
            name: getattr(event, name)
            for name, default in TENANCY_HASHED_FIELDS.items()
            if getattr(event, name) != default
        }
    )
    for name in ("created_at", "received_at"):
        document[name] = document[name].astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


@settings(max_examples=300, deadline=None)
@given(
    action=_text,
    description=_text,
    changes=st.dictionaries(_text, _json, max_size=5),
    fields=st.dictionaries(_text, _text | st.integers() | st.booleans(), max_size=5),
    version=st.none() | st.integers(min_value=1, max_value=2**31 - 1),
    created=_times,
    failure=st.booleans(),
    actor_fields=st.dictionaries(_text, _text, max_size=3),
    target_fields=st.dictionaries(_text, _json, max_size=3),
)
def test_canonical_matches_the_documented_definition(
    action, description, changes, fields, version, created, failure, actor_fields, target_fields
):
    event = audit_event_build(
        action=action,
        description=description,
        audited_changes=changes,
        fields=fields,
        created_at=created,
        is_failure=failure,
        remote_address="2001:0db8:0000:0000:0000:0000:0000:0001",
        request_uuid="r-1",
    )
    event.version = version
    event.actor_fields, event.target_fields = actor_fields, target_fields
    event.remote_address = "2001:db8::1"  # chain_append stores it compressed, then hashes
    assert canonical(event) == _by_definition(event)


def test_known_event_hashes_to_a_fixed_value():
    # A pinned vector, computed before actor/target fields existed: if this changes, every
    # stored chain stops verifying.
    moment = datetime(2026, 1, 31, 12, 0, 0, 123456, tzinfo=UTC)
    event = audit_event_build(
        action="user.login.success",
        name="user.login",
        description="john@example.com logged in — ok",
        audited_changes={"b": [1, 2], "a": {"z": None, "y": "é"}},
        created_at=moment,
        received_at=moment,
        remote_address="192.30.252.12",
        request_uuid="0f0e0d0c-0000-4000-8000-000000000001",
    )
    assert canonical(event).startswith(
        '{"action":"user.login.success","actor_href":"","actor_id":"","actor_name":"system",'
    )
    assert '"audited_changes":{"a":{"y":"é","z":null},"b":[1,2]}' in canonical(event)
    assert chain_hash("0" * 64, canonical(event)) == PINNED_HASH


PINNED_HASH = "6d21f952b90e8a5363941fcc2bcf613f58773d1e088fe63576794e461b0d921e"


def _event_with_json(value) -> str:
    moment = datetime(2026, 1, 31, 12, 0, 0, tzinfo=UTC)
    event = audit_event_build(
        action="a",
        audited_changes={"v": value},
        fields={"v": value},
        metadata={"v": value},
        created_at=moment,
        received_at=moment,
        request_uuid="r-1",
    )
    event.actor_fields = event.target_fields = {"v": value}
    return canonical(event)


@pytest.mark.parametrize(
    ("sent", "as_jsonb_returns"),
    [
        # jsonb stores numbers as numeric, which prints no exponent and has no -0: the
        # canonical form is what PostgreSQL gives back, so a hash verifies after a round trip.
        (1e16, 10**16),
        (-1.5e16, -15 * 10**15),
        (1.7976931348623157e308, int("17976931348623157" + "0" * 292)),
        (-0.0, 0.0),
        ([1e22, {"k": -0.0}], [10**22, {"k": 0.0}]),
    ],
)
def test_numbers_are_canonical_as_jsonb_returns_them(sent, as_jsonb_returns):
    assert _event_with_json(sent) == _event_with_json(as_jsonb_returns)
    assert "e+" not in _event_with_json(sent) and "-0.0" not in _event_with_json(sent)


@pytest.mark.parametrize("kept", [1.5e-7, 1e-300, 2.0, 0.1, 123456789.125, 10**30, -7, True])
def test_numbers_jsonb_keeps_are_unchanged(kept):
    # Floats below 1e16 print without a positive exponent, and jsonb returns them as sent.
    encoded = json.dumps(kept)
    assert f'"v":{encoded}' in _event_with_json(kept)


@settings(max_examples=300, deadline=None)
@given(number=st.floats(allow_nan=False, allow_infinity=False))
def test_float_canonical_form_matches_its_decimal_value(number):
    # jsonb's numeric holds the decimal value of the float's shortest repr, exactly; read
    # back, that is an int when written without a fraction and a float otherwise.
    text = _event_with_json(number).split('"v":', 1)[1].split("}", 1)[0]
    assert "e+" not in text and text != "-0.0"
    assert decimal.Decimal(text) == decimal.Decimal(repr(number))


@settings(max_examples=100, deadline=None)
@given(
    project=st.sampled_from(["default", "acme"]),
    environment=st.sampled_from(["production", "staging"]),
    retraced_id=st.sampled_from(["", "0f" * 16]),
    receipt=st.sampled_from(["", "ab" * 32]),
)
def test_tenancy_and_receipt_are_hashed_only_when_not_the_default(
    project, environment, retraced_id, receipt
):
    event = audit_event_build(action="a", request_uuid="r-1")
    event.project, event.environment = project, environment
    event.retraced_id, event.receipt_hash = retraced_id, receipt
    text = canonical(event)
    assert text == _by_definition(event)
    assert ('"project":' in text) == (project != "default")
    assert ('"environment":' in text) == (environment != "production")
    assert ('"receipt_hash":' in text) == bool(receipt)


_batch_event = st.fixed_dictionaries(
    {
        "action": st.sampled_from(["a", "b"]) | _text,
        "description": st.sampled_from(["", "same"]),
        # Equal but written differently: 1 == 1.0 == True in a map, times in other zones.
        "changes": st.sampled_from([{}, {"a": 1}, {"a": 1.0}, {"a": True}]) | _json,
        "fields": st.sampled_from([{}, {"k": "v"}]),
        "version": st.sampled_from([None, 1]),
        "created": st.sampled_from([datetime(2026, 1, 1, tzinfo=UTC)]) | _times,
        "failure": st.booleans(),
        "address": st.sampled_from([None, "10.0.0.1", "2001:db8::1"]),
        "project": st.sampled_from(["default", "default", "acme"]),
        "receipt": st.sampled_from(["", "", "ab" * 32]),
    }
)


@settings(max_examples=300, deadline=None)
@given(batch=st.lists(_batch_event, min_size=1, max_size=8))
def test_canonical_many_is_canonical_of_each_event(batch):
    # The bulk path encodes the fields a batch shares once: every event must still get
    # exactly canonical(event), whatever the batch mixes.
    events = []
    for values in batch:
        event = audit_event_build(
            action=values["action"],
            description=values["description"],
            audited_changes=values["changes"],
            fields=values["fields"],
            created_at=values["created"],
            is_failure=values["failure"],
            remote_address=values["address"],
            request_uuid="r-1",
        )
        event.version = values["version"]
        event.project, event.receipt_hash = values["project"], values["receipt"]
        events.append(event)
    assert canonical_many(events) == [canonical(event) for event in events]


def test_canonical_many_tells_equal_values_written_differently_apart():
    moment = datetime(2026, 1, 31, 12, 0, tzinfo=UTC)
    events = [
        audit_event_build(
            action="a", audited_changes=changes, created_at=moment, received_at=moment
        )
        for changes in ({"n": 1}, {"n": 1.0}, {"n": True})
    ]
    many = canonical_many(events)
    assert [text.split('"audited_changes":{', 1)[1].split(",", 1)[0] for text in many] == [
        '"n":1}',
        '"n":1.0}',
        '"n":true}',
    ]
    assert many == [canonical(event) for event in events]
