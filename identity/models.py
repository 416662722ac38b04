"""Customers, the identifiers that point at them, and the append-only merge log."""

from django.conf import settings
from django.db import models
from django.utils import timezone

from workspaces.models import Workspace


class Rung(models.IntegerChoices):
    DEVICE = 0, "device"
    VISITOR = 1, "visitor"
    EMAIL = 2, "email"
    PHONE = 3, "phone"
    ACCOUNT = 4, "account"


class CustomerStatus(models.TextChoices):
    LIVE = "live", "Live"
    MERGED = "merged", "Merged into another customer"


class Customer(models.Model):
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="customers")
    status = models.CharField(max_length=8, choices=CustomerStatus.choices, default=CustomerStatus.LIVE)
    merged_into = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    rung = models.PositiveSmallIntegerField(choices=Rung.choices, default=Rung.DEVICE)
    customer_number = models.PositiveIntegerField(null=True, blank=True)
    name = models.CharField(max_length=200, blank=True)
    company = models.CharField(max_length=200, blank=True)
    # Plain contact values live only here (for messaging); identifiers hold keyed hashes.
    email = models.EmailField(blank=True)
    phone = models.CharField(max_length=32, blank=True, help_text="E.164")
    traits = models.JSONField(default=dict, blank=True)
    first_seen = models.DateTimeField(default=timezone.now)
    last_seen = models.DateTimeField(default=timezone.now)
    # Preferences: True = allowed. An opt-out is never undone by a merge (the most restrictive wins).
    allow_analytics = models.BooleanField(default=True)
    allow_marketing_email = models.BooleanField(default=True)
    allow_marketing_sms = models.BooleanField(default=True)
    allow_ad_sendback = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "customer_number"],
                condition=models.Q(customer_number__isnull=False),
                name="customer_number_unique_per_workspace",
            )
        ]
        indexes = [
            models.Index(fields=["workspace", "status", "-last_seen", "-id"], name="customer_ws_last_seen"),
            models.Index(fields=["workspace", "status", "rung"], name="customer_ws_rung"),
        ]

    def __str__(self) -> str:
        if self.customer_number:
            return f"Customer #{self.customer_number}"
        return self.name or self.email or f"Anonymous {self.pk}"


class IdentifierKind(models.TextChoices):
    DEVICE = "device", "Device"
    EMAIL = "email", "Email"
    PHONE = "phone", "Phone"
    USER_ID = "user_id", "Account id"
    EXTERNAL = "external", "External id"


class Identifier(models.Model):
    """A keyed hash (HMAC-SHA256 with the workspace's key) of a normalized identifier value."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="identifiers")
    kind = models.CharField(max_length=16, choices=IdentifierKind.choices)
    value_hash = models.CharField(max_length=64)
    masked = models.CharField(max_length=120, blank=True, help_text="A hint such as j***@acme.com")
    # Devices only: number of visits (sessions) seen, for rung 1.
    visit_count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workspace", "kind", "value_hash"], name="identifier_unique_value")
        ]
        indexes = [models.Index(fields=["customer", "kind"])]

    def __str__(self) -> str:
        return f"{self.kind}:{self.masked or self.value_hash[:8]}"


class MergeLog(models.Model):
    """Append-only: what a merge (or split) moved, so staff can undo it exactly."""

    class Kind(models.TextChoices):
        MERGE = "merge", "Merge"
        SPLIT = "split", "Device split"

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.MERGE)
    survivor = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+")
    merged = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+")
    reason = models.CharField(max_length=200)
    moved = models.JSONField(default=dict)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    undone_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["workspace", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.kind} {self.merged_id} → {self.survivor_id}"


class Suppression(models.Model):
    """Hashed suppression list: keeps an opt-out after the person is erased. Holds only the keyed hash
    of an identifier and what it opts out of; checked when a matching identifier shows up again."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=16, choices=IdentifierKind.choices)
    value_hash = models.CharField(max_length=64)
    analytics = models.BooleanField(default=False, help_text="Opted out of analytics tracking")
    marketing_email = models.BooleanField(default=False)
    marketing_sms = models.BooleanField(default=False)
    ad_sendback = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workspace", "kind", "value_hash"], name="suppression_unique_value")
        ]

    def __str__(self) -> str:
        return f"suppression {self.kind}:{self.value_hash[:8]}"
