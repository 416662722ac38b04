"""Customers, the identifiers that point at them, and the append-only merge log."""

from django.conf import settings
from django.db import models
from django.utils import timezone

from tracking.normalize import IdentifierKind
from tracking.purposes import ConsentChoice
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
    # No index of its own: the composite indexes below (and the unique number) start with it.
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="customers", db_index=False)
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
    # Written by the enrichment processor (docs/enrichment.md), read by the customer page, the read
    # API and exports; erased with the person. The company of the network the person visits from
    # ({"name", "domain", "industry", "size", "revenue_range", "location", "enterprise_score",
    # "source", "updated_at", ...}); person fields (name, title, LinkedIn) only from their email.
    company_profile = models.JSONField(null=True, blank=True)
    person_profile = models.JSONField(null=True, blank=True)
    # Intent 0-100 as of the person's latest event, its explanation and the high_intent_visitor arming.
    intent_score = models.PositiveSmallIntegerField(null=True, blank=True)
    intent = models.JSONField(default=dict, blank=True)

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


class Identifier(models.Model):
    """A keyed hash (HMAC-SHA256 with the workspace's key) of a normalized identifier value."""

    # Neither key has an index of its own: the unique value starts with the workspace, the
    # (customer, kind) index with the customer. Each new person wrote two index entries more.
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+", db_index=False)
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="identifiers", db_index=False)
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
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
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


# --- privacy: consent records, data-subject requests, exports, retention ----------------------------


class ConsentSource(models.TextChoices):
    BANNER = "banner", "Consent banner"
    PREFERENCES = "preferences", "Preferences page"
    UNSUBSCRIBE = "unsubscribe", "Unsubscribe link"
    WORKSPACE = "workspace", "Changed in the workspace"
    API = "api", "API / channel keyword"


class ConsentPurpose(models.TextChoices):
    ANALYTICS = "analytics", "Analytics tracking"
    MARKETING_EMAIL = "marketing_email", "Marketing email"
    MARKETING_SMS = "marketing_sms", "Marketing SMS/WhatsApp"
    AD_SENDBACK = "ad_sendback", "Ad send-back"


