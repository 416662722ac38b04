"""Tenants: workspaces, their members and invitations, API keys and the audit log.

Every tenant row elsewhere carries `workspace`; `TenantManager.for_workspace()` is the one place a
query is scoped to a tenant.
"""

import datetime
import secrets
import zoneinfo

from django.conf import settings
from django.db import models
from django.utils import timezone as dj_timezone


def _identifier_key() -> str:
    return secrets.token_hex(32)


def _invitation_token() -> str:
    return secrets.token_urlsafe(32)


class ConsentMode(models.TextChoices):
    EU_ONLY = "eu_only", "Only for visitors in the EU/EEA/UK"
    ALWAYS = "always", "Always ask"
    NEVER = "never", "Never ask"


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    ADMIN = "admin", "Admin"
    MEMBER = "member", "Member"


TIMEZONE_CHOICES = [(tz, tz) for tz in sorted(zoneinfo.available_timezones())]


class Workspace(models.Model):
    name = models.CharField(max_length=120)
    slug = models.SlugField(max_length=80, unique=True)
    timezone = models.CharField(max_length=64, default="UTC", choices=TIMEZONE_CHOICES)
    default_country = models.CharField(
        max_length=2, default="US", help_text="ISO 3166 country used to read phone numbers without a +prefix."
    )
    region = models.CharField(max_length=8, default="eu")
    retention_months = models.PositiveSmallIntegerField(default=24)
    consent_mode = models.CharField(max_length=16, choices=ConsentMode.choices, default=ConsentMode.EU_ONLY)
    summary_recipients = models.JSONField(default=list, blank=True)
    allowed_origins = models.JSONField(
        default=list, blank=True, help_text="Browser origins allowed to send events; empty allows any."
    )
    # Key for the HMAC of identifier values; never leaves the server.
    identifier_key = models.CharField(max_length=64, default=_identifier_key, editable=False)
    next_customer_number = models.PositiveIntegerField(default=1)
    # The sample workspace `make run` makes (workspaces.demo): its owner can erase and reload its data.
    is_demo = models.BooleanField(default=False, editable=False)
    created_at = models.DateTimeField(default=dj_timezone.now)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.MEMBER)
    created_at = models.DateTimeField(default=dj_timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["workspace", "user"], name="membership_unique_user")]

    def __str__(self) -> str:
        return f"{self.user} in {self.workspace} ({self.role})"


class Invitation(models.Model):
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField()
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.MEMBER)
    token = models.CharField(max_length=64, unique=True, default=_invitation_token)
    invited_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=dj_timezone.now)
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)

    # An invitation can be accepted for this long after it was sent.
    VALID_DAYS = 14

    class Meta:
        indexes = [models.Index(fields=["workspace", "email"])]
        constraints = [
            # At most one pending invitation per address and workspace (emails are stored lowercased).
            models.UniqueConstraint(
                fields=["workspace", "email"],
                condition=models.Q(accepted_at__isnull=True, revoked_at__isnull=True),
                name="invitation_unique_pending_email",
            )
        ]

    def __str__(self) -> str:
        return f"Invitation of {self.email} to {self.workspace}"

    @property
    def expires_at(self) -> "datetime.datetime":
        return self.created_at + datetime.timedelta(days=self.VALID_DAYS)

    @property
    def is_pending(self) -> bool:
        return self.accepted_at is None and self.revoked_at is None and dj_timezone.now() < self.expires_at


class ApiKeyKind(models.TextChoices):
    WRITE = "write", "Write key (public, for the snippet and SDKs)"
    SECRET = "secret", "Secret key (server-side reads)"


class ApiKey(models.Model):
    """A write key is public (it ships in the snippet) and kept in clear; a secret key is kept only
    as a SHA-256 of its value (the value has 256 bits of entropy, so a slow hash adds nothing)."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="api_keys")
    kind = models.CharField(max_length=8, choices=ApiKeyKind.choices)
    prefix = models.CharField(max_length=16, help_text="First characters, shown to recognise the key.")
    lookup = models.CharField(
        max_length=64, unique=True, help_text="The write key itself, or the SHA-256 hex of a secret key."
    )
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=dj_timezone.now)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["workspace", "kind", "revoked_at"])]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.prefix}…"


class AuditLog(models.Model):
    """Append-only record of every change to members, keys, settings and personal-data rights."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="audit_log")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    action = models.CharField(max_length=64)
    target = models.CharField(max_length=200, blank=True)
    details = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=dj_timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["workspace", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.action} {self.target}"
