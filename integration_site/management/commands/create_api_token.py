from datetime import timedelta

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from integration_site.scopes import Scope
from integration_site.services import UnknownScope, api_token_create


class Command(BaseCommand):
    help = "Create an API token with the given scopes and print its secret once."

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument(
            "--scope",
            action="append",
            dest="scopes",
            required=True,
            help=f"Repeat for each scope. Known: {', '.join(Scope.values)}",
        )
        parser.add_argument("--expires-in-days", type=int, default=None)
        parser.add_argument(
            "--project", default="default", help="The project the token belongs to (Retraced)."
        )
        parser.add_argument(
            "--environment", default="production", help="The project's environment."
        )

    def handle(self, *args, name, scopes, expires_in_days, project, environment, **options):
        expires_at = None
        if expires_in_days is not None:
            expires_at = timezone.now() + timedelta(days=expires_in_days)
        # Accept "--scope a,b" as well as repeated flags.
        flat = [s.strip() for value in scopes for s in value.split(",") if s.strip()]
        try:
            token, secret = api_token_create(
                name=name,
                scopes=flat,
                expires_at=expires_at,
                project=project,
                environment=environment,
            )
        except UnknownScope as exc:
            raise CommandError(str(exc)) from exc
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc
        except Exception as exc:
            if "unique" in str(exc).lower() or "already exists" in str(exc).lower():
                raise CommandError(f"A token named {name!r} already exists.") from exc
            raise
        self.stderr.write(
            f"Created token {token.name!r} with scopes {', '.join(token.scopes)} "
            f"in project {token.project!r}, environment {token.environment!r}."
        )
        self.stderr.write("This is the only time the secret is shown:")
        self.stdout.write(secret)
