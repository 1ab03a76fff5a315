"""
The enumerations of licensing: license types and expiration policies, typed license fields,
console option types, update job states and startup status severities. A module of its own
so the models, the license-file parser and the validators share them without importing each
other.
"""

from django.db import models


class LicenseType(models.TextChoices):
    DEV = "dev", "Development"
    TRIAL = "trial", "Trial"
    PAID = "paid", "Paid"


class ExpirationPolicy(models.TextChoices):
    IGNORE = "ignore", "Ignore expiration"
    PREVENT_UPDATES = "prevent_updates", "Keep running, prevent updates"
    STOP = "stop", "Stop the application and prevent updates"


class FieldType(models.TextChoices):
    # Spelled as Replicated's License API spells them on the wire.
    INTEGER = "Integer"
    STRING = "String"
    TEXT = "Text"
    BOOLEAN = "Boolean"


class OptionType(models.TextChoices):
    STRING = "string", "String"
    TEXT = "text", "Multi-line text"
    INTEGER = "integer", "Integer"
    BOOLEAN = "boolean", "Boolean (true/false)"
    CHOICE = "choice", "One of the listed choices"
    SCHEDULE = "schedule", "Schedule (@every 5h, @daily or a 5-field cron line)"
    TIME = "time", "Time of day (HH:MM)"
    PEM = "pem", "PEM certificate or key"
    GROUP = "group", "Group (returns its sub-options as JSON)"


class JobState(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


ACTIVE_JOB_STATES = (JobState.QUEUED, JobState.RUNNING)


class Severity(models.TextChoices):
    INFO = "info", "Info"
    WARNING = "warning", "Warning"
    ERROR = "error", "Error"
