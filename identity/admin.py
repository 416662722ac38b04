"""Staff views of identity: customers with their identifiers, the merge log (with undo) and the
hashed suppression list. Privacy additions go in their own section at the end."""

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from clarm.admin_base import ReadOnlyModelAdmin
from identity.models import Customer, DailyCount, Identifier, MergeLog, PersonFacts, RollupState, Suppression
from identity.services import merge_undo
from identity.services.merges import SNAPSHOT_FIELDS

# --- customers and identifiers ---------------------------------------------------------------------


class IdentifierInline(admin.TabularInline):
    model = Identifier
    extra = 0
    can_delete = False
    fields = readonly_fields = ("kind", "masked", "visit_count", "created_at")
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    list_display = ["id", "__str__", "workspace", "status", "rung", "customer_number", "email", "phone", "last_seen"]
    list_filter = ["rung", "status", "workspace"]
    search_fields = ["name", "company", "email", "phone", "identifiers__masked"]
    list_select_related = ["workspace"]
    show_full_result_count = False
    inlines = [IdentifierInline]
    # Stitching fields change only through services (merge, split, undo), never by hand here.
    readonly_fields = [
        "workspace",
        "status",
        "merged_into",
        "rung",
        "customer_number",
        "first_seen",
        "last_seen",
        "created_at",
        "event_count",
    ]
    fields = [
        "workspace",
        "status",
        "merged_into",
        "rung",
        "customer_number",
        "event_count",
        "name",
        "company",
        "email",
        "phone",
        "traits",
        "first_seen",
        "last_seen",
        "created_at",
        "allow_analytics",
        "allow_marketing_email",
        "allow_marketing_sms",
        "allow_ad_sendback",
    ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # customers come from events

    @admin.display(description="Events")
    def event_count(self, obj: Customer) -> int:
        return obj.events.count()


@admin.register(Identifier)
class IdentifierAdmin(ReadOnlyModelAdmin):
    list_display = ["id", "kind", "masked", "customer", "workspace", "visit_count", "created_at"]
    list_filter = ["kind", "workspace"]
    search_fields = ["masked", "customer__name", "customer__email"]
    list_select_related = ["customer", "workspace"]
    raw_id_fields = ["customer"]
    show_full_result_count = False


# --- merge log -------------------------------------------------------------------------------------


def _snapshot_table(before: dict[str, Any], after: dict[str, Any]) -> str:
    rows = [
        (name, before.get(name), after.get(name), "⟵ changed" if before.get(name) != after.get(name) else "")
        for name in SNAPSHOT_FIELDS
        if name in before or name in after
    ]
    return format_html(
        "<table><tr><th>field</th><th>before</th><th>after</th><th></th></tr>{}</table>",
        format_html_join("", "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>", rows),
    )


@admin.register(MergeLog)
class MergeLogAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "kind",
        "workspace",
        "survivor",
        "merged",
        "reason",
        "events_moved",
        "identifiers_moved",
        "actor",
        "created_at",
        "undone_at",
    ]
    list_filter = ["kind", ("undone_at", admin.EmptyFieldListFilter), "workspace"]
    search_fields = ["reason", "survivor__name", "survivor__email", "merged__name", "merged__email"]
    list_select_related = ["workspace", "survivor", "merged", "actor"]
    actions = ["undo_selected"]
    fields = readonly_fields = (
        "kind",
        "workspace",
        "survivor",
        "merged",
        "reason",
        "actor",
        "created_at",
        "undone_at",
        "undo_button",
        "events_moved",
        "identifiers_moved",
        "survivor_change",
        "merged_change",
    )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # append-only

    @admin.display(description="Events moved")
    def events_moved(self, obj: MergeLog) -> int:
        return len(obj.moved.get("event_ids", []))

    @admin.display(description="Identifiers moved")
    def identifiers_moved(self, obj: MergeLog) -> str:
        ids = obj.moved.get("identifier_ids", [])
        masked = Identifier.objects.filter(pk__in=ids).values_list("kind", "masked")
        return ", ".join(f"{kind}:{m}" for kind, m in masked) or "—"

    @admin.display(description="Survivor / receiving customer")
    def survivor_change(self, obj: MergeLog) -> str:
        return _snapshot_table(obj.moved.get("survivor_before", {}), obj.moved.get("survivor_after", {}))

    @admin.display(description="Merged / source customer")
    def merged_change(self, obj: MergeLog) -> str:
        return _snapshot_table(obj.moved.get("merged_before", {}), obj.moved.get("merged_after", {}))

    @admin.display(description="Undo")
    def undo_button(self, obj: MergeLog) -> str:
        if obj.undone_at:
            return "already undone"
        url = reverse("admin:identity_mergelog_undo", args=[obj.pk])
        return format_html('<a class="button" href="{}">Undo this {}…</a>', url, obj.get_kind_display().lower())

    def get_urls(self) -> list[Any]:
        return [
            path("<int:pk>/undo/", self.admin_site.admin_view(self.undo_view), name="identity_mergelog_undo"),
            *super().get_urls(),
        ]

    def undo_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        log = get_object_or_404(MergeLog, pk=pk)
        if not self.has_change_permission(request, log):
            return HttpResponse("You may not undo merges.", status=403)
        back = reverse("admin:identity_mergelog_change", args=[log.pk])
        if request.method == "POST":
            self._undo(request, log)
            return HttpResponseRedirect(back)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "log": log,
            "events_moved": self.events_moved(log),
            "identifiers_moved": self.identifiers_moved(log),
            "back": back,
            "title": f"Undo {log.get_kind_display().lower()} #{log.pk}",
        }
        return TemplateResponse(request, "admin/identity/mergelog/undo_confirm.html", context)

    def _undo(self, request: HttpRequest, log: MergeLog) -> bool:
        try:
            merge_undo(workspace=log.workspace, merge_log=log, actor=request.user)  # type: ignore[arg-type]
        except ValidationError as exc:
            self.message_user(request, f"#{log.pk}: {' '.join(exc.messages)}", messages.ERROR)
            return False
        self.message_user(request, f"#{log.pk} undone.", messages.SUCCESS)
        return True

    @admin.action(description="Undo selected merges/splits (newest first)")
    def undo_selected(self, request: HttpRequest, queryset: QuerySet[MergeLog]) -> None:
        for log in queryset.select_related("workspace").order_by("-pk"):
            self._undo(request, log)


