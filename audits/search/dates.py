"""Date values: the span of time each covers, absolute or relative to a clock read once."""

import calendar
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone, tzinfo

__all__ = ["DAY_NAMES", "MONTH_NAMES", "Clock", "TimeSpan", "parse_temporal", "temporal_span"]


@dataclass(frozen=True, slots=True)
class TimeSpan:
    """The half-open interval ``[start, end)`` a date value covers, in UTC."""

    start: datetime
    end: datetime


class Clock:
    """Reads the time at most once per query, so every relative date in it agrees."""

    def __init__(self, now: datetime | None) -> None:
        if now is not None and now.utcoffset() is None:
            raise ValueError("now must be timezone-aware")
        self._now = now

    def __call__(self) -> datetime:
        if self._now is None:
            from django.utils import timezone

            self._now = timezone.now()
        return self._now


# English on purpose: ``calendar``'s names follow the process locale.
MONTH_NAMES = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS = {
    name: number
    for number, full in enumerate(MONTH_NAMES, start=1)
    for name in (full.lower(), full[:3].lower())
} | {"sept": 9}
# Full names only: "sun" or "mon" as free text should not also mean a date.
_WEEKDAYS = {name.lower(): number for number, name in enumerate(DAY_NAMES)}

_TIME = (
    r"(?:(?:\s+|T)(?P<hour>[0-9]{1,2}):(?P<minute>[0-9]{2})"
    r"(?::(?P<second>[0-9]{2})(?:\.(?P<fraction>[0-9]{1,6}))?)?"
    r"(?:\s*(?P<ampm>[ap])\.?m\.?)?)?"
)
_ZONE = r"(?:\s*(?P<zone>Z|UTC|GMT|[+-][0-9]{2}(?::?[0-9]{2})?))?"
_DAY_FORMS = (
    r"(?P<year>[0-9]{4})[-/](?P<month>[0-9]{1,2})[-/](?P<day>[0-9]{1,2})",
    r"(?P<short_year>[0-9]{2})-(?P<month>[0-9]{2})-(?P<day>[0-9]{2})",
    r"(?P<month_name>[a-z]{3,9})\.?\s+(?P<day>[0-9]{1,2})(?:st|nd|rd|th)?(?:\s*,\s*|\s+)(?P<year>[0-9]{4})",
    r"(?P<day>[0-9]{1,2})(?:st|nd|rd|th)?\s+(?P<month_name>[a-z]{3,9})\.?,?\s+(?P<year>[0-9]{4})",
)
_MONTH_FORMS = (
    r"(?P<year>[0-9]{4})[-/](?P<month>[0-9]{1,2})",
    r"(?P<month_name>[a-z]{3,9})\.?,?\s+(?P<year>[0-9]{4})",
)
_ABSOLUTE = tuple(
    re.compile(rf"\s*{form}{_TIME}{_ZONE}\s*", re.IGNORECASE | re.ASCII) for form in _DAY_FORMS
) + tuple(re.compile(rf"\s*{form}{_ZONE}\s*", re.IGNORECASE | re.ASCII) for form in _MONTH_FORMS)
_RELATIVE = re.compile(
    r"\s*(?P<count>[0-9]{1,6})\s+(?P<unit>minute|hour|day|week|month|year)s?\s+(?P<direction>ago|from\s+now)\s*",
    re.IGNORECASE | re.ASCII,
)
_NAMED_DAYS = {"today": 0, "yesterday": -1, "tomorrow": 1}


def parse_temporal(value: str, *, now: datetime | None = None, tz: tzinfo = UTC) -> TimeSpan | None:
    """The span a date value covers, or None if it is not a date.

    Accepts what scoped_search documents: ``2024-05-01``, ``2024/05/01``, ``24-05-01``,
    ``"2024-05-01 10:30[:15]"``, ISO 8601 with ``T`` and an offset, ``2024-05`` and
    ``"May 2024"`` (a month), ``"Jan 23, 2004"``, ``"23 Jan 2004"``, ``today``, ``yesterday``,
    ``tomorrow``, weekday names, and ``N minutes|hours|days|weeks|months|years ago|from now``.
    Values without an explicit offset are read in ``tz``.
    """
    return temporal_span(value, Clock(now), tz)


