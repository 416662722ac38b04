"""The event pipeline end to end: the edge appends, a stitcher stores, the hook hands over.

These tests turn CLARM_STITCH_INLINE off, as a deployment runs: the 202 comes from the append alone
and events reach the timeline when a stitcher (`stitch_run`, what `manage.py stitch` runs) takes them."""

import threading

import pytest
from django.core.management import call_command
from django.db import OperationalError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from clarm.settings.base import database_config
from identity.models import Customer
from identity.privacy.erasure import subject_erase
from identity.stitching import stitcher
from identity.stitching.partitions import partition_lock
from identity.stitching.stitcher import partition_stitch, stitch_run, workspace_stitch
from tracking import hooks
from tracking.append import partition_of
from tracking.models import DedupeKey, Event, PendingEvent


@pytest.fixture
def deferred(settings):
    settings.CLARM_STITCH_INLINE = False


@pytest.fixture
def stitch(django_capture_on_commit_callbacks):
    """A stitcher's pass until nothing is pending, running its after-commit work as a process would."""

    def run() -> int:
        with django_capture_on_commit_callbacks(execute=True):
            return stitch_run(once=True)

    return run


@pytest.fixture
def announced(monkeypatch):
    seen: list[tuple[int, list[int]]] = []
    monkeypatch.setattr(hooks, "_receivers", [*hooks._receivers, lambda ws, ids: seen.append((ws, list(ids)))])
    return seen


def test_a_202_is_an_append_and_the_stitcher_stores_it_on_its_customer(stitch, post_track, tenant, deferred, announced):
    r = post_track({"event": "identify", "visitor_id": "dev-1", "email": "ann@example.com", "message_id": "a1"})
    assert r.status_code == 202 and r.json()["accepted"] == 1
    assert PendingEvent.objects.count() == 1
    assert not Event.objects.exists() and not Customer.objects.exists()
    assert announced == []

    assert stitch() == 1
    event = Event.objects.get(message_id="a1")
    assert event.customer == Customer.objects.get(email="ann@example.com") and event.rung == 2
    assert not PendingEvent.objects.exists()
    assert announced == [(tenant.workspace.pk, [event.pk])]


def test_events_are_stitched_in_receive_order_across_requests(stitch, post_track, deferred):
    """Three requests, one batch: the page views before the identify land on the person too
    (retroactively), rungs as one at a time: device, visitor on the second visit, then email."""
    post_track({"event": "page_view", "visitor_id": "dev-o", "session_id": "s1", "message_id": "o1"})
    post_track({"event": "page_view", "visitor_id": "dev-o", "session_id": "s2", "message_id": "o2"})
    post_track({"event": "identify", "visitor_id": "dev-o", "email": "bo@example.com", "message_id": "o3"})
    stitch()
    events = list(Event.objects.order_by("id").values_list("message_id", "rung", "customer_id"))
    assert [(m, rung) for m, rung, _ in events] == [("o1", 0), ("o2", 1), ("o3", 2)]
    assert {c for *_, c in events} == {Customer.objects.get().pk}


def test_dedupe_is_exact_whether_the_first_copy_is_pending_or_stored(stitch, post_track, deferred):
    body = {"event": "page_view", "visitor_id": "dev-d", "message_id": "d1"}
    assert post_track(body).json()["accepted"] == 1
    assert post_track(body).json()["duplicates"] == 1  # the first is still pending
    stitch()
    assert post_track(body).json()["duplicates"] == 1  # the first is stored
    assert Event.objects.filter(message_id="d1").count() == 1
    assert DedupeKey.objects.get().key == "d1"


