from django.contrib import admin

from agents.models import (
    AgentDialog,
    AgentScan,
    AgentSetting,
    Booking,
    ChatWidget,
    Conversation,
    Message,
    ModelEndpoint,
    ScheduledAction,
    WidgetSession,
)
from clarm.admin_base import ReadOnlyModelAdmin


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    list_display = ("id", "workspace", "customer", "channel", "needs_human", "started_at", "last_message_at")
    list_filter = ("channel", "needs_human", "workspace")
    search_fields = ("customer__name", "customer__email", "customer__phone")
    raw_id_fields = ("workspace", "customer")
    date_hierarchy = "last_message_at"


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = ("id", "workspace", "customer", "channel", "direction", "status", "marketing", "created_at")
    list_filter = ("channel", "direction", "status", "marketing", "workspace")
    search_fields = ("provider_message_id", "customer__email", "customer__phone", "subject")
    raw_id_fields = ("workspace", "conversation", "customer")
    readonly_fields = ("provider_message_id", "sent_at", "created_at", "updated_at")
    date_hierarchy = "created_at"


@admin.register(AgentSetting)
class AgentSettingAdmin(admin.ModelAdmin):
    list_display = ("id", "workspace", "agent", "enabled", "updated_at")
    list_filter = ("agent", "enabled")
    raw_id_fields = ("workspace",)


@admin.register(ScheduledAction)
class ScheduledActionAdmin(admin.ModelAdmin):
    """Support can see why an action was or was not done; the plan itself is evidence, not edited."""

    list_display = ("id", "workspace", "agent", "customer", "trigger", "due_at", "status", "detail")
    list_filter = ("agent", "status")
    search_fields = ("trigger", "customer__email", "customer__phone")
    raw_id_fields = ("workspace", "customer", "message")
    readonly_fields = (
        "workspace",
        "agent",
        "customer",
        "trigger",
        "due_at",
        "payload",
        "message",
        "created_at",
        "done_at",
    )
    date_hierarchy = "due_at"


@admin.register(AgentScan)
class AgentScanAdmin(admin.ModelAdmin):
    list_display = ("workspace", "scanned_until")
    raw_id_fields = ("workspace",)


@admin.register(ChatWidget)
class ChatWidgetAdmin(admin.ModelAdmin):
    list_display = ("workspace", "enabled", "color", "updated_at")
    list_filter = ("enabled",)
    raw_id_fields = ("workspace",)


@admin.register(WidgetSession)
class WidgetSessionAdmin(ReadOnlyModelAdmin):
    # The token's hash and the device id are not shown: neither is anything staff need to read.
    list_display = ("id", "workspace", "customer", "created_at", "last_seen_at")
    fields = ("workspace", "customer", "created_at", "last_seen_at")
    raw_id_fields = ("workspace", "customer")


@admin.register(AgentDialog)
class AgentDialogAdmin(ReadOnlyModelAdmin):
    """Where Qualify or the Booking assistant stands with a person (the answers are the person's words)."""

    list_display = ("id", "workspace", "agent", "customer", "channel", "status", "step", "detail", "updated_at")
    list_filter = ("agent", "status", "channel")
    fields = ("workspace", "agent", "customer", "trigger", "channel", "status", "step", "detail", "created_at")
    raw_id_fields = ("workspace", "customer")


@admin.register(Booking)
class BookingAdmin(admin.ModelAdmin):
    list_display = ("id", "workspace", "customer", "start_at", "status", "source", "external_uri")
    list_filter = ("status", "source")
    raw_id_fields = ("workspace", "customer")
    readonly_fields = ("workspace", "customer", "start_at", "end_at", "source", "external_uri", "created_at")
    date_hierarchy = "start_at"


@admin.register(ModelEndpoint)
class ModelEndpointAdmin(ReadOnlyModelAdmin):
    """Support sees whether a workspace's own model endpoint answers; its secret is never shown."""

    list_display = ("workspace", "enabled", "url", "last_called_at", "last_outcome", "last_error")
    list_filter = ("enabled", "last_outcome")
    fields = (
        "workspace",
        "enabled",
        "url",
        "updated_at",
        "last_called_at",
        "last_outcome",
        "last_duration_ms",
        "last_error",
        "last_error_at",
    )
    raw_id_fields = ("workspace",)
