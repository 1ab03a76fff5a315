"""Reads for licensing: the running license, options, versions, pending updates and jobs."""

from django.db import IntegrityError, transaction
from django.db.models import QuerySet

from licensing.choices import ACTIVE_JOB_STATES
from licensing.models import (
    ConsoleOption,
    Installation,
    License,
    LicenseField,
    Release,
    StartupStatus,
    UpdateJob,
)


def license_current() -> License | None:
    return License.objects.order_by("-installed_at", "-pk").first()


def license_fields(*, license: License, include_hidden: bool = True) -> QuerySet[LicenseField]:
    fields = license.fields.all()
    return fields if include_hidden else fields.filter(hide_from_customer=False)


def license_update_refusal(*, license: License | None) -> str:
    """Why the license refuses updates now (none installed, or expired under its policy), or ""."""
    if license is None:
        return "No license is installed; updates need a valid license."
    if license.forbids_updates():
        return (
            f"The license expired at {license.expiration_time:%Y-%m-%d %H:%M:%S} UTC and its "
            f"policy ({license.get_expiration_policy_display()}) forbids updates."
        )
    return ""


def installation_get() -> Installation:
    """The singleton row, created on first use."""
    installation = Installation.objects.select_related("current_release").filter(pk=1).first()
    if installation is not None:
        return installation
    try:
        with transaction.atomic():
            Installation.objects.create(pk=1)
    except IntegrityError:
        pass  # Created concurrently.
    return Installation.objects.select_related("current_release").get(pk=1)


def releases_on_channel(*, license: License | None = None) -> QuerySet[Release]:
    """Releases on the license's channel; with no license installed, every release."""
    license = license if license is not None else license_current()
    releases = Release.objects.all()
    if license is not None:
        releases = releases.filter(channel__iexact=license.release_channel)
    return releases


def releases_pending(
    *, license: License | None = None, current_sequence: int | None = None
) -> QuerySet[Release]:
    """
    Releases above the running one on the license's channel, oldest first. A caller that
    already holds the license and the running sequence passes them and saves their queries.
    """
    if current_sequence is None:
        current_sequence = installation_get().current_sequence
    return (
        releases_on_channel(license=license)
        .filter(sequence__gt=current_sequence)
        .order_by("sequence")
    )


def update_plan(*, target: Release, current: int, candidates: QuerySet[Release]) -> list[Release]:
    """
    What applying `target` installs, in order: every required release between the current
    one and the target, then the target. Optional releases in between are skipped, as
    Replicated stepped through required releases only.
    """
    between = candidates.filter(
        sequence__gt=current, sequence__lt=target.sequence, required=True
    ).order_by("sequence")
    return [*between, target]


def update_job_active() -> UpdateJob | None:
    return UpdateJob.objects.filter(state__in=ACTIVE_JOB_STATES).first()


def update_jobs() -> QuerySet[UpdateJob]:
    return UpdateJob.objects.select_related("target_release", "requested_by")


def console_option_get(*, name: str) -> ConsoleOption | None:
    return ConsoleOption.objects.filter(name=name).first()


def console_option_children(*, option: ConsoleOption) -> QuerySet[ConsoleOption]:
    """A group option's sub-options (`snapshot.schedule.*` for `snapshot.schedule`), by name."""
    return ConsoleOption.objects.filter(name__startswith=option.name + ".").order_by("name")


def startup_status_latest() -> StartupStatus | None:
    return StartupStatus.objects.first()
