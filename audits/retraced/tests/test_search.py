"""Retraced's search syntax: each keyword, OR lists, quoting, wildcards, ranges and errors."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection

from audits.retraced.search import (
    MAX_QUERY_CHARS,
    MAX_TERMS,
    RetracedQuery,
    SearchScope,
    Term,
    retraced_events_search,
    retraced_query_parse,
)
from audits.retraced.tests.factories import BASE_TIME, retraced_event
from audits.search.errors import QueryError

SCOPE = SearchScope(project="default", environment="production")


def found(text: str, scope: SearchScope = SCOPE) -> set[str]:
    """The test events (they carry an external_id) the search finds; the site's own trail
    may hold others."""
    events = retraced_events_search(scope, text).exclude(external_id="")
    return set(events.values_list("external_id", flat=True))


# --- Parsing -------------------------------------------------------------------------------


def test_parse_keywords_lists_and_free_text():
    query = retraced_query_parse('action:a.b,c.* crud:cud  disk "full now" -actor.id:x')
    assert query.terms == [
        Term("action", ("a.b", "c.*")),
        Term("crud", ("cud",)),
        Term("", ("disk",)),
        Term("", ("full now",)),
        Term("actor.id", ("x",), exclude=True),
    ]
    assert query.names_crud


def test_parse_quoted_values_keep_spaces_commas_and_escapes():
    query = retraced_query_parse(r'actor.name:"Jane, Doe",bob description:"say \"hi\""')
    assert query.terms == [
        Term("actor.name", ("Jane, Doe", "bob")),
        Term("description", ('say "hi"',)),
    ]


def test_parse_retraced_js_structured_query():
    """What retraced-js `stringifyStructuredQuery` sends parses term by term."""
    text = (
        'action:"user.login" crud:cud received:2024-05-01T00:00:00.000Z,2024-06-01T00:00:00.000Z '
        'actor.name:"Jane Doe" actor.id:u1 description:"logged in" location:"Berlin"'
    )
    keywords = [term.keyword for term in retraced_query_parse(text).terms]
    assert keywords == [
        "action", "crud", "received", "actor.name", "actor.id", "description", "location"
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("colour:red", "Unknown search keyword 'colour'"),
        ("10:30", "Unknown search keyword '10'"),
        ('description:"open', "Unterminated quote starting at character 13"),
        ('"a b"c', "Unexpected 'c' at character 6"),
        ("action:", "action: needs a value"),
        ("action:a,,b", "action: needs a value"),
        ("crud:cx", "crud: takes the letters c, r, u and d (got 'x')"),
        ("fields.:x", "Unknown search keyword 'fields.'"),
        ("a\x00b", "NUL character"),
        ("x" * (MAX_QUERY_CHARS + 1), f"longer than {MAX_QUERY_CHARS} characters"),
        (" ".join(["w"] * (MAX_TERMS + 1)), f"more than {MAX_TERMS} terms"),
        ("action:" + "a" * 256, "action: value longer than 255 characters"),
    ],
)
def test_parse_errors_name_the_problem(text, message):
    with pytest.raises(QueryError) as error:
        retraced_query_parse(text)
    assert message in error.value.message


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("received:2024-05-01", "received: takes a range start,end"),
        ("received:,", "received: takes a range start,end"),
        ("created:a,b,c", "created: takes a range start,end"),
        ("received:yesterdayish,", "received: cannot read 'yesterdayish' as a date"),
    ],
)
@pytest.mark.django_db
def test_range_errors_name_the_problem(text, message):
    with pytest.raises(QueryError) as error:
        list(retraced_events_search(SCOPE, text))
    assert message in error.value.message


# --- Matching ------------------------------------------------------------------------------


@pytest.fixture
def events(db):
    retraced_event(
        external_id="login",
        action="user.login",
        crud="r",
        description="Jane logged in from the office",
        target_id="doc-1",
        target_name="Quarterly report",
        target_type="document",
        fields={"plan": "gold", "region": "eu"},
        group_id="acme",
    )
    retraced_event(
        external_id="logout",
        action="user.logout",
        crud="u",
        actor_id="u2",
        actor_name="Bob Smith",
        description="Bob left",
        target_id="doc-2",
        target_name="Annual plan",
        target_type="spreadsheet",
        fields={"plan": "silver"},
        group_id="acme",
    )
    retraced_event(
        external_id="delete",
        action="document.delete",
        crud="d",
        actor_id="u1",
        description="Removed a document",
        target_id="doc-1",
        target_type="document",
        group_id="globex",
        created_at=BASE_TIME + timedelta(days=2),
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", {"login", "logout", "delete"}),
        ("action:user.login", {"login"}),
        ("action:user", set()),  # exact unless it ends in *
        ("action:user.*", {"login", "logout"}),
        ("action:user.login,document.delete", {"login", "delete"}),
        ('action:"user.login"', {"login"}),
        ("crud:c,u,d", {"logout", "delete"}),
        ("crud:ud", {"logout", "delete"}),
        ("crud:r", {"login"}),
        ("actor.id:u1", {"login", "delete"}),
        ("actor.id:u", set()),  # ids match exactly
        ("actor.id:u1,u2", {"login", "logout", "delete"}),
        ('actor.name:"jane doe"', {"login", "delete"}),  # every word, any case
        ('actor.name:"doe jane"', {"login", "delete"}),
        ('actor.name:"jane smith"', set()),
        ("actor.name:bob,jane", {"login", "logout", "delete"}),
        ("target.id:doc-1", {"login", "delete"}),
        ("target.name:quarterly", {"login"}),
        ("target.type:spreadsheet", {"logout"}),
        ('description:"logged office"', {"login"}),
        ("external_id:logout", {"logout"}),
        ("fields.plan:gold", {"login"}),
        ("fields.plan:gold,silver", {"login", "logout"}),
        ("fields.region:eu", {"login"}),
        ("fields.nothing:gold", set()),
        ("-action:user.login", {"logout", "delete"}),
        ("-crud:r,u", {"delete"}),
        ("bob", {"logout"}),
        ("jane office", {"login"}),  # every free-text term must match
        ("jane nowhere", set()),
        ('"annual plan"', {"logout"}),
        ("location:office", {"login"}),  # no geo data: location is free text, as in Retraced
        ("document", {"delete"}),  # in the action; a target type has its keyword
        ("doc-1", set()),  # ids too
        ("action:user.* crud:r", {"login"}),
    ],
)
def test_search_matches(events, text, expected):
    assert found(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("received:2024-05-01T00:00:00Z,2024-05-02T00:00:00Z", {"login"}),
        ("received:2024-05-01T12:00:00Z,2024-05-01T12:00:01Z", {"login"}),
        # half-open: the end is excluded
        ("received:2024-05-01T11:00:00Z,2024-05-01T12:00:00Z", set()),
        ("received:2024-05-02,", {"logout", "delete"}),  # open end
        ("received:,2024-05-02", {"login"}),  # open start
        ("created:2024-05-02T00:00:00.000Z,", {"delete"}),
        ("created:,2024-05-02T00:00:00.000Z", {"login", "logout"}),
        ("created:2024-05-01,2024-05-04 crud:d", {"delete"}),
    ],
)
def test_search_ranges(db, text, expected):
    retraced_event(external_id="login", received_at=datetime(2024, 5, 1, 12, tzinfo=UTC))
    retraced_event(external_id="logout", received_at=datetime(2024, 5, 3, tzinfo=UTC))
    retraced_event(
        external_id="delete",
        crud="d",
        created_at=datetime(2024, 5, 3, tzinfo=UTC),
        received_at=datetime(2024, 5, 3, tzinfo=UTC),
    )
    assert found(text) == expected


def test_scope_limits_every_search(events, db):
    retraced_event(external_id="elsewhere", project="other", environment="production")
    retraced_event(external_id="staging", environment="staging")
    assert found("") == {"login", "logout", "delete"}
    assert found("", SearchScope("other", "production")) == {"elsewhere"}
    acme = SearchScope("default", "production", group_id="acme")
    assert found("", acme) == {"login", "logout"}
    assert found("action:document.delete", acme) == set()
    target = SearchScope("default", "production", group_id="acme", target_id="doc-1")
    assert found("", target) == {"login"}
    assert found("target.id:doc-2", target) == set()


def test_hide_reads_unless_the_query_names_crud(events):
    viewer = SearchScope("default", "production", group_id="acme", hide_reads=True)
    assert found("", viewer) == {"logout"}
    assert found("crud:r", viewer) == {"login"}
    assert found("crud:c,r,u,d", viewer) == {"login", "logout"}


@pytest.mark.parametrize("key", ['a"b', "a.b", "$", "[0]", "a'b", "a b", "ü", "__contains"])
def test_fields_keys_are_data_never_paths_or_lookups(db, key):
    """A key is compared as a key: never a JSON path, never an ORM lookup."""
    retraced_event(external_id="odd", fields={key: "v", "other": "v"})
    if key == 'a"b' and connection.vendor == "sqlite":
        pytest.skip("SQLite's JSON paths cannot quote a double quote (Django's key lookups)")
    matching = RetracedQuery([Term(f"fields.{key}", ("v",))])
    assert set(retraced_events_search(SCOPE, matching).values_list("external_id", flat=True)) == {
        "odd"
    }
    other_value = RetracedQuery([Term(f"fields.{key}", ("w",))])
    assert not retraced_events_search(SCOPE, other_value).exists()
