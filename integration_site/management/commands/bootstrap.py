import os
import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from integration_site.registry import registry
from integration_site.request_context import operation


class Command(BaseCommand):
    help = (
        "First-run setup: create the first admin (from DJANGO_SUPERUSER_* or with a generated "
        "password printed once) and, on an empty database, load the demo data. Safe to re-run."
    )

    def add_arguments(self, parser):
        parser.add_argument("--no-demo", action="store_true", help="Skip the demo data.")

    def handle(self, *args, no_demo, **options):
        User = get_user_model()
        fresh_database = not User.objects.exists()
        # One operation: every change below shares one request id in the audit trail.
        with operation():
            self._ensure_superuser(User)
            if fresh_database and not no_demo and os.environ.get("DEMO_DATA", "1") != "0":
                with transaction.atomic():
                    for name, loader in registry["demo_loaders"].items():
                        self.stdout.write(f"Loading demo data: {name}")
                        loader(self.stdout.write)

    def _ensure_superuser(self, User) -> None:
        username = os.environ.get("DJANGO_SUPERUSER_USERNAME")
        password = os.environ.get("DJANGO_SUPERUSER_PASSWORD")
        email = os.environ.get("DJANGO_SUPERUSER_EMAIL", "")
        if username and password:
            if not User.objects.filter(username=username).exists():
                User.objects.create_superuser(username=username, email=email, password=password)
                self.stdout.write(f"Created superuser {username!r} from DJANGO_SUPERUSER_*.")
            return
        if User.objects.filter(is_superuser=True).exists():
            return
        username = username or "admin"
        generated = secrets.token_urlsafe(12)
        User.objects.create_superuser(username=username, email=email, password=generated)
        self.stdout.write(
            self.style.WARNING(
                f"Created superuser {username!r} with password: {generated}\n"
                "This password is shown only once. Change it in the admin."
            )
        )
