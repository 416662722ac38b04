"""Staff views of events and visits: read-only (events are immutable but for their customer, which
only stitching, merges and their undo change)."""

from django.contrib import admin, messages
from django.core.paginator import Paginator
from django.db import connection
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.functional import cached_property

from clarm.admin_base import ReadOnlyModelAdmin
from tracking.models import DailySalt, Event, PendingEvent, Visit


class EstimatedCountPaginator(Paginator):
    """Unfiltered changelists of the events table use PostgreSQL's row estimate instead of COUNT(*),
    which would scan millions of rows on every page."""

    @cached_property
    def count(self) -> int:
        query = getattr(self.object_list, "query", None)
        if query is not None and connection.vendor == "postgresql" and not query.where:
            table = query.model._meta.db_table
            with connection.cursor() as cursor:
                cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE relname = %s", [table])
                row = cursor.fetchone()
            if row and row[0] > 10_000:
                return int(row[0])
        return super().count


@admin.register(Event)
class EventAdmin(ReadOnlyModelAdmin):
    list_display = ("id", "workspace", "customer", "event", "source", "rung", "occurred_at", "received_at", "is_bot")
    list_filter = ("source", "is_bot", "rung", "workspace")
    search_fields = ("=id", "=message_id", "event", "=session_id")
    list_select_related = ("workspace", "customer")
    raw_id_fields = ("workspace", "customer")
    paginator = EstimatedCountPaginator
    show_full_result_count = False
    ordering = ("-received_at", "-id")


@admin.register(Visit)
class VisitAdmin(ReadOnlyModelAdmin):
    list_display = ("id", "workspace", "session_id", "started_at", "last_event_at", "event_count")
    list_filter = ("workspace",)
    search_fields = ("=session_id", "=device_hash")
    list_select_related = ("workspace",)
    paginator = EstimatedCountPaginator
    show_full_result_count = False
    ordering = ("-last_event_at",)


@admin.register(DailySalt)
class DailySaltAdmin(ReadOnlyModelAdmin):
    # The salt itself is never shown: with it, a day's IP hashes could be tested against addresses.
    list_display = ("date", "created_at")
    fields = ("date", "created_at")


@admin.register(PendingEvent)
class PendingEventAdmin(ReadOnlyModelAdmin):
    """Events answered 202 and not stitched yet. Their data (plain contact details until stitched) is
    not shown. A stuck event (attempts at CLARM_STITCH_MAX_ATTEMPTS) is set aside by the stitchers;
    once its cause is fixed, "Stitch again" puts it back in the queue."""

    list_display = ("id", "workspace", "partition", "received_at", "attempts")
    list_filter = ("partition", "attempts")
    fields = ("id", "workspace", "partition", "received_at", "attempts")
    ordering = ("id",)
    actions = ("stitch_again",)

    @admin.action(description="Stitch again (reset attempts)", permissions=("view",))
    def stitch_again(self, request: HttpRequest, queryset: QuerySet[PendingEvent]) -> None:
        count = queryset.update(attempts=0)
        self.message_user(request, f"{count} pending events back in the queue.", messages.SUCCESS)