def test_a_message_id_appended_twice_past_its_dedupe_key_is_stored_once(stitch, post_track, deferred):
    """The stitcher's insert is the safety net behind the dedupe keys: the same pending event twice
    in one batch, then once more after it was stored (a retried append), leaves one event, in
    whichever month it lives (the net is per (workspace, message id, occurred_at))."""
    post_track({"event": "page_view", "visitor_id": "dev-r", "message_id": "r1", "timestamp": "2019-05-04T10:00:00Z"})
    post_track({"event": "page_view", "visitor_id": "dev-r", "message_id": "r2"})
    first, second = PendingEvent.objects.order_by("id")
    retried = [PendingEvent.objects.create(**{**_pending_fields(p), "id": None}) for p in (first, second)]
    assert stitch() == 2
    stored = Event.objects.order_by("id")
    assert [(e.message_id, e.occurred_at.year) for e in stored] == [("r1", 2019), ("r2", timezone.now().year)]
    for pending in retried:
        PendingEvent.objects.create(**{**_pending_fields(pending), "id": None})
    outcome = workspace_stitch(first.workspace_id)
    assert (outcome.stitched, outcome.duplicates) == (0, 2)
    assert Event.objects.count() == 2 and not PendingEvent.objects.exists()


def _pending_fields(pending: PendingEvent) -> dict:
    return {f.attname: getattr(pending, f.attname) for f in PendingEvent._meta.concrete_fields}


def test_a_bad_pending_event_is_set_aside_and_never_blocks_the_ones_behind_it(
    stitch, post_track, tenant, deferred, settings
):
    post_track({"event": "page_view", "visitor_id": "dev-p", "message_id": "p1"})
    bad = PendingEvent.objects.get()
    bad.data = {**bad.data, "claims": "not a list of claims"}
    bad.save()
    post_track({"event": "page_view", "visitor_id": "dev-p", "message_id": "p2"})
    for _ in range(settings.CLARM_STITCH_MAX_ATTEMPTS):
        stitch()
    assert list(Event.objects.values_list("message_id", flat=True)) == ["p2"]
    bad.refresh_from_db()
    assert bad.attempts == settings.CLARM_STITCH_MAX_ATTEMPTS  # left aside, reported as stuck


def test_a_batch_that_fails_mid_way_stores_nothing_and_is_stitched_once_on_the_next_pass(
    stitch, post_track, deferred, monkeypatch
):
    """A stitcher killed mid-batch: its transaction rolls back whole, the events stay pending."""
    for n in range(3):
        post_track({"event": "page_view", "visitor_id": f"dev-k{n}", "message_id": f"k{n}"})
    real = stitcher._batch_stitch

    def dies_after_writing(pending):
        real(pending)
        raise SystemExit("killed")  # not an Exception: nothing retries it, as with a killed process

    monkeypatch.setattr(stitcher, "_batch_stitch", dies_after_writing)
    with pytest.raises(SystemExit):
        stitch_run(once=True)
    assert not Event.objects.exists() and PendingEvent.objects.count() == 3
    monkeypatch.undo()
    stitch()
    assert sorted(str(m) for m in Event.objects.values_list("message_id", flat=True)) == ["k0", "k1", "k2"]


def test_the_stitch_command_runs_until_nothing_is_pending(post_track, deferred, capsys):
    post_track({"batch": [{"event": "page_view", "visitor_id": f"dev-c{n}"} for n in range(4)]})
    call_command("stitch", "--once")
    assert "stitched 4 events" in capsys.readouterr().out
    assert Event.objects.count() == 4 and not PendingEvent.objects.exists()


def test_an_erasure_takes_what_the_person_has_pending_with_the_rest(stitch, post_track, tenant, deferred):
    post_track({"event": "identify", "visitor_id": "dev-e", "email": "eve@example.com", "message_id": "e1"})
    stitch()
    post_track({"event": "page_view", "visitor_id": "dev-e", "message_id": "e2"})  # still pending
    subject_erase(workspace=tenant.workspace, customer=Customer.objects.get())
    assert not Event.objects.exists() and not PendingEvent.objects.exists() and not Customer.objects.exists()


def test_a_number_beyond_64_bits_in_the_properties_is_appended_and_stored_exactly(stitch, post_track, deferred):
    # The rows travel as JSON written by orjson, which refuses integers beyond 64 bits: those rows
    # are written by the standard library instead, at the edge and in the stitcher.
    big = 2**70 + 1
    r = post_track({"event": "order", "visitor_id": "dev-big", "message_id": "big1", "properties": {"units": big}})
    assert r.status_code == 202 and r.json()["accepted"] == 1
    stitch()
    assert Event.objects.get(message_id="big1").properties == {"units": big}


