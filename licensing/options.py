"""
The console options Replicated documented (reference §1.2), their types and defaults, and
the validation every write goes through (admin form and services alike).
"""

import json
import re
from dataclasses import dataclass, field

from licensing.models import ConsoleOption, OptionType


@dataclass(frozen=True)
class OptionSpec:
    name: str
    type: str
    default: str = ""
    description: str = ""
    masked: bool = False
    choices: list[str] = field(default_factory=list)


_DAYS = ["sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"]

DOCUMENTED_OPTIONS: list[OptionSpec] = [
    OptionSpec("airgap.install", OptionType.BOOLEAN, "false", "Installed from an airgap bundle."),
    OptionSpec("airgap.license.path", OptionType.STRING, "", "Path of the airgap license file."),
    OptionSpec("airgap.package.path", OptionType.STRING, "", "Path of airgap update packages."),
    OptionSpec("snapshot.destination", OptionType.STRING, "local", "Where snapshots are stored."),
    OptionSpec("snapshot.retention", OptionType.INTEGER, "3", "Snapshots kept."),
    OptionSpec("snapshot.timeout", OptionType.INTEGER, "3600", "Snapshot timeout in seconds."),
    OptionSpec("snapshot.schedule", OptionType.GROUP, "", "All snapshot.schedule.* options."),
    OptionSpec("snapshot.schedule.enabled", OptionType.BOOLEAN, "false", "Scheduled snapshots."),
    OptionSpec("snapshot.schedule.spec", OptionType.SCHEDULE, "@daily", "Snapshot schedule."),
    OptionSpec("snapshot.schedule.time.daily", OptionType.TIME, "00:00", "Daily snapshot time."),
    OptionSpec(
        "snapshot.schedule.day.weekly", OptionType.CHOICE, "sunday", "Weekly day.", choices=_DAYS
    ),
    OptionSpec("snapshot.schedule.time.weekly", OptionType.TIME, "00:00", "Weekly time."),
    OptionSpec(
        "snapshot.schedule.custom.interval", OptionType.SCHEDULE, "@every 24h", "Custom interval."
    ),
    OptionSpec("cert.filename", OptionType.STRING, "", "TLS certificate file name."),
    OptionSpec("cert.filepath", OptionType.STRING, "", "TLS certificate path."),
    OptionSpec("key.filename", OptionType.STRING, "", "TLS key file name."),
    OptionSpec("key.filepath", OptionType.STRING, "", "TLS key path."),
    OptionSpec("security.cert", OptionType.PEM, "", "Console TLS certificate.", masked=True),
    OptionSpec("security.key", OptionType.PEM, "", "Console TLS private key.", masked=True),
    OptionSpec("tls.authority.cert", OptionType.PEM, "", "CA certificate.", masked=True),
    OptionSpec(
        "tls.config.option",
        OptionType.CHOICE,
        "tls1_2",
        "Minimum TLS version.",
        choices=["tls1_0", "tls1_1", "tls1_2", "tls1_3"],
    ),
    OptionSpec("app.update.check.schedule", OptionType.SCHEDULE, "@every 5h", "Update checks."),
    OptionSpec(
        "clock.skew.threshold.milliseconds", OptionType.INTEGER, "1000", "Allowed clock skew."
    ),
    OptionSpec("hostname", OptionType.STRING, "", "The console's host name."),
    OptionSpec(
        "http.proxy", OptionType.STRING, "", "HTTP proxy URL (may hold a password).", masked=True
    ),
    OptionSpec("http.proxy.enabled", OptionType.BOOLEAN, "false", "Use the HTTP proxy."),
    OptionSpec("language.source", OptionType.STRING, "", "Deprecated by Replicated; kept."),
    OptionSpec("license.sync.schedule", OptionType.SCHEDULE, "@every 24h", "License re-sync."),
    OptionSpec("statsd.data.location", OptionType.STRING, "/var/lib/statsd", "Statsd data dir."),
    OptionSpec("statsd.endpoint", OptionType.STRING, "", "Statsd endpoint host:port."),
    OptionSpec(
        "scheduler",
        OptionType.CHOICE,
        "replicated",
        "Container scheduler.",
        choices=["replicated", "swarm", "kubernetes"],
    ),
    OptionSpec(
        "update.check.schedule.custom.interval",
        OptionType.SCHEDULE,
        "@every 5h",
        "Custom update check interval.",
    ),
]

_SCHEDULE = re.compile(
    r"^(@(yearly|annually|monthly|weekly|daily|midnight|hourly)"
    r"|@every (\d+(ns|us|ms|s|m|h))+"
    r"|([\d*/,\-A-Za-z?]+\s+){4}[\d*/,\-A-Za-z?]+)$"
)
_TIME = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


def option_value_error(option: ConsoleOption, value: str) -> str | None:
    """Why `value` is not valid for `option`, or None. An empty value means "not set"."""
    if value == "":
        return None
    kind = option.type
    if kind == OptionType.INTEGER:
        if not re.fullmatch(r"-?\d+", value.strip()):
            return f"{option.name} needs a whole number, got {value!r}."
    elif kind == OptionType.BOOLEAN:
        if value not in ("true", "false"):
            return f"{option.name} needs 'true' or 'false', got {value!r}."
    elif kind == OptionType.CHOICE:
        if value not in option.choices:
            return f"{option.name} must be one of {', '.join(option.choices)}; got {value!r}."
    elif kind == OptionType.SCHEDULE:
        if not _SCHEDULE.match(value.strip()):
            return (
                f"{option.name} needs a schedule such as '@every 5h', '@daily' or a five-field "
                f"cron line; got {value!r}."
            )
    elif kind == OptionType.TIME:
        if not _TIME.match(value):
            return f"{option.name} needs a time of day as HH:MM, got {value!r}."
    elif kind == OptionType.PEM:
        if "-----BEGIN " not in value or "-----END " not in value:
            return f"{option.name} needs a PEM block (-----BEGIN ...----- ... -----END ...-----)."
    elif kind == OptionType.GROUP:
        return f"{option.name} is computed from its sub-options and cannot be set."
    elif kind == OptionType.STRING and "\n" in value:
        return f"{option.name} is a single line; use no line breaks."
    return None


def group_value(option: ConsoleOption, children: list[ConsoleOption]) -> str:
    """A group option returns its sub-options as a JSON object (`snapshot.schedule`)."""
    prefix = option.name + "."
    return json.dumps(
        {child.name.removeprefix(prefix): child.value for child in children}, sort_keys=True
    )
