"""Conversations with a customer on one channel, the messages in and out, and the agents that act on
them: per-workspace settings of each built-in agent and the scheduled actions (one row per agent,
customer and trigger, so a send happens once)."""

from django.db import models
from django.utils import timezone

from identity.models import Customer
from integrations.crypto import credentials_decrypt, credentials_encrypt
from workspaces.models import Workspace


class Channel(models.TextChoices):
    SMS = "sms", "SMS"
    WHATSAPP = "whatsapp", "WhatsApp"
    EMAIL = "email", "Email"
    VOICE = "voice", "Voice"
    WEB = "web", "Web chat"


class Direction(models.TextChoices):
    IN = "in", "Inbound"
    OUT = "out", "Outbound"


class MessageStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    SENT = "sent", "Sent"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"
    RECEIVED = "received", "Received"


class Conversation(models.Model):
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="conversations")
    channel = models.CharField(max_length=10, choices=Channel.choices)
    started_at = models.DateTimeField(default=timezone.now)
    last_message_at = models.DateTimeField(default=timezone.now)
    # Set by the Handoff agent when the person asked for a human; cleared when the team replies.
    needs_human = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workspace", "customer", "channel"], name="conversation_unique_channel")
        ]
        indexes = [models.Index(fields=["workspace", "-last_message_at"], name="conversation_recent")]

    def __str__(self) -> str:
        return f"{self.channel} with {self.customer_id}"


class Message(models.Model):
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    conversation = models.ForeignKey(
        Conversation, null=True, blank=True, on_delete=models.CASCADE, related_name="messages"
    )
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="messages")
    channel = models.CharField(max_length=10, choices=Channel.choices)
    direction = models.CharField(max_length=3, choices=Direction.choices)
    subject = models.CharField(max_length=300, blank=True)
    body = models.TextField(blank=True)
    status = models.CharField(max_length=10, choices=MessageStatus.choices, default=MessageStatus.QUEUED)
    provider_message_id = models.CharField(max_length=128, blank=True)
    error = models.CharField(max_length=300, blank=True)
    # VADER compound score (-1…1) of an inbound message; null for outbound ones (agents.sentiment).
    sentiment = models.FloatField(null=True, blank=True)
    # The workspace's FAQ topics this inbound message is about (the FAQ topics agent).
    topics = models.JSONField(default=list, blank=True)
    # The agent that sent it ("" for the team or the API).
    agent = models.CharField(max_length=40, blank=True)
    # An approved WhatsApp template sent instead of `body` (which then only shows it in the thread):
    # {"content_sid": "HX…", "variables": {"1": "Dana"}} (Twilio's ContentSid / ContentVariables).
    template = models.JSONField(default=dict, blank=True)
    marketing = models.BooleanField(default=False)
    scheduled_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "channel", "provider_message_id"],
                condition=~models.Q(provider_message_id=""),
                name="message_unique_provider_id",
            )
        ]
        indexes = [
            models.Index(fields=["workspace", "customer", "-created_at"], name="message_customer"),
            models.Index(fields=["workspace", "status", "scheduled_at"], name="message_queue"),
        ]

    def __str__(self) -> str:
        return f"{self.direction} {self.channel} {self.status}"


class AgentSetting(models.Model):
    """One built-in agent switched on or off in a workspace, with its timing and template overrides."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    agent = models.CharField(max_length=40)
    enabled = models.BooleanField(default=False)
    config = models.JSONField(default=dict, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["workspace", "agent"], name="agent_setting_unique")]

    def __str__(self) -> str:
        return f"{self.agent} ({'on' if self.enabled else 'off'})"


class ActionStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    DONE = "done", "Done"
    CANCELLED = "cancelled", "Cancelled"
    FAILED = "failed", "Failed"


class ScheduledAction(models.Model):
    """What an agent will do for a customer, once: unique per (workspace, agent, customer, trigger)."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    agent = models.CharField(max_length=40)
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+")
    # What caused it, e.g. "booking:<calendly event uri>" or "message:<id>".
    trigger = models.CharField(max_length=200)
    due_at = models.DateTimeField()
    status = models.CharField(max_length=10, choices=ActionStatus.choices, default=ActionStatus.PENDING)
    detail = models.CharField(max_length=300, blank=True)
    payload = models.JSONField(default=dict, blank=True)
    message = models.ForeignKey(Message, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    done_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workspace", "agent", "customer", "trigger"], name="scheduled_action_once")
        ]
        indexes = [models.Index(fields=["status", "due_at"], name="scheduled_action_due")]

    def __str__(self) -> str:
        return f"{self.agent} for {self.customer_id} at {self.due_at:%Y-%m-%d %H:%M} ({self.status})"


class AgentScan(models.Model):
    """How far the agents have read a workspace's timeline and inbound messages (a restart resumes
    from here, re-reading a few minutes of overlap; the unique actions make the overlap harmless)."""

    workspace = models.OneToOneField(Workspace, on_delete=models.CASCADE, related_name="+")
    scanned_until = models.DateTimeField()

    def __str__(self) -> str:
        return f"scanned until {self.scanned_until:%Y-%m-%d %H:%M}"


