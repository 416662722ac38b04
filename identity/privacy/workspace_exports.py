"""Workspace-wide exports (every event, customer and conversation), built in the background into a
zip in the default storage. Progress is written as rows go; the file is served only to members
through a view that checks the workspace. Files expire (`ExportJob.FILE_DAYS`) and an erasure
deletes every file that may hold the erased person."""

import tempfile
import uuid
from datetime import datetime, timedelta

from django.core.files import File
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from identity.models import ExportJob, ExportJobStatus
from identity.privacy.exports import workspace_entries, workspace_rows_total, zip_stream
from workspaces.models import AuditLog, Workspace

ERASURE_ACTION = "privacy.dsr_erasure_completed"

PROGRESS_EVERY = 1000


def export_job_run(*, job_id: int) -> ExportJob | None:
    """Build the export file. Idempotent: a finished job is left alone; a job interrupted while
    running is rebuilt from the start (its partial file was never saved)."""
    with transaction.atomic():
        job = ExportJob.objects.select_for_update().filter(pk=job_id).first()
        if job is None or job.status == ExportJobStatus.DONE:
            return job
        job.status = ExportJobStatus.RUNNING
        job.started_at = timezone.now()
        job.rows_done = 0
        job.rows_total = workspace_rows_total(job.workspace_id)
        job.error = ""
        job.save(update_fields=["status", "started_at", "rows_done", "rows_total", "error"])

    done = 0
    last_saved = 0

    def progress(n: int) -> None:
        nonlocal done, last_saved
        done += n
        if done - last_saved >= PROGRESS_EVERY:
            ExportJob.objects.filter(pk=job_id).update(rows_done=done)
            last_saved = done

    try:
        with tempfile.TemporaryFile() as tmp:
            for chunk in zip_stream(workspace_entries(job.workspace_id, job.format), on_rows=progress):
                tmp.write(chunk)
            tmp.seek(0)
            stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
            name = f"exports/{job.workspace_id}/{stamp}-{uuid.uuid4().hex}-{job.format}.zip"
            saved = default_storage.save(name, File(tmp))
            size = default_storage.size(saved)
    except Exception as exc:
        ExportJob.objects.filter(pk=job_id).update(
            status=ExportJobStatus.FAILED, error=f"{type(exc).__name__}: {exc}"[:300], finished_at=timezone.now()
        )
        raise
    erasures = AuditLog.objects.filter(workspace_id=job.workspace_id, action=ERASURE_ACTION)
    if erasures.filter(created_at__gte=job.started_at).exists():
        # A person was erased while the file was being built: it may still hold them.
        default_storage.delete(saved)
        ExportJob.objects.filter(pk=job_id).update(
            status=ExportJobStatus.FAILED,
            error="A person was erased while this export was built; start a new export.",
            finished_at=timezone.now(),
        )
        job.refresh_from_db()
        return job
    ExportJob.objects.filter(pk=job_id).update(
        status=ExportJobStatus.DONE,
        rows_done=done,
        rows_total=max(done, job.rows_total),
        file_name=saved,
        file_size=size,
        finished_at=timezone.now(),
    )
    job.refresh_from_db()
    return job


def _files_expire(jobs: list[ExportJob], *, reason: str) -> int:
    """Mark the jobs expired now; delete their files once that is committed."""
    names = [j.file_name for j in jobs if j.file_name]
    ExportJob.objects.filter(pk__in=[j.pk for j in jobs]).update(
        status=ExportJobStatus.EXPIRED, file_name="", file_size=0, error=reason
    )

    def delete_files() -> None:
        for name in names:
            default_storage.delete(name)

    transaction.on_commit(delete_files)
    return len(names)


def export_files_delete(*, workspace: Workspace, since: datetime) -> int:
    """An erasure: delete every export file of the workspace built (or being built) after `since`,
    the erased person's first trace, since it may hold them. Returns the files deleted."""
    jobs = list(
        ExportJob.objects.filter(workspace=workspace, status=ExportJobStatus.DONE, finished_at__gte=since).exclude(
            file_name=""
        )
    )
    return _files_expire(jobs, reason="Deleted: it held a person who was erased since.")


def export_files_expire(*, now: datetime | None = None) -> int:
    """Nightly: delete export files older than `ExportJob.FILE_DAYS` (every workspace)."""
    cutoff = (now or timezone.now()) - timedelta(days=ExportJob.FILE_DAYS)
    with transaction.atomic():
        jobs = list(ExportJob.objects.filter(status=ExportJobStatus.DONE, finished_at__lt=cutoff))
        return _files_expire(jobs, reason=f"Expired: export files are kept {ExportJob.FILE_DAYS} days.")
