from django.contrib import admin

from agents.models import Conversation, Message


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    list_display = ("id", "workspace", "customer", "channel", "started_at", "last_message_at")
    list_filter = ("channel", "workspace")
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
