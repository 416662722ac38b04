"""Stored events by month on PostgreSQL (tracking.partitions): each event in its month's partition,
months created ahead by a daily task, the DEFAULT partition for what has no month yet, and
retention dropping whole the months outside every workspace's window."""

import datetime
import threading
import time

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from django.test import Client
from django.utils import timezone

from clarm.celery_app import app as celery_app
from identity.models import RetentionRun
from identity.privacy.retention import event_months_drop
from identity.privacy.tasks import retention_purge_all
from tests.ui.conftest import add_event, make_customer
from tracking import partitions, tasks
from tracking.models import Event
from tracking.partitions import (
    DEFAULT_PARTITION,
    TABLE,
    event_months,
    event_months_ahead,
    event_months_create,
    month_add,
    month_start,
)
from workspaces.models import Workspace
from workspaces.retention import months_before, retention_horizon

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.postgres_only(reason="events are partitioned by month on PostgreSQL only; SQLite keeps one table"),
]


def partition_of(event: Event) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT tableoid::regclass::text FROM {TABLE} WHERE id = %s", [event.pk])
        return cursor.fetchone()[0]


def table_exists(name: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [name])
        return cursor.fetchone()[0]


def set_retention(workspace: Workspace, months: int) -> None:
    Workspace.objects.filter(pk=workspace.pk).update(retention_months=months)


def test_the_table_is_partitioned_by_occurred_at_and_an_event_lands_in_its_month(tenant):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT p.partstrat, a.attname FROM pg_partitioned_table p "
            "JOIN pg_attribute a ON a.attrelid = p.partrelid AND a.attnum = p.partattrs[0] "
            "WHERE p.partrelid = %s::regclass",
            [TABLE],
        )
        assert cursor.fetchone() == ("r", "occurred_at")
    now = timezone.now()
    event = Event.objects.create(workspace=tenant.workspace, event="page_view", occurred_at=now)
    assert partition_of(event) == f"{TABLE}_p{now:%Y%m}"
    next_month = month_add(month_start(now), 1) + datetime.timedelta(days=3)
    later = Event.objects.create(workspace=tenant.workspace, event="page_view", occurred_at=next_month)
    assert partition_of(later) == f"{TABLE}_p{next_month:%Y%m}"
    assert later.pk == event.pk + 1  # one id sequence across the months


def test_the_months_ahead_exist_and_are_created_once(tenant):
    later = timezone.now() + datetime.timedelta(days=800)
    first = month_start(later)
    expected = [f"{TABLE}_p{month_add(first, n):%Y%m}" for n in range(settings.CLARM_EVENT_MONTHS_AHEAD + 1)]
    assert not any(table_exists(name) for name in expected)

    assert event_months_ahead(horizon=None, now=later) == expected
    assert event_months_ahead(horizon=None, now=later) == []  # idempotent
    assert {m.name for m in event_months()} >= set(expected)
    # The current month and the ones ahead exist from the migration on, and the daily task keeps it so.
    tasks.event_months_ahead.delay().get()
    now = timezone.now()
    assert all(table_exists(f"{TABLE}_p{month_add(month_start(now), n):%Y%m}") for n in range(4))


def test_the_daily_task_is_scheduled_and_registered():
    entry = settings.CELERY_BEAT_SCHEDULE["event-months-ahead"]
    assert entry["task"] == "tracking.event_months_ahead" and entry["task"] in celery_app.tasks


def test_the_command_creates_months_ahead_and_since_a_month_and_names_a_bad_value(tenant, capsys):
    current = month_start(timezone.now())
    since = month_add(current, -3)
    call_command("event_months", "--ahead", "5", "--since", f"{since:%Y-%m}")
    out = capsys.readouterr().out
    wanted = [f"{TABLE}_p{month_add(current, n):%Y%m}" for n in range(-3, 6)]
    assert all(table_exists(name) for name in wanted)
    assert f"{TABLE}_p{month_add(current, 5):%Y%m}" in out and f"{TABLE}_p{since:%Y%m}" in out
    with pytest.raises(CommandError, match="--ahead must be between 0 and 120"):
        call_command("event_months", "--ahead", "-1")
    with pytest.raises(CommandError, match="--since must be a month like 2025-01, not '2025-13'"):
        call_command("event_months", "--since", "2025-13")


def test_an_event_without_a_month_waits_in_the_default_partition_and_is_still_on_the_timeline(tenant):
    """A backfill from before the first month: stored (the DEFAULT partition), read with the rest."""
    person = make_customer(tenant.workspace, name="Old Timer")
    now = timezone.now()
    backfilled = add_event(person, at=datetime.datetime(2019, 5, 4, 10, 0, tzinfo=datetime.UTC))
    recent = add_event(person, at=now - datetime.timedelta(days=40))
    today = add_event(person, at=now)
    assert partition_of(backfilled) == DEFAULT_PARTITION
    get = Client(headers={"Authorization": f"Bearer {tenant.secret_key}"}).get
    seen, cursor = [], None
    while True:  # one event a page: the cursor crosses from the DEFAULT partition into the months
        body = get(f"/api/customers/{person.pk}/timeline", {"limit": 1} | ({"cursor": cursor} if cursor else {})).json()
        seen += [e["id"] for e in body["results"]]
        if not (cursor := body["next"]):
            break
    assert seen == [backfilled.pk, recent.pk, today.pk]


