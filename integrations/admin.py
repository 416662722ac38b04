from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from clarm.admin_base import ReadOnlyModelAdmin
from integrations.destinations.services import delivery_replay as destination_delivery_replay
from integrations.models import Connection, Destination, DestinationDelivery, TrackedLink, WebhookDelivery
from integrations.services import deliveries_replay


@admin.register(Connection)
class ConnectionAdmin(admin.ModelAdmin):
    # Credentials are encrypted and never shown in the admin.
    list_display = ("workspace", "provider", "status", "last_event_at", "last_checked_at")
    list_filter = ("provider", "status")
    search_fields = ("workspace__name", "workspace__slug")
    readonly_fields = ("workspace", "provider", "last_event_at", "last_checked_at", "last_check_message", "created_at")
    exclude = ("credentials_encrypted",)


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = (
        "received_at",
        "workspace",
        "provider",
        "event_type",
        "provider_event_id",
        "status",
        "attempts",
        "error_short",
    )
    list_filter = ("status", "provider")
    search_fields = ("provider_event_id", "workspace__slug", "event_type")
    readonly_fields = [f.name for f in WebhookDelivery._meta.fields]
    date_hierarchy = "received_at"
    actions = ["replay"]

    @admin.display(description="error")
    def error_short(self, delivery: WebhookDelivery) -> str:
        return delivery.last_error[:120]

    @admin.action(description="Replay: process the selected deliveries again")
    def replay(self, request: HttpRequest, queryset: QuerySet[WebhookDelivery]) -> None:
        deliveries = list(queryset.select_related("workspace").defer("body", "headers"))
        deliveries_replay(deliveries=deliveries, actor=request.user)  # type: ignore[arg-type]
        self.message_user(request, f"{len(deliveries)} deliveries queued for processing again.", messages.SUCCESS)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(TrackedLink)
class TrackedLinkAdmin(admin.ModelAdmin):
    list_display = ("created_at", "workspace", "kind", "channel", "target_url", "clicks")
    list_filter = ("kind", "channel")
    search_fields = ("code", "target_url", "workspace__slug")
    raw_id_fields = ("customer", "message")
    readonly_fields = ("code", "clicks")


@admin.register(Destination)
class DestinationAdmin(admin.ModelAdmin):
    # Config (credentials) is encrypted and never shown in the admin.
    list_display = ("name", "workspace", "provider", "status", "last_success_at", "failing_since")
    list_filter = ("provider", "status")
    search_fields = ("name", "workspace__slug")
    readonly_fields = ("workspace", "provider", "rules", "failing_since", "last_success_at", "created_at", "updated_at")
    exclude = ("config_encrypted",)


@admin.register(DestinationDelivery)
class DestinationDeliveryAdmin(ReadOnlyModelAdmin):
    list_display = ("created_at", "workspace", "destination", "kind", "key", "status", "attempts", "last_status_code")
    list_filter = ("status", "kind", "destination__provider")
    search_fields = ("key", "workspace__slug", "remote_id")
    actions = ["replay"]

    @admin.action(description="Replay: send the selected deliveries again")
    def replay(self, request: HttpRequest, queryset: QuerySet[DestinationDelivery]) -> None:
        count = 0
        for delivery in queryset.select_related("workspace"):
            destination_delivery_replay(delivery=delivery, actor=request.user)  # type: ignore[arg-type]
            count += 1
        self.message_user(request, f"{count} deliveries queued to send again.", messages.SUCCESS)
