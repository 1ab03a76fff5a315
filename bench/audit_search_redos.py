"""
The many-wildcard search of issue 14 (`GET /api/audits?search=*e*e*e*e*e*e*e*x`) on SQLite,
as the regex it compiled to before (`__iregex`: SQLite's REGEXP is Python's backtracking
`re`) and as the LIKE it compiles to now, over the same rows, in the same run.

    .venv/bin/python bench/audit_search_redos.py --rows 5 --length 40

It migrates a scratch SQLite file in a temporary directory (DATABASE_URL is ignored), writes
`--rows` events whose description is `--length` times "e" (the worst case: every prefix of
the pattern matches, the final "x" never does) and 1,000 ordinary events, then times the
queryset `/api/audits` counts for that search.
"""

import argparse
import os
import re
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
_SCRATCH = tempfile.mkdtemp(prefix="redos-bench-")
os.environ["DATABASE_URL"] = f"sqlite:///{_SCRATCH}/bench.sqlite3"
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "integration_site.settings")
os.environ.setdefault("DJANGO_SECRET_KEY", "bench")

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db.models import Q  # noqa: E402

from audits.models import ActorType, AuditEvent, AuditSource  # noqa: E402
from audits.search.fields import audit_search_q, searchable  # noqa: E402

SEARCH = "*e*e*e*e*e*e*e*x"


def regex_as_before(condition: Q) -> Q:
    """The same Q with each `__ilike` as the anchored `__iregex` the compiler emitted before."""
    rebuilt = Q()
    rebuilt.connector, rebuilt.negated = condition.connector, condition.negated
    for child in condition.children:
        if isinstance(child, Q):
            rebuilt.children.append(regex_as_before(child))
            continue
        lookup, value = child
        if lookup.endswith("__ilike"):
            # The bench's pattern has no escaped characters: "%" is the only syntax in it.
            regex = "(?s)\\A" + ".*".join(re.escape(part) for part in value.split("%")) + "\\Z"
            child = (lookup.removesuffix("__ilike") + "__iregex", regex)
        rebuilt.children.append(child)
    return rebuilt


def timed(condition: Q) -> tuple[float, int]:
    started = time.perf_counter()
    count = searchable(AuditEvent.objects.all()).filter(condition).count()
    return time.perf_counter() - started, count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=5, help="Worst-case rows (default 5).")
    parser.add_argument("--length", type=int, default=40, help="Their length (default 40).")
    args = parser.parse_args()

    call_command("migrate", verbosity=0)
    common = {"source": AuditSource.SITE, "actor_type": ActorType.SYSTEM, "actor_name": "bench"}
    AuditEvent.objects.bulk_create(
        [
            AuditEvent(action="bench.worst", description="e" * args.length, **common)
            for _ in range(args.rows)
        ]
        + [
            AuditEvent(action="bench.ordinary", description=f"event {n} of the day", **common)
            for n in range(1000)
        ]
    )
    now = audit_search_q(SEARCH)
    before_seconds, before_count = timed(regex_as_before(now))
    after_seconds, after_count = timed(now)
    assert before_count == after_count, (before_count, after_count)
    print(f"search={SEARCH!r} on SQLite, {args.rows} rows of {args.length} 'e' + 1000 others")
    print(f"  before (iregex, Python re): {before_seconds:8.3f} s  ({before_count} matches)")
    print(f"  now    (LIKE):              {after_seconds:8.3f} s  ({after_count} matches)")


if __name__ == "__main__":
    main()
