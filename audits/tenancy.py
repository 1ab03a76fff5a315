"""
Retraced's tenancy: project -> environment -> group. Projects and environments are rows
(managed in the admin); a group is only an id on events, created by the first event that
names it. A fresh install has the project `default` with the environment `production`
(migration 0013), which the Replicated Audit API and the site's own events use.
"""

from django.core.exceptions import ValidationError

from audits.models import DEFAULT_ENVIRONMENT_ID, DEFAULT_PROJECT_ID, Environment, Project


def environment_get(*, project: str, environment: str) -> Environment | None:
    return (
        Environment.objects.select_related("project")
        .filter(project_id=project, slug=environment)
        .first()
    )


def token_tenancy_check(project: str, environment: str) -> None:
    """An API token may only be given a project and environment that exist."""
    if (project, environment) == (DEFAULT_PROJECT_ID, DEFAULT_ENVIRONMENT_ID):
        default_tenancy_ensure()  # after a test database flush, say
        return
    if not Project.objects.filter(pk=project).exists():
        known = ", ".join(Project.objects.values_list("pk", flat=True)[:20])
        raise ValidationError(f"No project {project!r}. Projects: {known}.")
    if environment_get(project=project, environment=environment) is None:
        known = ", ".join(
            Environment.objects.filter(project_id=project).values_list("slug", flat=True)[:20]
        )
        raise ValidationError(
            f"Project {project!r} has no environment {environment!r}. Environments: {known}."
        )


def default_tenancy_ensure(*, using: str = "default") -> Environment:
    """The default project and environment, created if missing (a flushed database)."""
    project, _ = Project.objects.using(using).get_or_create(
        pk=DEFAULT_PROJECT_ID, defaults={"name": "Default project"}
    )
    environment, _ = Environment.objects.using(using).get_or_create(
        project=project, slug=DEFAULT_ENVIRONMENT_ID, defaults={"name": "Production"}
    )
    return environment
