"""
Mutators, as lib/sensu/server/mutate.rb `mutate_event`: the handler's `mutator` (default
`json`) turns the event into the data the handler gets. A Mutator row (a pipe mutator: the
command reads the event JSON and prints the data) comes first, then the built-ins `json`
(Sensu::JSON.dump of the event) and `only_check_output` (the check's output). A mutator
that fails or is unknown means the handler does not run (MutationFailed says why).
"""

import json
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from monitoring.handling.executors import process_run
from monitoring.models import Mutator

# A pipe mutator's output is the handler's input, so it is kept whole up to this size (an
# event is far smaller); beyond it the mutation fails rather than hand on a cut document.
MUTATOR_OUTPUT_MAX_CHARS = 1_048_576


class MutationFailed(Exception):
    def __init__(self, reason: str, *, output: str = "", exit_status: int | None = None):
        super().__init__(reason)
        self.reason = reason
        self.output = output
        self.exit_status = exit_status


def event_json(event: dict[str, Any]) -> bytes:
    """
    Sensu::JSON.dump: compact JSON, ended by a newline (Sensu's was not), so a handler that
    appends what it reads to a file or a line-based socket writes one event per line. Any
    JSON reader takes it as before.
    """
    return json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"


def _only_check_output(event: dict[str, Any]) -> bytes:
    return str((event.get("check") or {}).get("output", "")).encode()


BUILTIN_MUTATORS = {"json": event_json, "only_check_output": _only_check_output}


@dataclass
class MutatorBook:
    """The Mutator rows a batch of runs may need, by name."""

    definitions: dict[str, Mutator]

    @classmethod
    def load(cls, names: set[str]) -> "MutatorBook":
        wanted = {name for name in names if name}
        if not wanted:
            return cls({})
        return cls({m.name: m for m in Mutator.objects.filter(name__in=wanted)})


def event_mutate(mutator_name: str, event: dict[str, Any], book: MutatorBook) -> bytes:
    """The data for the handler; raises MutationFailed (the handler then does not run)."""
    name = mutator_name or "json"
    definition = book.definitions.get(name)
    if definition is not None:
        execution = process_run(
            command=definition.command,
            shell=definition.shell,
            data=event_json(event),
            timeout=definition.timeout or settings.MONITORING_HANDLER_TIMEOUT_SECONDS,
            limit=MUTATOR_OUTPUT_MAX_CHARS,
        )
        if not execution.ok:
            raise MutationFailed(
                f"mutator {name} failed: {execution.reason}",
                output=execution.output,
                exit_status=execution.exit_status,
            )
        if len(execution.output) >= MUTATOR_OUTPUT_MAX_CHARS:
            raise MutationFailed(
                f"mutator {name} printed more than {MUTATOR_OUTPUT_MAX_CHARS} characters",
                output=execution.output[: settings.MONITORING_HANDLER_OUTPUT_MAX_CHARS],
            )
        return execution.output.encode()
    builtin = BUILTIN_MUTATORS.get(name)
    if builtin is None:
        raise MutationFailed(f"unknown mutator {name}")
    return builtin(event)
