"""`manage.py demo`: make sure the demo workspace and its owner exist, load its sample business
through the real pipeline (clarm.demo; idempotent), and say how to log in."""

import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from django.urls import reverse

from clarm.demo.loading import demo_data_load
from identity.models import Customer
from workspaces.demo import DEMO_EMAIL, DEMO_PASSWORD, demo_workspace_ensure


class Command(BaseCommand):
    help = "Create (or reuse) the demo workspace “Demo Movers” with its sample business and an owner who can log in."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--base-url", default=settings.CLARM_PUBLIC_URL, help="Where this Clarm is served.")
        parser.add_argument(
            "--people",
            type=int,
            default=settings.CLARM_DEMO_PEOPLE,
            help="Generated people besides the two journeys (0: none; default CLARM_DEMO_PEOPLE).",
        )
        parser.add_argument("--no-data", action="store_true", help="Only the workspace and its owner.")
        parser.add_argument(
            "--again", action="store_true", help="Load even when the workspace has people (all duplicates then)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        base = options["base_url"].rstrip("/")
        workspace, write_key = demo_workspace_ensure()
        people = Customer.objects.filter(workspace=workspace).count()
        if people and not options["again"]:
            self.stdout.write(f"Demo data already there ({people} people); Settings → Demo data resets it.")
        elif not options["no_data"]:
            self.stdout.write(
                f"Writing the demo business through the pipeline ({options['people']} people over eight "
                "weeks and two journeys; once, on the first start)…"
            )
            self.stdout.flush()
            started = time.monotonic()
            result = demo_data_load(workspace=workspace, write_key=write_key, people=options["people"])
            took = time.monotonic() - started
            self.stdout.write(
                f"Demo data: {result.accepted} events and deliveries stored, {result.duplicates} already there "
                f"({took:.0f} s)."
            )
            for problem in result.problems[:20]:
                self.stderr.write(f"  demo: {problem}")
        self.stdout.write(self.style.SUCCESS(f"Demo workspace “{workspace.name}” is ready."))
        self.stdout.write(f"  Log in:    {base}{reverse('account_login')}")
        self.stdout.write(f"  Email:     {DEMO_EMAIL}")
        self.stdout.write(f"  Password:  {DEMO_PASSWORD}")
        self.stdout.write(f"  Workspace: {base}{reverse('identity:customers', kwargs={'ws': workspace.slug})}")
        self.stdout.write(f"  Write key: {write_key}")
