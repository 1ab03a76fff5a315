"""
retraced_event_validate on arbitrary JSON: it accepts or names the problem (EventInvalid),
never raises anything else, and whatever it accepts can be hashed and matches Retraced's
required-field rules.
"""

from hypothesis import given, settings
from hypothesis import strategies as st

from audits.ingest import EventInvalid
from audits.retraced.hashing import compute_hash
from audits.retraced.validation import retraced_event_validate

_scalars = st.none() | st.booleans() | st.integers() | st.text(max_size=8)
_json = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=6,
)
_keys = st.sampled_from(
    [
        "action",
        "crud",
        "actor",
        "target",
        "group",
        "source_ip",
        "created",
        "is_anonymous",
        "is_failure",
        "fields",
        "metadata",
        "external_id",
        "description",
        "component",
        "version",
        "name",
    ]
)
_events = st.fixed_dictionaries(
    {"action": st.just("a.b"), "crud": st.just("c"), "actor": st.just({"id": "u"})}
).flatmap(
    lambda base: st.dictionaries(_keys, _json, max_size=4).map(lambda extra: {**base, **extra})
)


@settings(max_examples=300, deadline=None)
@given(event=_events | _json)
def test_any_json_is_accepted_or_named_never_an_exception(event):
    try:
        retraced_event_validate(event)
    except EventInvalid as invalid:
        assert invalid.errors
        return
    assert isinstance(event["action"], str) and event["action"]
    assert event["crud"] in ("c", "r", "u", "d")
    assert event.get("actor") or event.get("is_anonymous") is True
    assert len(compute_hash(event, "0" * 32)) == 64
