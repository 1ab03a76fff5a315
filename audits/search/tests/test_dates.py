"""Date values: the spans of time absolute and relative dates cover."""

from datetime import UTC, timedelta
from zoneinfo import ZoneInfo

import pytest

from audits.search.dates import parse_temporal
from audits.search.tests.sample import NOW, at


@pytest.mark.parametrize(
    ("value", "start", "end"),
    [
        ("2024-05-01", at(2024, 5, 1), at(2024, 5, 2)),
        ("2024/5/1", at(2024, 5, 1), at(2024, 5, 2)),
        ("24-05-01", at(2024, 5, 1), at(2024, 5, 2)),
        ("99-05-01", at(1999, 5, 1), at(1999, 5, 2)),
        ("2024-05", at(2024, 5, 1), at(2024, 6, 1)),
        ("2024-12", at(2024, 12, 1), at(2025, 1, 1)),
        ("January 2024", at(2024, 1, 1), at(2024, 2, 1)),
        ("Feb 2024", at(2024, 2, 1), at(2024, 3, 1)),
        ("Jan 23, 2004", at(2004, 1, 23), at(2004, 1, 24)),
        ("May 08,2024", at(2024, 5, 8), at(2024, 5, 9)),
        ("23 Jan 2004", at(2004, 1, 23), at(2004, 1, 24)),
        ("2024-05-01 10:30", at(2024, 5, 1, 10, 30), at(2024, 5, 1, 10, 31)),
        ("2024-05-01 10:30:15", at(2024, 5, 1, 10, 30, 15), at(2024, 5, 1, 10, 30, 16)),
        ("2024-05-01T10:30:15Z", at(2024, 5, 1, 10, 30, 15), at(2024, 5, 1, 10, 30, 16)),
        (
            "2024-05-01T10:30:15.25+02:00",
            at(2024, 5, 1, 8, 30, 15, 250000),
            at(2024, 5, 1, 8, 30, 16, 250000),
        ),
        ("2024-05-01 10:30 UTC", at(2024, 5, 1, 10, 30), at(2024, 5, 1, 10, 31)),
        ("2024-05-01 10:30 pm", at(2024, 5, 1, 22, 30), at(2024, 5, 1, 22, 31)),
        ("2024-05-01 12:05 am", at(2024, 5, 1, 0, 5), at(2024, 5, 1, 0, 6)),
        ("today", at(2024, 5, 15), at(2024, 5, 16)),
        ("Yesterday", at(2024, 5, 14), at(2024, 5, 15)),
        ("TOMORROW", at(2024, 5, 16), at(2024, 5, 17)),
        ("monday", at(2024, 5, 13), at(2024, 5, 14)),
        ("Wednesday", at(2024, 5, 15), at(2024, 5, 16)),
        ("Thursday", at(2024, 5, 9), at(2024, 5, 10)),
        ("2 days ago", at(2024, 5, 13), at(2024, 5, 14)),
        ("1 day ago", at(2024, 5, 14), at(2024, 5, 15)),
        ("3 weeks from now", at(2024, 6, 5), at(2024, 6, 6)),
        ("1 month ago", at(2024, 4, 15), at(2024, 4, 16)),
        ("2 years ago", at(2022, 5, 15), at(2022, 5, 16)),
        ("10 minutes ago", at(2024, 5, 15, 12, 20, 45), at(2024, 5, 15, 12, 21, 45)),
        ("1 hour from now", at(2024, 5, 15, 13, 30, 45), at(2024, 5, 15, 13, 31, 45)),
        ("  2  Days   Ago ", at(2024, 5, 13), at(2024, 5, 14)),
    ],
)
def test_parse_temporal_spans(value, start, end):
    span = parse_temporal(value, now=NOW)
    assert (span.start, span.end) == (start, end)
    assert span.start.tzinfo is UTC


def test_parse_temporal_month_arithmetic_clamps_to_month_end():
    span = parse_temporal("1 month ago", now=at(2024, 3, 31, 9))
    assert span.start == at(2024, 2, 29)


@pytest.mark.parametrize(
    "value",
    [
        "2024-13-01",
        "2024-02-30",
        "2024-05-01 25:00",
        "2024-05-01 13:00 pm",
        "Foo 1, 2024",
        "2024",
        "last week",
        "this month",
        "2 fortnights ago",
        "2024-05-01T10:30+25:00",
        "0001-01-01T00:00+02:00",
        "9999-12-31",
        "999999 years from now",
        "sun",
        "",
    ],
)
def test_parse_temporal_rejects_non_dates(value):
    assert parse_temporal(value, now=NOW) is None


def test_parse_day_span_follows_dst_changes():
    span = parse_temporal("2024-03-31", tz=ZoneInfo("Europe/Berlin"))
    assert span.end - span.start == timedelta(hours=23)
