"""
What `manage.py sensu_import` costs on a large conf.d (issue 16): a first import (every
definition created, one audited save each), a second import of the same directory (every
definition unchanged: one locked read each, nothing written or audited), and as the baseline
the same rows written with one bulk_create per model (no validation, no audit), in the same
run on the same database.

    createdb -h 127.0.0.1 -U postgres scratch_import
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/scratch_import .venv/bin/python bench/sensu_import.py --definitions 2000

It migrates the database it is given and deletes its checks, handlers, filters and mutators
between measurements: use a scratch database.
"""

import argparse
import io
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "integration_site.settings")
os.environ.setdefault("DJANGO_SECRET_KEY", "bench")

import django

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection, transaction  # noqa: E402

from audits.context import audit_context  # noqa: E402
from monitoring.definitions import KINDS, sensu_config_import, sensu_config_read  # noqa: E402
from monitoring.models import CheckDefinition, Filter, Handler, Mutator  # noqa: E402


def conf_d(root: Path, count: int) -> None:
    """`count` checks and handlers, a tenth as many filters and mutators, a file per group of 50."""
    for n in range(0, count, 50):
        names = range(n, min(n + 50, count))
        checks = {
            f"check_{i}": {
                "command": f"check-thing.rb --id {i}",
                "subscribers": ["production", f"role-{i % 7}"],
                "interval": 60,
                "handlers": ["default", f"handler_{i}"],
                "occurrences": 3,
            }
            for i in names
        }
        handlers = {
            f"handler_{i}": {
                "type": "pipe",
                "command": f"notify.rb --team {i % 13}",
                "severities": ["critical", "warning"],
                "filters": [f"filter_{i % max(count // 10, 1)}"],
            }
            for i in names
        }
        (root / f"checks_{n}.json").write_text(json.dumps({"checks": checks}))
        (root / f"handlers_{n}.json").write_text(json.dumps({"handlers": handlers}))
    filters = {
        f"filter_{i}": {
            "attributes": {"check": {"occurrences": "eval: value > 2"}},
            "negate": False,
        }
        for i in range(max(count // 10, 1))
    }
    mutators = {f"mutator_{i}": {"command": f"mutate.rb {i}"} for i in range(max(count // 10, 1))}
    (root / "filters.json").write_text(json.dumps({"filters": filters}))
    (root / "mutators.json").write_text(json.dumps({"mutators": mutators}))


def clear() -> None:
    for model in (CheckDefinition, Handler, Filter, Mutator):
        model.objects.all().delete()


def timed(work) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def bulk_baseline(settings: dict) -> None:
    """The same rows through the same fill functions, written with one INSERT per model."""
    with transaction.atomic():
        for category, kind in KINDS.items():
            rows = []
            for name, data in settings.get(category, {}).items():
                row = kind.model(name=name)
                kind.fill(row, data)
                rows.append(row)
            kind.model.objects.bulk_create(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--definitions", type=int, default=2000)
    args = parser.parse_args()
    call_command("migrate", verbosity=0, stdout=io.StringIO())
    clear()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        conf_d(root, args.definitions)
        read_seconds = timed(lambda: sensu_config_read(root))
        read = sensu_config_read(root)
        total = sum(len(read.settings[c]) for c in KINDS)
        baseline = timed(lambda: bulk_baseline(read.settings))
        clear()
        with audit_context():
            first = timed(lambda: sensu_config_import(read.settings))
            second = timed(lambda: sensu_config_import(read.settings))
        clear()
    print(f"database: {connection.vendor}; {total} definitions in {len(read.files)} files")
    print(f"read and merge the files:        {read_seconds:8.3f} s")
    print(f"baseline, bulk_create (no audit): {baseline:8.3f} s  {total / baseline:9.0f} /s")
    print(
        f"first import (all created):       {first:8.3f} s  {total / first:9.0f} /s"
        f"  ({first / baseline:.1f}x the baseline)"
    )
    print(
        f"second import (all unchanged):    {second:8.3f} s  {total / second:9.0f} /s"
        f"  ({second / baseline:.1f}x the baseline)"
    )


if __name__ == "__main__":
    main()
