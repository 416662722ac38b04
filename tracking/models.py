"""Events (immutable but for their customer) and visits (sessions)."""

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils import timezone

from workspaces.models import Workspace


class Source(models.TextChoices):
    WEB = "web", "Web"
    EMAIL = "email", "Email"
    CHANNEL = "channel", "Channel"
    AGENT = "agent", "Agent"
    WEBHOOK = "webhook", "Webhook"
    PIXEL = "pixel", "Pixel"
    AD = "ad", "Ad click"


class Event(models.Model):
    # No single-column indexes on the two keys: the composite indexes below lead with them, and
    # every index is paid by every ingested event.
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+", db_index=False)
    # Null only for events that are counted but not stitched: bots, and visitors before consent.
    # Named by app label, not imported: the edge never reads a customer (the stitcher, in identity,
    # the layer above, sets customer_id), so tracking's code does not depend on identity's; only the
    # table's foreign key does, as contrib apps name settings.AUTH_USER_MODEL (docs/ingest.md, Layers).
    customer = models.ForeignKey(
        "identity.Customer", null=True, blank=True, on_delete=models.CASCADE, related_name="events", db_index=False
    )
    event = models.CharField(max_length=120)
    source = models.CharField(max_length=8, choices=Source.choices, default=Source.WEB)
    occurred_at = models.DateTimeField()
    received_at = models.DateTimeField(default=timezone.now)
    rung = models.PositiveSmallIntegerField(default=0)
    session_id = models.CharField(max_length=64, blank=True)
    # Keyed hash of the device id the event came from (for visits and device splits).
    device_hash = models.CharField(max_length=64, blank=True)
    message_id = models.CharField(max_length=128, null=True, blank=True)
    properties = models.JSONField(default=dict, blank=True)
    # url, referrer, utm, click ids, parsed user agent, country, asn, ip_hash, notes on dropped ids.
    context = models.JSONField(default=dict, blank=True)
    is_bot = models.BooleanField(default=False)

    class Meta:
        # The stitcher's insert skips a message id already stored (a safety net: dedupe itself is
        # DedupeKey's, exact across months). With occurred_at, as PostgreSQL requires of a unique
        # index on a table partitioned by it (tracking.partitions); a retried event keeps its time.
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "message_id", "occurred_at"],
                condition=models.Q(message_id__isnull=False),
                name="event_message_id_unique",
            )
        ]
        indexes = [
            models.Index(fields=["customer", "occurred_at", "id"], name="event_timeline"),
            models.Index(fields=["workspace", "-received_at", "-id"], name="event_live"),
            models.Index(fields=["workspace", "occurred_at"], name="event_retention"),
            models.Index(fields=["workspace", "device_hash", "-occurred_at"], name="event_device"),
            # The customer page: which sources a customer used, the ?source= filter and the first event
            # at each rung, as index probes whatever the length of the history.
            models.Index(fields=["customer", "source", "occurred_at", "id"], name="event_customer_source"),
            models.Index(fields=["customer", "rung", "occurred_at", "id"], name="event_customer_rung"),
        ]

    def __str__(self) -> str:
        return f"{self.source}:{self.event}"


class Visit(models.Model):
    """A session of one device: the snippet's session_id, or 30 minutes without events."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+", db_index=False)
    device_hash = models.CharField(max_length=64)
    session_id = models.CharField(max_length=64)
    started_at = models.DateTimeField()
    last_event_at = models.DateTimeField()
    event_count = models.PositiveIntegerField(default=0)
    landing = models.JSONField(default=dict, blank=True, help_text="UTM parameters and click ids of the landing")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workspace", "device_hash", "session_id"], name="visit_unique_session")
        ]
        # A device's latest visit by start: last_event_at and event_count, which every event moves,
        # are in no index, so moving a visit on is a HOT update (no index writes).
        indexes = [models.Index(fields=["workspace", "device_hash", "-started_at"], name="visit_device_latest")]

    def __str__(self) -> str:
        return f"visit {self.session_id}"


class PendingEvent(models.Model):
    """An event the edge accepted (answered 202) that no stitcher has taken yet: the durability point
    of ingest (DESIGN "Architecture: the event pipeline"). `data` is the validated, normalized event
    (tracking.prepared); its `id` is its receive order. A stitcher takes a workspace's pending events
    in that order, writes them as Events (with their customers) and deletes them in one transaction.
    `partition` (the workspace id modulo CLARM_STITCH_PARTITIONS) is the unit one stitcher claims."""

    id = models.BigAutoField(primary_key=True)
    # No database constraint on the queue's two tables (here and DedupeKey): the edge writes the
    # workspace of the key it just authenticated, and a constraint cost every appended row a
    # deferred check that locks the workspace row at commit (KEY SHARE from every concurrent request
    # of the workspace), 10-30% of the append's database CPU (docs/benchmarks.md §14). Deleting a
    # workspace still deletes its rows (Django's CASCADE), and the stitcher drops rows of a
    # workspace deleted while they were appended.
    workspace = models.ForeignKey(
        Workspace, on_delete=models.CASCADE, related_name="+", db_index=False, db_constraint=False
    )
    partition = models.PositiveSmallIntegerField()
    received_at = models.DateTimeField()
    data = models.JSONField(encoder=DjangoJSONEncoder)
    # Failed stitches of this event on its own (after its batch failed): at CLARM_STITCH_MAX_ATTEMPTS
    # it is left aside, so it cannot hold up the events behind it.
    attempts = models.PositiveSmallIntegerField(default=0, db_default=0)

    class Meta:
        indexes = [models.Index(fields=["partition", "id"], name="pending_partition_order")]

    def __str__(self) -> str:
        return f"pending event {self.pk}"


class DedupeKey(models.Model):
    """A message id (a caller's, or a provider's server key) the workspace has accepted, kept as long
    as its event (retention deletes both): dedupe is exact whether the event is still pending or
    stored, in whichever month it lives."""

    pk = models.CompositePrimaryKey("workspace_id", "key")
    workspace = models.ForeignKey(
        Workspace, on_delete=models.CASCADE, related_name="+", db_index=False, db_constraint=False
    )
    key = models.CharField(max_length=128)
    received_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["workspace", "received_at"], name="dedupe_key_retention")]

    def __str__(self) -> str:
        return self.key


class DailySalt(models.Model):
    """The random salt of one day's IP hashes. Kept for a day, then deleted (tracking.ip_salts_rotate),
    so yesterday's hashes can no longer be linked to an address by anyone, us included."""

    date = models.DateField(unique=True)
    salt = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"IP salt of {self.date}"
