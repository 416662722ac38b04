"""Staff views of tenants: find a workspace, its people, invitations, keys and audit trail."""

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from clarm.admin_base import ReadOnlyModelAdmin
from workspaces.models import ApiKey, AuditLog, Invitation, Membership, Workspace


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    raw_id_fields = ["user"]
    fields = ["user", "role", "created_at"]


@admin.register(Workspace)
class WorkspaceAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "slug",
        "region",
        "timezone",
        "default_country",
        "consent_mode",
        "retention_months",
        "created_at",
    ]
    list_filter = ["region", "consent_mode", "default_country"]
    search_fields = ["name", "slug", "memberships__user__email"]
    readonly_fields = ["next_customer_number", "created_at"]
    inlines = [MembershipInline]
    date_hierarchy = "created_at"


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "workspace", "role", "created_at"]
    list_filter = ["role"]
    search_fields = ["user__email", "workspace__name", "workspace__slug"]
    raw_id_fields = ["user", "workspace"]
    list_select_related = ["user", "workspace"]


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    list_display = ["email", "workspace", "role", "status", "invited_by", "created_at", "accepted_at", "revoked_at"]
    list_filter = ["role", ("accepted_at", admin.EmptyFieldListFilter), ("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["email", "workspace__name", "workspace__slug"]
    raw_id_fields = ["workspace", "invited_by", "accepted_by"]
    list_select_related = ["workspace", "invited_by"]
    # The token is a credential: staff never need to see it.
    exclude = ["token"]
    readonly_fields = ["accepted_at", "accepted_by", "created_at"]

    @admin.display(description="Status")
    def status(self, obj: Invitation) -> str:
        if obj.accepted_at:
            return "accepted"
        if obj.revoked_at:
            return "revoked"
        return "pending" if obj.is_pending else "expired"


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ["prefix", "workspace", "kind", "created_by", "created_at", "last_used_at", "revoked_at"]
    list_filter = ["kind", ("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["prefix", "workspace__name", "workspace__slug"]
    list_select_related = ["workspace", "created_by"]
    raw_id_fields = ["workspace", "created_by"]
    # Keys are made by the workspace's owners (services keep the audit trail); staff can only revoke.
    exclude = ["lookup"]
    readonly_fields = ["workspace", "kind", "prefix", "created_by", "created_at", "last_used_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(AuditLog)
class AuditLogAdmin(ReadOnlyModelAdmin):
    list_display = ["created_at", "workspace", "actor", "action", "target"]
    list_filter = ["action"]
    search_fields = ["action", "target", "workspace__slug", "actor__email"]
    list_select_related = ["workspace", "actor"]
    date_hierarchy = "created_at"

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