# --- suppression list ------------------------------------------------------------------------------


@admin.register(Suppression)
class SuppressionAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "workspace",
        "kind",
        "hash_prefix",
        "analytics",
        "marketing_email",
        "marketing_sms",
        "ad_sendback",
        "created_at",
    ]
    list_filter = ["kind", "analytics", "marketing_email", "marketing_sms", "ad_sendback", "workspace"]
    search_fields = ["value_hash"]
    list_select_related = ["workspace"]

    @admin.display(description="Hash")
    def hash_prefix(self, obj: Suppression) -> str:
        return f"{obj.value_hash[:12]}…"


# The dashboard's rollups (identity.rollups): derived counts, rebuilt by `manage.py rollups_rebuild`.
@admin.register(DailyCount)
class DailyCountAdmin(ReadOnlyModelAdmin):
    list_display = ("workspace", "date", "dimension", "key", "count")
    list_filter = ("dimension",)
    list_select_related = ("workspace",)


@admin.register(PersonFacts)
class PersonFactsAdmin(ReadOnlyModelAdmin):
    list_display = ("customer", "workspace", "first_date", "first_source", "first_campaign", "last_source")
    list_select_related = ("customer", "workspace")
    raw_id_fields = ("customer",)


@admin.register(RollupState)
class RollupStateAdmin(ReadOnlyModelAdmin):
    list_display = ("workspace", "last_event_id", "updated_at")
    list_select_related = ("workspace",)


# Privacy records (consent, data-subject requests, exports, retention) register themselves here.
from identity.privacy import admin as privacy_admin  # noqa: E402, F401