def temporal_span(value: str, clock: Clock, tz: tzinfo) -> TimeSpan | None:
    """``parse_temporal`` with the time read from ``clock``, so every relative date of one
    query agrees."""
    try:
        span = _relative_span(value, clock, tz) or _absolute_span(value, tz)
        if span is None:
            return None
        # Converting here keeps out-of-range instants (year 1 at +02:00) a parse failure
        # rather than an OverflowError when the database adapter converts them.
        return TimeSpan(span.start.astimezone(UTC), span.end.astimezone(UTC))
    except (ValueError, OverflowError):
        return None


def _midnight(day: date, tz: tzinfo) -> datetime:
    return datetime.combine(day, time(), tzinfo=tz)


def _day_span(day: date, tz: tzinfo) -> TimeSpan:
    # Midnight to midnight, not start + 24h, so a day with a DST change keeps its true length.
    return TimeSpan(_midnight(day, tz), _midnight(day + timedelta(days=1), tz))


def _add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    last_day = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(day.day, last_day))


def _relative_span(value: str, clock: Clock, tz: tzinfo) -> TimeSpan | None:
    word = value.strip().lower()
    if word in _NAMED_DAYS:
        today = clock().astimezone(tz).date()
        return _day_span(today + timedelta(days=_NAMED_DAYS[word]), tz)
    if word in _WEEKDAYS:
        today = clock().astimezone(tz).date()
        return _day_span(today - timedelta(days=(today.weekday() - _WEEKDAYS[word]) % 7), tz)
    match = _RELATIVE.fullmatch(value)
    if match is None:
        return None
    count = int(match["count"]) * (-1 if match["direction"].lower() == "ago" else 1)
    unit = match["unit"].lower()
    if unit in ("minute", "hour"):
        instant = clock().astimezone(UTC) + timedelta(**{f"{unit}s": count})
        return TimeSpan(instant, instant + timedelta(minutes=1))
    today = clock().astimezone(tz).date()
    if unit in ("day", "week"):
        return _day_span(today + timedelta(**{f"{unit}s": count}), tz)
    return _day_span(_add_months(today, count * (12 if unit == "year" else 1)), tz)


def _absolute_span(value: str, tz: tzinfo) -> TimeSpan | None:
    for pattern in _ABSOLUTE:
        match = pattern.fullmatch(value)
        if match is not None:
            return _span_from_match(match.groupdict(), tz)
    return None


def _span_from_match(parts: dict[str, str | None], tz: tzinfo) -> TimeSpan | None:
    """Build the span from one absolute pattern's groups; a group a form lacks is None."""
    zone = _zone(parts.get("zone")) or tz
    month_name = parts.get("month_name")
    month = _MONTHS.get(month_name.lower(), 0) if month_name else int(parts.get("month") or 0)
    short_year = parts.get("short_year")
    if short_year is not None:
        year = int(short_year) + (1900 if int(short_year) >= 69 else 2000)  # Ruby's pivot
    else:
        year = int(parts.get("year") or 0)
    day_text = parts.get("day")
    if day_text is None:
        first = date(year, month, 1)
        return TimeSpan(_midnight(first, zone), _midnight(_add_months(first, 1), zone))
    day = date(year, month, int(day_text))
    hour_text = parts.get("hour")
    if hour_text is None:
        return _day_span(day, zone)
    second_text = parts.get("second")
    clock_time = time(
        _hour(int(hour_text), parts.get("ampm")),
        int(parts.get("minute") or 0),
        int(second_text or 0),
        int((parts.get("fraction") or "").ljust(6, "0")),
    )
    start = datetime.combine(day, clock_time, tzinfo=zone)
    step = timedelta(seconds=1) if second_text is not None else timedelta(minutes=1)
    return TimeSpan(start, start + step)


def _hour(hour: int, ampm: str | None) -> int:
    if ampm is None:
        return hour
    if not 1 <= hour <= 12:
        raise ValueError("12-hour clock out of range")
    return hour % 12 + (12 if ampm.lower() == "p" else 0)


def _zone(text: str | None) -> tzinfo | None:
    if text is None:
        return None
    if text.upper() in ("Z", "UTC", "GMT"):
        return UTC
    digits = text[1:].replace(":", "")
    offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:] or 0))
    return timezone(-offset if text[0] == "-" else offset)  # ValueError beyond +-24h