class ConsentRecord(models.Model):
    """Proof of a consent choice: what was shown (text + its SHA-256), which version, when, where.
    Append-only. `source_event_id` makes creation from an ingested consent event idempotent; it is a
    plain id (not a foreign key) so the record outlives the event's retention."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    customer = models.ForeignKey(Customer, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    device_hash = models.CharField(max_length=64, blank=True)
    purpose = models.CharField(max_length=20, choices=ConsentPurpose.choices, default=ConsentPurpose.ANALYTICS)
    choice = models.CharField(max_length=10, choices=ConsentChoice.choices)
    version = models.CharField(max_length=64, blank=True)
    text = models.TextField(blank=True, help_text="The text shown when the choice was made")
    text_hash = models.CharField(max_length=64, blank=True, help_text="SHA-256 of the text shown")
    source = models.CharField(max_length=12, choices=ConsentSource.choices)
    source_event_id = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "source_event_id"],
                condition=models.Q(source_event_id__isnull=False),
                name="consent_record_unique_event",
            )
        ]
        indexes = [
            models.Index(fields=["workspace", "-created_at"], name="consent_ws_created"),
            models.Index(fields=["customer", "-created_at"], name="consent_customer"),
        ]

    def __str__(self) -> str:
        return f"consent {self.purpose} {self.choice}"


class DsrKind(models.TextChoices):
    EXPORT = "export", "Export"
    ERASURE = "erasure", "Erasure"


class DsrStatus(models.TextChoices):
    REQUESTED = "requested", "Requested (awaiting email verification)"
    VERIFIED = "verified", "Verified"
    IN_PROGRESS = "in_progress", "In progress"
    COMPLETED = "completed", "Completed"
    REJECTED = "rejected", "Rejected"


class DsrVia(models.TextChoices):
    WORKSPACE = "workspace", "Workspace"
    PREFERENCES = "preferences", "Preferences page"


class DataSubjectRequest(models.Model):
    """An export or erasure request. Holds no personal data: the subject is a keyed hash
    (`subject_ref`), and the customer link is cleared when the person is erased."""

    DUE_DAYS = 30

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    customer = models.ForeignKey(Customer, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    subject_ref = models.CharField(max_length=64)
    kind = models.CharField(max_length=8, choices=DsrKind.choices)
    status = models.CharField(max_length=12, choices=DsrStatus.choices, default=DsrStatus.REQUESTED)
    requested_via = models.CharField(max_length=12, choices=DsrVia.choices)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    requested_at = models.DateTimeField(default=timezone.now)
    due_at = models.DateTimeField()
    verified_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    # Non-personal outcome, e.g. {"events": 120, "identifiers": 4} for an erasure.
    outcome = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-requested_at", "-id"]
        indexes = [models.Index(fields=["workspace", "-requested_at"], name="dsr_ws_requested")]

    def __str__(self) -> str:
        return f"{self.kind} request {self.pk}"


class ExportJobFormat(models.TextChoices):
    CSV = "csv", "CSV"
    JSON = "json", "JSON"


class ExportJobStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"
    EXPIRED = "expired", "Expired (file deleted)"


class ExportJob(models.Model):
    """A workspace-wide export of every event, customer and conversation, built in the background
    into a zip in the default storage (served only to members through a checked view). The file is
    deleted `FILE_DAYS` after it was built, and at once when an erasure removes a person it may hold."""

    FILE_DAYS = 7

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    format = models.CharField(max_length=4, choices=ExportJobFormat.choices)
    status = models.CharField(max_length=8, choices=ExportJobStatus.choices, default=ExportJobStatus.QUEUED)
    rows_total = models.PositiveBigIntegerField(default=0)
    rows_done = models.PositiveBigIntegerField(default=0)
    file_name = models.CharField(max_length=255, blank=True)
    file_size = models.PositiveBigIntegerField(default=0)
    error = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["workspace", "-created_at"], name="export_job_ws_created")]

    def __str__(self) -> str:
        return f"export {self.pk} ({self.format}, {self.status})"

    @property
    def percent(self) -> int:
        if self.status == ExportJobStatus.DONE:
            return 100
        if not self.rows_total:
            return 0
        return min(99, int(self.rows_done * 100 / self.rows_total))


class RetentionRun(models.Model):
    """One purge of data older than the workspace's retention period."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    ran_at = models.DateTimeField(default=timezone.now)
    cutoff = models.DateTimeField()
    retention_months = models.PositiveSmallIntegerField()
    events_deleted = models.PositiveBigIntegerField(default=0)
    visits_deleted = models.PositiveBigIntegerField(default=0)
    payloads_deleted = models.PositiveBigIntegerField(default=0)
    messages_deleted = models.PositiveBigIntegerField(default=0)
    merge_logs_deleted = models.PositiveBigIntegerField(default=0)
    customers_deleted = models.PositiveBigIntegerField(default=0)
    consent_records_deleted = models.PositiveBigIntegerField(default=0)
    duration_ms = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-ran_at", "-id"]
        indexes = [models.Index(fields=["workspace", "-ran_at"], name="retention_run_ws_ran")]

    def __str__(self) -> str:
        return f"retention run {self.ran_at:%Y-%m-%d} ({self.events_deleted} events)"


# --- dashboard rollups (identity.rollups keeps them; the dashboard reads only these) ----------------


