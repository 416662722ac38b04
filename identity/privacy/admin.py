"""Staff views of consent records, data-subject requests, export jobs and retention runs.
Consent records, requests and purges are evidence: staff read them, they do not edit them."""

from django.contrib import admin

from clarm.admin_base import ReadOnlyModelAdmin
from identity.models import ConsentRecord, DataSubjectRequest, ExportJob, RetentionRun


@admin.register(ConsentRecord)
class ConsentRecordAdmin(ReadOnlyModelAdmin):
    list_display = ("id", "workspace", "customer", "purpose", "choice", "version", "source", "created_at")
    list_filter = ("purpose", "choice", "source", "workspace")
    search_fields = ("=customer__id", "=device_hash", "version")
    raw_id_fields = ("workspace", "customer")
    date_hierarchy = "created_at"


@admin.register(DataSubjectRequest)
class DataSubjectRequestAdmin(ReadOnlyModelAdmin):
    list_display = ("id", "workspace", "kind", "status", "requested_via", "requested_at", "due_at", "completed_at")
    list_filter = ("kind", "status", "requested_via", "workspace")
    search_fields = ("=id", "=subject_ref")
    raw_id_fields = ("workspace", "customer")
    date_hierarchy = "requested_at"


@admin.register(ExportJob)
class ExportJobAdmin(ReadOnlyModelAdmin):
    list_display = ("id", "workspace", "format", "status", "rows_done", "rows_total", "created_at", "finished_at")
    list_filter = ("format", "status", "workspace")
    raw_id_fields = ("workspace",)


@admin.register(RetentionRun)
class RetentionRunAdmin(ReadOnlyModelAdmin):
    list_display = ("workspace", "ran_at", "cutoff", "events_deleted", "visits_deleted", "payloads_deleted")
    list_filter = ("workspace",)
    date_hierarchy = "ran_at"
