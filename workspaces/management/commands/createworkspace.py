"""Provision a workspace and its owner from the command line (support, scripts, self-hosters)."""

import json
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.core.validators import validate_email
from django.urls import reverse

from workspaces.accounts import user_ensure_verified
from workspaces.services import workspace_create
from workspaces.validation import country_validate, region_validate, timezone_validate


def _message(exc: ValidationError) -> str:
    return " ".join(exc.messages)


class Command(BaseCommand):
    help = "Create a workspace with its owner (created if missing, with a verified email) and print its keys."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="Name of the workspace (the business).")
        parser.add_argument(
            "--owner-email", required=True, help="Email of the owner; the account is created if missing."
        )
        parser.add_argument(
            "--region", default=settings.CLARM_REGION, help=f"One of {', '.join(settings.CLARM_REGIONS)}."
        )
        parser.add_argument("--timezone", default="UTC", help="IANA time zone, e.g. Europe/London.")
        parser.add_argument("--country", default="US", help="Default country for phone numbers (ISO 3166 alpha-2).")
        parser.add_argument("--json", action="store_true", help="Print one JSON object instead of text.")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            name = options["name"].strip()
            if not name:
                raise ValidationError("The workspace name is empty.")
            email = options["owner_email"].strip().lower()
            try:
                validate_email(email)
            except ValidationError as exc:
                raise ValidationError(f"--owner-email: “{email}” is not a valid email address.") from exc
            timezone_name = timezone_validate(options["timezone"])
            region = region_validate(options["region"])
            country = country_validate(options["country"])
        except ValidationError as exc:
            raise CommandError(_message(exc)) from exc

        owner, created = user_ensure_verified(email=email)
        workspace, write_key, secret_key = workspace_create(
            name=name, owner=owner, timezone_name=timezone_name, region=region, default_country=country
        )
        reset_url = settings.CLARM_PUBLIC_URL + reverse("account_reset_password")
        login_url = settings.CLARM_PUBLIC_URL + reverse("account_login")
        result = {
            "id": workspace.pk,
            "slug": workspace.slug,
            "name": workspace.name,
            "region": workspace.region,
            "timezone": workspace.timezone,
            "owner_email": email,
            "owner_created": created,
            "write_key": write_key,
            "secret_key": secret_key,
            "login_url": login_url,
        }
        if options["json"]:
            self.stdout.write(json.dumps(result, indent=2))
            return
        self.stdout.write(self.style.SUCCESS(f"Created workspace “{workspace.name}”"))
        self.stdout.write(f"  id:         {workspace.pk}")
        self.stdout.write(f"  slug:       {workspace.slug}")
        self.stdout.write(f"  region:     {workspace.region}   time zone: {workspace.timezone}")
        self.stdout.write(f"  owner:      {email}{' (new account)' if created else ''}")
        self.stdout.write(f"  write key:  {write_key}")
        self.stdout.write(f"  secret key: {secret_key}   (shown only now: store it safely)")
        if created or not owner.has_usable_password():
            self.stdout.write(
                f"The owner has no password yet: open {reset_url} and ask for a reset link for {email}, "
                f"or run `manage.py changepassword {owner.get_username()}`."
            )
        self.stdout.write(f"Log in at {login_url}")
