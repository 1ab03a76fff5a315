"""
Writes of Retraced's publisher API. Each published event gets Retraced's id (a uuid4 as 32
hex digits) and its receipt hash, then goes down the site's one ingest path
(audits.services.audit_events_ingest), into the token's project and environment.
"""

import uuid
from typing import Any

from audits.ingest import ValidEvent
from audits.retraced.hashing import compute_hash
from audits.services import IdempotencyClaim, IngestResult, audit_events_ingest


def retraced_events_publish(
    *,
    payloads: list[dict[str, Any]],
    events: list[ValidEvent],
    project: str,
    environment: str,
    caller_ip: str | None,
    bulk: bool,
    idempotency: IdempotencyClaim | None = None,
) -> IngestResult:
    """
    Store validated events (`events[i]` validated from `payloads[i]`, the body as sent) in
    `project`/`environment`, all or nothing; the result answers Retraced's `{id, hash}`, or
    for a batch their list in input order. The hash is computed over the payload as the
    client sent it, since that is what the client recomputes.
    """
    if not events:
        return IngestResult(201, "[]", "application/json", {})
    for payload, event in zip(payloads, events, strict=True):
        retraced_id = uuid.uuid4().hex
        event.values.update(
            project=project,
            environment=environment,
            retraced_id=retraced_id,
            receipt_hash=compute_hash(payload, retraced_id),
        )
    return audit_events_ingest(
        events=events, caller_ip=caller_ip, bulk=bulk, idempotency=idempotency, receipts=True
    )
