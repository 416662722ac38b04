"""Workspaces' retention windows as instants: the cutoff of one workspace, and the horizon before
which every workspace's window has closed (what tables shared by all workspaces, such as the month
partitions of events, may drop whole)."""

import calendar
from datetime import datetime

from django.db.models import Max
from django.utils import timezone

from workspaces.models import Workspace


def months_before(moment: datetime, months: int) -> datetime:
    """The same day and time `months` calendar months earlier (clamped to the month's last day)."""
    index = moment.year * 12 + (moment.month - 1) - months
    year, month = divmod(index, 12)
    day = min(moment.day, calendar.monthrange(year, month + 1)[1])
    return moment.replace(year=year, month=month + 1, day=day)


def retention_cutoff(*, workspace: Workspace, now: datetime | None = None) -> datetime:
    """Data of the workspace from before this instant is purged (an instant exactly at it stays)."""
    return months_before(now or timezone.now(), workspace.retention_months)


def retention_horizon(*, now: datetime | None = None) -> datetime | None:
    """The earliest cutoff of all workspaces (of every region this database holds): everything from
    before it is outside every window. None without any workspace (then nothing is anyone's)."""
    longest = Workspace.objects.aggregate(longest=Max("retention_months"))["longest"]
    return None if longest is None else months_before(now or timezone.now(), longest)
