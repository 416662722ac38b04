"""A member asks for a workspace export: the job row, its audit row, and the background build queued
after commit (identity.privacy.tasks.workspace_export_run runs identity.privacy.workspace_exports)."""

from django.contrib.auth.models import User
from django.db import transaction

from identity.models import ExportJob, ExportJobFormat
from identity.privacy.services import PrivacyInputError
from identity.privacy.tasks import workspace_export_run
from workspaces.models import Workspace
from workspaces.services import audit_log_record


@transaction.atomic
def export_job_create(*, workspace: Workspace, fmt: str, actor: User | None) -> ExportJob:
    if fmt not in ExportJobFormat.values:
        raise PrivacyInputError("Choose CSV or JSON.")
    job = ExportJob.objects.create(workspace=workspace, format=fmt, requested_by=actor)
    audit_log_record(
        workspace=workspace,
        actor=actor,
        action="privacy.workspace_export_requested",
        target=str(job.pk),
        details={"format": fmt},
    )
    transaction.on_commit(lambda: workspace_export_run.delay(job.pk))
    return job
