"""Celery tasks of the privacy area: ids in, idempotent, retried with backoff on database hiccups
(OperationalError: connection lost, lock timeout), never on bugs."""

from celery import shared_task
from django.conf import settings

from clarm.tasks_retry import db_task
from identity.privacy import retention
from identity.privacy.services import consent_record_from_event as consent_record_from_event_service
from identity.privacy.services import consent_records_resume as consent_records_resume_service
from identity.privacy.workspace_exports import export_files_expire, export_job_run
from tracking.models import Event
from workspaces.models import Workspace


@db_task("identity.consent_record_from_event")
def consent_record_from_event(event_id: int) -> int | None:
    """Schedule on commit for every ingested consent event (consent_given|denied|withdrawn, opted_out)."""
    event = Event.objects.select_related("workspace").filter(pk=event_id).first()
    if event is None:
        return None
    record = consent_record_from_event_service(workspace=event.workspace, event=event)
    return record.pk if record is not None else None


@db_task("identity.consent_records_resume")
def consent_records_resume() -> int:
    """Every 10 minutes: record consent events whose task could not be sent when they arrived."""
    return consent_records_resume_service()


@db_task("identity.workspace_export_run", max_retries=3, long_running=True)
def workspace_export_run(job_id: int) -> None:
    export_job_run(job_id=job_id)


@db_task("identity.retention_purge", long_running=True)
def retention_purge(workspace_id: int, events_dropped: int = 0) -> int | None:
    workspace = Workspace.objects.filter(pk=workspace_id, region=settings.CLARM_REGION).first()
    if workspace is None:
        return None
    return retention.retention_purge(workspace=workspace, events_dropped=events_dropped).pk


@shared_task(name="identity.retention_purge_all")
def retention_purge_all() -> int:
    """Nightly: the months of events older than every workspace's window are dropped whole, then one
    purge task per workspace of this deployment's region (told how many of its events went so)."""
    dropped = retention.event_months_drop()
    ids = list(Workspace.objects.filter(region=settings.CLARM_REGION).values_list("pk", flat=True))
    for workspace_id in ids:
        retention_purge.delay(workspace_id, dropped.get(workspace_id, 0))
    return len(ids)


@db_task("identity.workspace_exports_expire")
def workspace_exports_expire() -> int:
    """Nightly: delete workspace export files older than `ExportJob.FILE_DAYS`."""
    return export_files_expire()
