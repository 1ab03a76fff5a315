"""
`manage.py worker` consuming the transport's results, killed with SIGKILL mid-stream and
started again: every result is processed exactly once. A batch killed before its commit is
delivered again (not recorded, so processed); one killed between commit and ack is delivered
again and recognised by its receipts (sensu-transport rabbitmq.rb acknowledge: Sensu acked each
message after processing, so its own server could lose or repeat one).
"""

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.db.models import Sum

from monitoring.models import Event, TransportReceipt
from monitoring.sensu.tests.rabbitmq import queue_depth, wait_until
from monitoring.sensu.transport import RESULTS_QUEUE

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

CHECKS = 20
RESULTS_PER_CHECK = 100


def database_url() -> str:
    db = connection.settings_dict
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def worker_start(vhost_url: str) -> subprocess.Popen:
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "DJANGO_SECRET_KEY": "x",
        "SENSU_TRANSPORT_URL": vhost_url,
        "SENSU_TRANSPORT_BATCH_SIZE": "100",
        "SENSU_TRANSPORT_BATCH_MS": "50",
    }
    return subprocess.Popen(
        [sys.executable, "manage.py", "worker", "--interval", "0.2"],
        cwd=Path(settings.BASE_DIR),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def occurrences() -> int:
    return Event.objects.aggregate(total=Sum("occurrences"))["total"] or 0


def test_a_worker_killed_mid_batch_loses_and_duplicates_no_result_and_two_share_the_queue(
    agents, vhost_url
):
    agent = agents(name="web-1")
    total = CHECKS * RESULTS_PER_CHECK
    for index in range(total):
        # Every result critical, each with its own `executed`: each one processed adds one
        # occurrence to its check's event, so a lost or repeated result shows in the count.
        agent.publish_check_result(
            {
                "name": f"check-{index % CHECKS}",
                "command": "check.sh",
                "output": "CRITICAL",
                "status": 2,
                "issued": 1_700_000_000 + index,
                "executed": 1_700_000_000 + index,
                "duration": 0.001,
            }
        )
    workers = []
    try:
        for kill_after in (total // 5, total // 2):
            worker = worker_start(vhost_url)
            workers.append(worker)
            wait_until(lambda threshold=kill_after: TransportReceipt.objects.count() >= threshold)
            worker.send_signal(signal.SIGKILL)
            worker.wait(timeout=30)
            assert TransportReceipt.objects.count() < total  # Killed mid-stream.
        # Two workers finish the job side by side, as workers on two hosts would.
        workers += [worker_start(vhost_url), worker_start(vhost_url)]
        wait_until(
            lambda: (
                TransportReceipt.objects.count() == total
                and queue_depth(vhost_url, RESULTS_QUEUE) == 0
            )
        )
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.send_signal(signal.SIGTERM)
                try:
                    worker.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    worker.kill()
                    worker.wait()
    # Stopped: whatever it had not acknowledged would be back in the queue.
    assert queue_depth(vhost_url, RESULTS_QUEUE) == 0
    assert occurrences() == total
    assert (
        sorted(Event.objects.values_list("occurrences", flat=True)) == [RESULTS_PER_CHECK] * CHECKS
    )