@pytest.mark.postgres_only(reason="prepared statements are PostgreSQL's")
def test_the_append_is_prepared_once_per_connection_and_still_in_the_query_log(post_track, deferred):
    with CaptureQueriesContext(connection) as queries:
        for n in range(3):
            assert post_track({"event": "page_view", "visitor_id": "dev-p", "message_id": f"p{n}"}).status_code == 202
    assert len([q for q in queries.captured_queries if "INSERT INTO tracking_dedupekey" in q["sql"]]) == 3
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        prepared = [statement for (statement,) in cursor.fetchall()]
    assert len([s for s in prepared if "INSERT INTO tracking_dedupekey" in s]) == 1


def test_prepared_statements_can_be_turned_off_for_a_pooler(monkeypatch):
    url = "postgres://clarm@db.internal:5432/clarm"
    assert database_config(url)["OPTIONS"]["prepare_threshold"] == 0
    monkeypatch.setenv("DATABASE_PREPARED_STATEMENTS", "false")
    assert "prepare_threshold" not in database_config(url)["OPTIONS"]
    assert "prepare_threshold" not in database_config("sqlite:///x.sqlite3")["OPTIONS"]


def test_a_deleted_workspace_takes_its_queue_and_an_append_racing_the_delete_is_dropped(
    stitch, post_track, tenant, other_tenant, client, deferred
):
    # The queue's tables have no database constraint to the workspace (the append is cheaper
    # without one): Django's cascade still empties them, and the stitcher drops what an append in
    # flight wrote after the delete, without holding up anyone else's events.
    post_track({"event": "page_view", "visitor_id": "dev-gone", "message_id": "g1"})
    data = PendingEvent.objects.get().data
    gone = tenant.workspace.pk
    tenant.workspace.delete()
    assert not PendingEvent.objects.exists() and not DedupeKey.objects.filter(workspace_id=gone).exists()

    PendingEvent.objects.create(workspace_id=gone, partition=partition_of(gone), received_at=timezone.now(), data=data)
    r = client.post(
        "/api/track",
        {"event": "page_view", "visitor_id": "dev-stays", "message_id": "s1"},
        content_type="application/json",
        HTTP_X_CLARM_KEY=other_tenant.write_key,
    )
    assert r.status_code == 202
    stitch()
    assert not PendingEvent.objects.exists()
    assert list(Event.objects.values_list("workspace_id", "message_id")) == [(other_tenant.workspace.pk, "s1")]


@pytest.mark.postgres_only(reason="partitions are PostgreSQL advisory locks (SQLite has one writer anyway)")
@pytest.mark.django_db(transaction=True)
def test_a_partition_held_by_a_manual_operation_is_skipped_by_stitchers_until_it_commits(post_track, tenant, deferred):
    post_track({"event": "page_view", "visitor_id": "dev-l", "message_id": "l1"})
    holding, release = threading.Event(), threading.Event()

    def manual_operation() -> None:
        with transaction.atomic():
            partition_lock(tenant.workspace.pk)
            holding.set()
            release.wait(10)
        connection.close()

    worker = threading.Thread(target=manual_operation)
    worker.start()
    assert holding.wait(10)
    assert partition_stitch(partition_of(tenant.workspace.pk)) is None  # another holds it: skipped
    assert not Event.objects.exists()
    release.set()
    worker.join()
    assert workspace_stitch(tenant.workspace.pk).stitched == 1