class ChatWidget(models.Model):
    """The workspace's chat widget on its site (static/clarm-widget.js, loaded by clarm.js only when
    switched on): its colour and greeting."""

    workspace = models.OneToOneField(Workspace, on_delete=models.CASCADE, related_name="+")
    enabled = models.BooleanField(default=False)
    color = models.CharField(max_length=7, default="#1a4fd6")
    greeting = models.CharField(max_length=300, default="Hi! Ask us anything, we usually answer within minutes.")
    updated_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"chat widget ({'on' if self.enabled else 'off'})"


class WidgetSession(models.Model):
    """One browser's chat: the widget holds a random token (only its SHA-256 is stored) that scopes
    what it may read and send to this customer's web-chat messages since the session started."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+")
    token_hash = models.CharField(max_length=64, unique=True)
    # The browser's first-party device id: the identifier its agent and reply events are logged with.
    visitor_id = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["workspace", "customer", "-created_at"], name="widget_session_customer")]

    def __str__(self) -> str:
        return f"widget session of {self.customer_id}"


class DialogStatus(models.TextChoices):
    OPEN = "open", "Waiting for the person"
    DONE = "done", "Done"
    CANCELLED = "cancelled", "Cancelled"


class AgentDialog(models.Model):
    """An agent's conversation with one person, one question at a time (Qualify's questions, the
    Booking assistant's offer of slots): what was asked, the answers so far, and the last inbound
    message read (a message is read once, under this row's lock). Unique per (agent, customer,
    trigger): Qualify's trigger is "qualify", so a person is qualified once."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    agent = models.CharField(max_length=40)
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+")
    trigger = models.CharField(max_length=200)
    channel = models.CharField(max_length=10, choices=Channel.choices)
    status = models.CharField(max_length=10, choices=DialogStatus.choices, default=DialogStatus.OPEN)
    step = models.PositiveSmallIntegerField(default=0)
    # Qualify: {"questions": [[key, question], ...], "answers": {key: text}}; Booking assistant:
    # {"source": "availability" | "calendly", "slots": [{"start", "end", "url"}], "retries": n}.
    state = models.JSONField(default=dict, blank=True)
    last_read_id = models.BigIntegerField(default=0)
    detail = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workspace", "agent", "customer", "trigger"], name="agent_dialog_once")
        ]
        indexes = [models.Index(fields=["workspace", "status"], name="agent_dialog_open")]

    def __str__(self) -> str:
        return f"{self.agent} with {self.customer_id} ({self.status})"


class BookingStatus(models.TextChoices):
    BOOKED = "booked", "Booked"
    CANCELLED = "cancelled", "Cancelled"


class Booking(models.Model):
    """A slot the Booking assistant booked: from the workspace's weekly availability (one booking per
    start time, enforced by the database) or through Calendly (`external_uri`, the invitee)."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+")
    start_at = models.DateTimeField()
    end_at = models.DateTimeField()
    status = models.CharField(max_length=10, choices=BookingStatus.choices, default=BookingStatus.BOOKED)
    source = models.CharField(max_length=12)  # "availability" or "calendly"
    external_uri = models.CharField(max_length=300, blank=True)
    # Set when the person moved it to another time from their booking page (agents.bookings): this
    # row is then cancelled and the new one holds the time; their link follows the chain.
    moved_to = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "start_at"],
                condition=models.Q(status="booked", source="availability"),
                name="booking_one_per_slot",
            )
        ]
        indexes = [models.Index(fields=["workspace", "start_at"], name="booking_start")]

    def __str__(self) -> str:
        return f"booking of {self.customer_id} at {self.start_at:%Y-%m-%d %H:%M} ({self.status})"


class ModelEndpoint(models.Model):
    """A workspace's own model endpoint (docs/agents.md, “Your own model endpoint”): an inbound
    message no built-in agent answers is POSTed there, signed with the owner's secret (stored
    encrypted like destination credentials), and its answer is sent back or handed to a person.
    The last call's outcome is kept for the owner to see in Settings → Agents."""

    workspace = models.OneToOneField(Workspace, on_delete=models.CASCADE, related_name="+")
    enabled = models.BooleanField(default=False)
    url = models.CharField(max_length=500)
    secret_encrypted = models.TextField(editable=False)
    updated_at = models.DateTimeField(default=timezone.now)
    last_called_at = models.DateTimeField(null=True, blank=True)
    # "reply", "handoff" or "failed" (then `last_error` says why: the person was handed to the team).
    last_outcome = models.CharField(max_length=10, blank=True)
    last_duration_ms = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"model endpoint ({'on' if self.enabled else 'off'})"

    @property
    def secret(self) -> str:
        return str(credentials_decrypt(self.secret_encrypted).get("secret") or "") if self.secret_encrypted else ""

    def set_secret(self, value: str) -> None:
        self.secret_encrypted = credentials_encrypt({"secret": value})
