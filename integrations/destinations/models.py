"""Destinations (where Clarm sends what it learns) and their deliveries.

A destination is a provider, Fernet-encrypted config (credentials included) and rules. A delivery is
one row per (destination, event or moment): what is sent, how many attempts, the provider's last
answer and when the next attempt is due. Rows, not queue messages, are the source of truth, so an
outage of the broker or of the provider loses nothing."""

from typing import Any

from django.db import models
from django.utils import timezone

from integrations.crypto import credentials_decrypt, credentials_encrypt
from workspaces.models import Workspace


class DestinationProvider(models.TextChoices):
    WEBHOOK = "webhook", "Outbound webhook"
    SLACK = "slack", "Slack"
    META_CAPI = "meta_capi", "Meta Conversions API"
    GOOGLE_ADS = "google_ads", "Google Ads (Data Manager API)"
    HUBSPOT = "hubspot", "HubSpot"
    PIPEDRIVE = "pipedrive", "Pipedrive"
    SALESFORCE = "salesforce", "Salesforce"
    GOHIGHLEVEL = "gohighlevel", "GoHighLevel"


class DestinationStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    PAUSED = "paused", "Paused by a member"
    FAILING = "failing", "Paused: failing for 72 hours"


class Destination(models.Model):
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    provider = models.CharField(max_length=16, choices=DestinationProvider.choices)
    name = models.CharField(max_length=120)
    config_encrypted = models.TextField(editable=False)
    rules = models.JSONField(default=list, blank=True)
    status = models.CharField(max_length=8, choices=DestinationStatus.choices, default=DestinationStatus.ACTIVE)
    # Set at the first failure after a success, cleared by a success: 72 h of it pauses the destination.
    failing_since = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["workspace", "status"], name="destination_ws_status")]

    def __str__(self) -> str:
        return f"{self.name} ({self.provider})"

    @property
    def config(self) -> dict[str, Any]:
        return credentials_decrypt(self.config_encrypted) if self.config_encrypted else {}

    def set_config(self, values: dict[str, Any]) -> None:
        self.config_encrypted = credentials_encrypt(values)


class DeliveryKind(models.TextChoices):
    EVENT = "event", "Event"
    RUNG_REACHED = "rung_reached", "Rung reached"
    HIGH_INTENT = "high_intent_visitor", "High-intent visitor"
    TEST = "test", "Test event"
    ERASURE = "erasure", "Erasure"
    OPTOUT = "optout", "Opt-out"


class DeliveryState(models.TextChoices):
    PENDING = "pending", "Pending"
    SENDING = "sending", "Sending"
    RETRYING = "retrying", "Retrying"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed"
    SKIPPED = "skipped", "Skipped (consent)"


# States a sweep sends (when `next_attempt_at` is due); SENDING rows are leased until then.
DUE_STATES = (DeliveryState.PENDING, DeliveryState.RETRYING, DeliveryState.SENDING)


class DestinationDelivery(models.Model):
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    destination = models.ForeignKey(Destination, on_delete=models.CASCADE, related_name="deliveries")
    kind = models.CharField(max_length=20, choices=DeliveryKind.choices)
    # Unique per destination: "event:<id>", "rung_reached:4:<customer id>", "high_intent_visitor:<customer>:<n>",
    # "optout:<remote id>:<purposes>:<when>", "erasure:<remote id>".
    key = models.CharField(max_length=120)
    # No foreign keys: events are partitioned by month and retention drops them whole.
    event_id = models.BigIntegerField(null=True, blank=True)
    customer_id = models.BigIntegerField(null=True, blank=True)
    # The rule that matched, with its mapping (e.g. {"on": "event", "event": "purchase", "map_to": "Purchase"}).
    rule = models.JSONField(default=dict, blank=True)
    # What a moment carries besides its customer (e.g. {"rung": 4} or {"score": 82}); nothing personal.
    data = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=10, choices=DeliveryState.choices, default=DeliveryState.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_answer = models.TextField(blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    first_attempt_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    # Remote record it created or updated (a CRM contact id), for erasure and stitching back.
    remote_id = models.CharField(max_length=120, blank=True)

    class Meta:
        verbose_name_plural = "destination deliveries"
        constraints = [
            models.UniqueConstraint(fields=["destination", "key"], name="destination_delivery_unique_key"),
        ]
        indexes = [
            models.Index(fields=["destination", "status", "next_attempt_at"], name="dest_delivery_due"),
            models.Index(fields=["status", "next_attempt_at"], name="dest_delivery_sweep"),
            models.Index(fields=["workspace", "destination", "-created_at"], name="dest_delivery_log"),
            models.Index(fields=["workspace", "customer_id"], name="dest_delivery_customer"),
        ]

    def __str__(self) -> str:
        return f"{self.destination_id}:{self.key}"