def test_status_shows_the_lag_of_what_is_pending_only_to_its_workspace(
    stitch, client, post_track, tenant, other_tenant, deferred
):
    post_track({"event": "page_view", "visitor_id": "dev-s", "message_id": "s1"})

    def status(t):
        return client.get("/api/status", HTTP_AUTHORIZATION=f"Bearer {t.secret_key}")

    mine, theirs = status(tenant).json(), status(other_tenant).json()
    assert mine["events_pending"] == 1 and mine["stitch_lag_seconds"] > 0
    assert theirs["events_pending"] == 0 and theirs["stitch_lag_seconds"] == 0
    stitch()
    after = status(tenant).json()
    assert after["events_pending"] == 0 and after["stitch_lag_seconds"] == 0
    assert after["stitch_lag_p99_seconds"] >= after["stitch_lag_p50_seconds"] > 0
    assert client.get("/api/status").status_code == 401
    assert client.get("/api/status", HTTP_AUTHORIZATION=f"Bearer {tenant.write_key}").status_code == 401


def test_metrics_need_their_token(stitch, client, post_track, settings, deferred):
    settings.CLARM_METRICS_TOKEN = ""
    assert client.get("/metrics").status_code == 404
    settings.CLARM_METRICS_TOKEN = "t0ken"
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    post_track({"batch": [{"event": "page_view", "visitor_id": "dev-m"}, {"event": "click", "visitor_id": "dev-m"}]})
    text = client.get("/metrics", HTTP_AUTHORIZATION="Bearer t0ken").content.decode()
    assert "# TYPE clarm_stitch_queue_depth gauge" in text
    assert (
        sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith("clarm_stitch_queue_depth")) == 2
    )
    stitch()
    text = client.get("/metrics", HTTP_AUTHORIZATION="Bearer t0ken").content.decode()
    assert 'clarm_stitch_lag_seconds{quantile="0.99"}' in text
    assert "clarm_events_stitched_total 2" in text


def test_a_database_error_is_waited_out_and_never_counted_against_the_events(stitch, post_track, deferred, monkeypatch):
    post_track({"event": "page_view", "visitor_id": "dev-x", "message_id": "x1"})
    real = stitcher._batch_stitch
    failures: list[int] = []

    def unreachable(pending):  # the batch, the event on its own (the pass gives up), the next batch
        if len(failures) < 3:
            failures.append(pending[0].attempts)
            raise OperationalError("server closed the connection unexpectedly")
        return real(pending)

    monkeypatch.setattr(stitcher, "_batch_stitch", unreachable)
    monkeypatch.setattr(stitcher, "RETRY_SECONDS", 0)
    monkeypatch.setattr(stitcher.connection, "close", lambda: None)  # the test's transaction stays open
    stitch()
    assert failures == [0, 0, 0]  # never counted as the event's failure
    assert Event.objects.get().message_id == "x1"  # the next pass stored it
    assert not PendingEvent.objects.exists()


def test_a_failure_before_any_event_is_read_gives_up_the_pass_once(post_track, tenant, deferred, monkeypatch):
    # E.g. a request served by a test's live server after its database went: the pass stops at
    # once instead of retrying (and logging) once per event of a batch.
    post_track({"event": "page_view", "visitor_id": "dev-y", "message_id": "y1"})
    calls: list[int] = []

    def broken(partition, *, workspace_id, limit):
        calls.append(limit)
        raise RuntimeError("no database here")

    monkeypatch.setattr(stitcher, "_pending", broken)
    outcome = partition_stitch(partition_of(tenant.workspace.pk))
    assert outcome is not None and outcome.stitched == 0
    assert calls == [1000, 1]  # the batch, then one attempt on its own
    assert PendingEvent.objects.get().attempts == 0


def test_a_stitcher_finds_the_partitions_with_work_and_skips_the_stuck(tenant, settings):
    # One skip scan of the queue's index: partitions with events waiting, not those whose only
    # events were set aside after failing (stuck), not the empty ones.
    ws = tenant.workspace
    now = timezone.now()
    stuck = settings.CLARM_STITCH_MAX_ATTEMPTS
    for partition, attempts in ((3, 0), (3, 1), (5, stuck), (11, 0), (11, stuck)):
        PendingEvent.objects.create(workspace=ws, partition=partition, received_at=now, data={}, attempts=attempts)
    assert stitcher._partitions_pending(list(range(16))) == [3, 11]
    assert stitcher._partitions_pending([0, 11, 5]) == [11]