class RollupDimension(models.TextChoices):
    PEOPLE_SOURCE = "people_source", "New people by first-touch channel"
    PEOPLE_CAMPAIGN = "people_campaign", "New people by first-touch campaign"
    PAGE = "page", "Page views by path"
    COUNTRY = "country", "Page views by country"
    DEVICE = "device", "Page views by device"
    # By the day people were first seen: "<rung>:<bucket>" = people of that day who have reached the
    # rung, by log2 bucket of the seconds it took from the rung before (identity.rollups.dimensions).
    FUNNEL = "funnel", "People reaching each rung, by wait"
    # By the day people first reached rung 4: key "<first-touch channel>|<first-touch campaign>".
    CONVERTED = "conv", "People reaching rung 4 by first touch"
    CONVERTED_REVENUE = "conv_rev", "Their revenue (minor units) by first touch"
    CONVERTED_LAST = "conv_last", "People reaching rung 4 by last touch"
    CONVERTED_LAST_REVENUE = "conv_last_rev", "Their revenue (minor units) by last touch"
    # By the day people were first seen, those not at rung 4: key "<rung>|<last step>" (PersonFacts.last_step).
    DROPOFF = "dropoff", "People not at rung 4 by where they stopped"
    # By the day of the event (the weekly summary): payments and refunds in minor units, key
    # "paid:<currency>" / "refunded:<currency>"; bookings, key "made" / "cancelled"; what people did
    # themselves (visits, messages in, calls, clicks, bookings, payments), key the local hour "00"-"23".
    REVENUE = "revenue", "Payments and refunds (minor units) by currency"
    BOOKINGS = "bookings", "Bookings made and cancelled"
    HOUR = "hour", "What people did, by hour of the day"


class DailyCount(models.Model):
    """One count of one day (in the workspace's time zone) along one dimension, e.g. 12 page views of
    /pricing on 2026-03-02. Kept by identity.rollups.processor after events commit."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+", db_index=False)
    date = models.DateField()
    dimension = models.CharField(max_length=16, choices=RollupDimension.choices)
    key = models.CharField(max_length=240)
    count = models.BigIntegerField(default=0, help_text="a count, or minor units for the revenue dimensions")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workspace", "dimension", "date", "key"], name="daily_count_unique")
        ]

    def __str__(self) -> str:
        return f"{self.date} {self.dimension} {self.key}: {self.count}"


class PersonFacts(models.Model):
    """What the dashboard needs of one live customer: first touch, when each rung was first reached
    and revenue. Recomputed from the customer's events (index probes) whenever they get an event."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+", db_index=False)
    customer = models.OneToOneField(Customer, on_delete=models.CASCADE, related_name="facts")
    first_at = models.DateTimeField()
    first_date = models.DateField(help_text="first_at in the workspace's time zone")
    # Channel keys of identity.channels (web, ad, email, sms, whatsapp, call, stripe, calendly, agent, app).
    first_source = models.CharField(max_length=16)
    first_campaign = models.CharField(max_length=200, blank=True)
    last_source = models.CharField(max_length=16, blank=True)
    # The last thing on the person's timeline, in words: "page:/pricing", "message:WhatsApp message in",
    # "step:Submits quote form" (identity.rollups.dimensions.last_step).
    last_step = models.CharField(max_length=200, blank=True)
    rung1_at = models.DateTimeField(null=True, blank=True)
    rung2_at = models.DateTimeField(null=True, blank=True)
    rung3_at = models.DateTimeField(null=True, blank=True)
    rung4_at = models.DateTimeField(null=True, blank=True)
    revenue_minor = models.BigIntegerField(default=0, help_text="payments less refunds, in minor units")
    currency = models.CharField(max_length=3, blank=True, help_text="of the payments (one per workspace assumed)")
    event_count = models.PositiveIntegerField(default=0)
    channels = models.CharField(max_length=120, blank=True, help_text="channel keys used, as ,web,email,")

    class Meta:
        indexes = [
            models.Index(fields=["workspace", "first_date"], name="person_facts_first"),
            models.Index(fields=["workspace", "rung4_at"], name="person_facts_rung4"),
        ]

    def __str__(self) -> str:
        return f"facts of customer {self.customer_id}"


class RollupState(models.Model):
    """How far the processor has counted a workspace's events (ids at or below are counted)."""

    workspace = models.OneToOneField(Workspace, on_delete=models.CASCADE, related_name="+")
    last_event_id = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"rollups of workspace {self.workspace_id} up to event {self.last_event_id}"
