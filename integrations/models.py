"""Channel connections (encrypted credentials), inbound webhook deliveries and tracked links."""

import hashlib
import secrets
from typing import Any

from django.db import models
from django.utils import timezone

from identity.models import Customer
from integrations.crypto import credentials_decrypt, credentials_encrypt
from workspaces.models import Workspace


class Provider(models.TextChoices):
    STRIPE = "stripe", "Stripe"
    TWILIO = "twilio", "Twilio (SMS, WhatsApp, voice)"
    SENDGRID = "sendgrid", "SendGrid (email)"
    CALENDLY = "calendly", "Calendly"
    GENERIC = "generic", "Generic signed webhook"


class ConnectionStatus(models.TextChoices):
    ACTIVE = "active", "Connected"
    ERROR = "error", "Connection test failed"
    DISCONNECTED = "disconnected", "Disconnected"


class Connection(models.Model):
    """One provider connected to one workspace. Credentials are Fernet-encrypted at rest."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    provider = models.CharField(max_length=16, choices=Provider.choices)
    credentials_encrypted = models.TextField(blank=True, editable=False)
    status = models.CharField(max_length=16, choices=ConnectionStatus.choices, default=ConnectionStatus.ACTIVE)
    last_event_at = models.DateTimeField(null=True, blank=True)
    last_checked_at = models.DateTimeField(null=True, blank=True)
    last_check_message = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["workspace", "provider"], name="connection_unique_provider")]

    def __str__(self) -> str:
        return f"{self.get_provider_display()} for {self.workspace_id}"

    @property
    def credentials(self) -> dict[str, Any]:
        return credentials_decrypt(self.credentials_encrypted) if self.credentials_encrypted else {}

    def set_credentials(self, values: dict[str, Any]) -> None:
        self.credentials_encrypted = credentials_encrypt(values)


class DeliveryStatus(models.TextChoices):
    RECEIVED = "received", "Received"
    PROCESSED = "processed", "Processed"
    FAILED = "failed", "Failed (will retry)"
    REJECTED = "rejected", "Rejected"
    IGNORED = "ignored", "Ignored (event type not used)"


def delivery_event_key(provider_event_id: str) -> str:
    """What deliveries are deduplicated by: the SHA-256 of the provider's whole event id (ids of any
    length and content: a long Calendly URI is never cut to a shared prefix)."""
    return hashlib.sha256(provider_event_id.encode("utf-8", "surrogatepass")).hexdigest()


class WebhookDelivery(models.Model):
    """An inbound webhook event, stored raw (after its signature was verified) before we answer.

    `status`: received → processed | ignored | failed (a passing problem, retried) | rejected (the
    verified body cannot be used: `last_error` says why; staff can replay it)."""

    # No index of its own: the composite indexes below lead with it (every index costs every insert).
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+", db_index=False)
    provider = models.CharField(max_length=16, choices=Provider.choices)
    # The provider's whole event id, for people to read (characters PostgreSQL cannot store replaced).
    provider_event_id = models.TextField()
    # delivery_event_key(the raw provider event id): the dedupe key.
    event_key = models.CharField(max_length=64)
    # The request that stored it: one receipt for all the events of one POST.
    receipt = models.UUIDField(null=True, blank=True, editable=False)
    event_type = models.CharField(max_length=80, blank=True)
    headers = models.JSONField(default=dict, blank=True, help_text="Provider headers only; no cookies or auth.")
    body = models.TextField(blank=True)
    received_at = models.DateTimeField(default=timezone.now)
    status = models.CharField(max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.RECEIVED)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "webhook deliveries"
        constraints = [
            models.UniqueConstraint(fields=["workspace", "provider", "event_key"], name="webhook_delivery_unique_key")
        ]
        indexes = [
            models.Index(fields=["workspace", "provider", "-received_at"], name="delivery_recent"),
            models.Index(fields=["status", "received_at"], name="delivery_status"),
        ]

    def __str__(self) -> str:
        return f"{self.provider}:{self.provider_event_id}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        # A row made one at a time (admin, tests, fixtures) gets its key from its id, as a request's do.
        if not self.event_key:
            self.event_key = delivery_event_key(self.provider_event_id)
        super().save(*args, **kwargs)


class LinkChannel(models.TextChoices):
    EMAIL = "email", "Email"
    SMS = "sms", "SMS"
    WHATSAPP = "whatsapp", "WhatsApp"
    AD = "ad", "Ad"
    OTHER = "other", "Other"


class LinkKind(models.TextChoices):
    LINK = "link", "Redirect link"
    PIXEL = "pixel", "Email open pixel"


def _link_code() -> str:
    # 128 random bits: unguessable, so the code itself is the capability.
    return secrets.token_urlsafe(16)


class TrackedLink(models.Model):
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=8, choices=LinkKind.choices, default=LinkKind.LINK)
    code = models.CharField(max_length=32, unique=True, default=_link_code, editable=False)
    target_url = models.URLField(max_length=2000, blank=True)
    customer = models.ForeignKey(Customer, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    channel = models.CharField(max_length=10, choices=LinkChannel.choices, default=LinkChannel.OTHER)
    message = models.ForeignKey(
        "agents.Message", null=True, blank=True, on_delete=models.SET_NULL, related_name="tracked_links"
    )
    utm_source = models.CharField(max_length=100, blank=True)
    utm_medium = models.CharField(max_length=100, blank=True)
    utm_campaign = models.CharField(max_length=100, blank=True)
    utm_term = models.CharField(max_length=100, blank=True)
    utm_content = models.CharField(max_length=100, blank=True)
    label = models.CharField(max_length=120, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    clicks = models.PositiveIntegerField(default=0)

    class Meta:
        indexes = [models.Index(fields=["workspace", "-created_at"], name="link_recent")]

    def __str__(self) -> str:
        return f"{self.kind} {self.code[:6]}…"

    @property
    def utm(self) -> dict[str, str]:
        fields = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")
        return {f: getattr(self, f) for f in fields if getattr(self, f)}


# Destinations live in their own package; imported here so Django registers the models.
from integrations.destinations.models import (  # noqa: E402
    Destination,
    DestinationDelivery,
    DestinationProvider,
    DestinationStatus,
)

__all__ = [
    "Connection",
    "Destination",
    "DestinationDelivery",
    "DestinationProvider",
    "DestinationStatus",
    "TrackedLink",
    "WebhookDelivery",
]