def test_a_month_found_in_the_default_partition_gets_its_own_if_a_window_still_holds_it(tenant):
    set_retention(tenant.workspace, 120)
    now = timezone.now()
    inside = Event.objects.create(workspace=tenant.workspace, event="a", occurred_at=months_before(now, 60))
    too_old = Event.objects.create(workspace=tenant.workspace, event="b", occurred_at=months_before(now, 130))
    assert partition_of(inside) == partition_of(too_old) == DEFAULT_PARTITION

    created = event_months_ahead(horizon=retention_horizon())

    month = f"{TABLE}_p{months_before(now, 60):%Y%m}"
    assert created == [month]
    assert partition_of(inside) == month  # moved, same id
    assert partition_of(too_old) == DEFAULT_PARTITION  # retention deletes it next: no month for it
    assert Event.objects.filter(workspace=tenant.workspace).count() == 2


def test_retention_drops_whole_the_months_outside_every_window_and_keeps_the_others(tenant, other_tenant):
    """Partitions are shared by all workspaces: a month goes whole only when every window has passed
    it; otherwise each workspace's rows go one by one as before."""
    ours, theirs = tenant.workspace, other_tenant.workspace
    set_retention(ours, 12)
    set_retention(theirs, 36)
    now = timezone.now()
    expired_everywhere, inside_theirs = months_before(now, 40), months_before(now, 30)
    event_months_create([expired_everywhere, inside_theirs])
    gone = [
        Event.objects.create(workspace=ws, event="old", occurred_at=expired_everywhere) for ws in (ours, ours, theirs)
    ]
    our_30 = Event.objects.create(workspace=ours, event="mid", occurred_at=inside_theirs)
    their_30 = Event.objects.create(workspace=theirs, event="mid", occurred_at=inside_theirs)
    our_backfill = Event.objects.create(workspace=ours, event="ancient", occurred_at=months_before(now, 200))
    fresh = Event.objects.create(workspace=ours, event="new", occurred_at=now)
    dropped_month = f"{TABLE}_p{expired_everywhere:%Y%m}"
    assert partition_of(gone[0]) == dropped_month
    with connection.cursor() as cursor:
        # Their foreign-key checks now, as if committed long ago (a table with pending checks of its
        # own transaction cannot be dropped).
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")

    retention_purge_all.delay().get()

    assert not table_exists(dropped_month)
    assert table_exists(f"{TABLE}_p{inside_theirs:%Y%m}")
    assert not Event.objects.filter(pk__in=[e.pk for e in gone] + [our_30.pk, our_backfill.pk]).exists()
    assert set(Event.objects.values_list("pk", flat=True)) == {their_30.pk, fresh.pk}
    ours_run = RetentionRun.objects.get(workspace=ours)
    theirs_run = RetentionRun.objects.get(workspace=theirs)
    assert (ours_run.events_deleted, theirs_run.events_deleted) == (4, 1)  # dropped 2 + 1, then by row 2 + 0


@pytest.mark.django_db(transaction=True)
def test_a_month_a_reader_holds_is_left_for_the_next_run_without_waiting_long(tenant, monkeypatch):
    """The DROP waits at most LOCK_TIMEOUT_MS for an open read of events (which holds every month),
    then leaves the month; that night's row deletes take its rows instead."""
    monkeypatch.setattr(partitions, "LOCK_TIMEOUT_MS", 200)
    old = months_before(timezone.now(), 50)
    name = f"{TABLE}_p{old:%Y%m}"
    event_months_create([old])
    try:
        Event.objects.create(workspace=tenant.workspace, event="old", occurred_at=old)
        reading, done = threading.Event(), threading.Event()

        def reader() -> None:
            with transaction.atomic():
                list(Event.objects.filter(workspace=tenant.workspace).values_list("pk", flat=True))
                reading.set()
                done.wait(10)
            connection.close()

        thread = threading.Thread(target=reader)
        thread.start()
        assert reading.wait(10)
        started = time.monotonic()
        dropped = event_months_drop()
        waited = time.monotonic() - started
        done.set()
        thread.join()
        assert dropped == {} and table_exists(name) and waited < 2
        assert event_months_drop() == {tenant.workspace.pk: 1}  # the reader gone, the month goes
        assert not table_exists(name)
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f'DROP TABLE IF EXISTS "{name}"')
