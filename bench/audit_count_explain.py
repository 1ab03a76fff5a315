"""
What `bounded_count`'s EXPLAIN costs (audits.paginator): every Foreman `total`/`subtotal` and
admin changelist count first asks PostgreSQL's planner for its estimate, then plans the
count again to run it. This times, per search, the EXPLAIN round trip alone and the whole
`bounded_count`, in the same loop, on a database `bench/audit_search.py` loaded; the share
is EXPLAIN / whole.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_idx_1m DJANGO_SECRET_KEY=x \\
        .venv/bin/python -u bench/audit_count_explain.py --repeat 15
"""

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.kit import django_setup, percentile, timed

# The searches of bench/audit_search.py's /api/audits rows that reach the count: equality
# (many, few, none), `~`, free text, a time range and a conjunction.
SEARCHES = [
    "action = update",
    "action = license.revoke",
    "action = no.such.action",
    "user = user3",
    "user = nobody",
    'group = "Customer 0"',
    "action ~ login",
    "description ~ firewall",
    "target ~ host12",
    "certificate",
    "zyzzyvas",
    "changes ~ quarterly",
    "user = user3 and action = update",
    "action = update and firewall",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    django_setup()

    from django.conf import settings

    from audits.paginator import bounded_count, planner_estimate
    from audits.search.fields import audit_search
    from audits.selectors import audit_event_list

    limit = settings.AUDIT_API_EXACT_COUNT_LIMIT
    print(f"limit {limit}, {args.repeat} repeats; ms (p50 / p95)")
    print(f"{'search':36} {'EXPLAIN':>15} {'bounded_count':>17} {'share p50':>10}  answer")
    shares = []
    for text in SEARCHES:
        queryset = audit_search(audit_event_list(), text)
        bounded_count(queryset, limit)  # warm: the first plan reads the catalogue
        explain, _ = timed(lambda queryset=queryset: planner_estimate(queryset), args.repeat)
        whole, counted = timed(
            lambda queryset=queryset: bounded_count(queryset, limit), args.repeat
        )
        share = statistics.median(explain) / statistics.median(whole)
        shares.append(share)
        answer = counted.exact if counted.exact is not None else f"~{counted.estimate}"
        print(
            f"{text:36} {percentile(explain, 0.5):7.2f} / {percentile(explain, 0.95):5.2f}"
            f" {percentile(whole, 0.5):8.2f} / {percentile(whole, 0.95):6.2f}"
            f" {share:9.1%}  {answer}",
            flush=True,
        )
    print(
        f"EXPLAIN's share of bounded_count, median over the searches: {statistics.median(shares):.1%}"
    )


if __name__ == "__main__":
    main()
