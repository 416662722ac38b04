"""`manage.py demo`: make sure the demo workspace and its owner exist, and say how to log in."""

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from django.urls import reverse

from workspaces.demo import DEMO_EMAIL, DEMO_PASSWORD, demo_workspace_ensure


class Command(BaseCommand):
    help = "Create (or reuse) the demo workspace “Demo Movers” with a demo owner who can log in."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--base-url", default=settings.CLARM_PUBLIC_URL, help="Where this Clarm is served.")

    def handle(self, *args: Any, **options: Any) -> None:
        base = options["base_url"].rstrip("/")
        workspace, write_key = demo_workspace_ensure()
        from identity.demo_data import demo_data_load  # sample customers, through the real ingest (idempotent)

        demo_data_load(workspace=workspace, write_key=write_key)
        self.stdout.write(self.style.SUCCESS(f"Demo workspace “{workspace.name}” is ready."))
        self.stdout.write(f"  Log in:    {base}{reverse('account_login')}")
        self.stdout.write(f"  Email:     {DEMO_EMAIL}")
        self.stdout.write(f"  Password:  {DEMO_PASSWORD}")
        self.stdout.write(f"  Workspace: {base}{reverse('identity:customers', kwargs={'ws': workspace.slug})}")
        self.stdout.write(f"  Write key: {write_key}")
