"""The owner's reset of the demo workspace: audited, then done by a worker (it takes a while)."""

import datetime

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from clarm.demo.tasks import demo_reset
from workspaces.models import AuditLog, Workspace
from workspaces.services import audit_log_record

RESET_ACTION = "demo.reset"


class DemoResetRefused(ValueError):
    pass


def demo_reset_request(*, workspace: Workspace, actor: User) -> None:
    """Queue the erase-and-reload of the demo workspace (clarm.demo.loading.demo_data_reset), after
    an audit row naming who asked. Any other workspace is refused, nothing changed."""
    if not workspace.is_demo:
        raise DemoResetRefused("Only the demo workspace can be reset.")
    audit_log_record(
        workspace=workspace,
        actor=actor,
        action=RESET_ACTION,
        target=workspace.slug,
        details={"people": settings.CLARM_DEMO_PEOPLE},
    )
    transaction.on_commit(lambda: demo_reset.delay(workspace.pk))


def demo_reset_last(*, workspace: Workspace) -> datetime.datetime | None:
    """When the demo's data was last asked to be reset, if ever."""
    row = AuditLog.objects.filter(workspace=workspace, action=RESET_ACTION).order_by("-pk").first()
    return timezone.localtime(row.created_at) if row is not None else None
