"""
The console options Replicated documented (reference §1.2), their types and defaults, and
the value the Console API returns for an option (a group returns its sub-options). The
validation every write goes through (admin form and services alike) is
`validators.option_value_error`.
"""

import json
from dataclasses import dataclass, field

from licensing import selectors
from licensing.choices import OptionType
from licensing.models import ConsoleOption


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


def group_value(option: ConsoleOption, children: list[ConsoleOption]) -> str:
    """A group option returns its sub-options as a JSON object (`snapshot.schedule`)."""
    prefix = option.name + "."
    return json.dumps(
        {child.name.removeprefix(prefix): child.value for child in children}, sort_keys=True
    )


def console_option_value(option: ConsoleOption) -> str:
    """The option's value as the Console API returns it."""
    if option.type == OptionType.GROUP:
        return group_value(option, list(selectors.console_option_children(option=option)))
    return option.value
