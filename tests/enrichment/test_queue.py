"""The write path's hand-off: one Redis round trip per request, one drain publish per batch of requests."""

import threading

import pytest
from django.conf import settings
from django.db import connection, transaction
from django.test import override_settings

from enrichment import tasks
from enrichment.queue import QUEUE_KEY
from identity.models import Customer
from tracking.hotcache import redis_client
from tracking.inputs import EventInput
from tracking.models import Event
from tracking.services import events_ingest


@pytest.fixture
def page(tenant, django_capture_on_commit_callbacks):
    def send(visitor: str) -> list[int]:
        with django_capture_on_commit_callbacks(execute=True):
            events_ingest(
                workspace=tenant.workspace,
                events=[EventInput(event="page_view", visitor_id=visitor, url="https://acme.test/pricing")],
                ip="73.1.2.3",
            )
        return [Event.objects.latest("pk").pk]  # stitched at once (CLARM_STITCH_INLINE)

    return send


@pytest.mark.postgres_only(reason="the Redis queue: the embedded default has no Redis (see the test without Redis)")
def test_requests_queue_their_events_and_one_drain_scores_them_all(page, monkeypatch):
    published = []
    monkeypatch.setattr(tasks.events_drain_task, "apply_async", lambda **options: published.append("drain"))
    for n in range(3):
        page(f"visitor-q{n}")
    assert published == ["drain"]  # the first request raised the flag; the others only pushed
    assert redis_client().llen(QUEUE_KEY) == 3
    assert not Customer.objects.filter(intent_score__isnull=False).exists()
    monkeypatch.undo()
    assert tasks.events_drain_task() == 3
    assert Customer.objects.filter(intent_score=8).count() == 3
    assert redis_client().llen(QUEUE_KEY) == 0
    published.clear()
    monkeypatch.setattr(tasks.events_drain_task, "apply_async", lambda **options: published.append("drain"))
    page("visitor-q9")  # the drain lowered the flag: the next request publishes again
    assert published == ["drain"]


@pytest.mark.postgres_only(reason="the Redis queue: the embedded default has no Redis (see the test without Redis)")
def test_a_persons_events_queued_meanwhile_are_scored_once(page, tenant, monkeypatch):
    monkeypatch.setattr(tasks.events_drain_task, "apply_async", lambda **options: None)
    calls: list[dict] = []
    real = tasks.events_enrich_and_score

    def spy(**kwargs):
        calls.append(kwargs)
        return real(**kwargs)

    monkeypatch.setattr(tasks, "events_enrich_and_score", spy)
    ids = [i for _ in range(4) for i in page("visitor-same")]
    tasks.events_drain_task()
    assert [(c["workspace_id"], c["event_ids"]) for c in calls] == [(tenant.workspace.pk, ids)]
    assert Customer.objects.get().intent_score == 32


@pytest.mark.postgres_only(reason="row locks held by another transaction: the embedded default has one writer")
@pytest.mark.django_db(transaction=True)
def test_a_drain_leaves_people_another_transaction_holds_for_the_next_drain(page, monkeypatch):
    # Two drains sharing people used to run one after the other (each waited for the other's row
    # locks). Now a drain scores the people it can lock at once and hands the others' events back.
    published: list[dict] = []
    monkeypatch.setattr(tasks.events_drain_task, "apply_async", lambda **options: published.append(options))
    held_id = page("visitor-held")[0]
    page("visitor-free")
    held = Event.objects.get(pk=held_id).customer_id
    assert held is not None
    locked, release = threading.Event(), threading.Event()

    def hold() -> None:  # another transaction (a drain, a stitch batch) holding the person's row
        with transaction.atomic():
            Customer.objects.select_for_update().get(pk=held)
            locked.set()
            release.wait(10)
        connection.close()

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert locked.wait(10)
        published.clear()
        assert tasks.events_drain_task() == 1  # the free person, at once, without waiting
        assert Customer.objects.get(pk=held).intent_score is None
        # The held person's event is back on the queue, with a drain a moment later.
        assert redis_client().llen(QUEUE_KEY) == 1
        assert published and published[0]["countdown"] == tasks.REQUEUE_DELAY_SECONDS
    finally:
        release.set()
        holder.join()
    assert tasks.events_drain_task() == 1
    assert Customer.objects.get(pk=held).intent_score == 8
    assert redis_client().llen(QUEUE_KEY) == 0


def test_without_redis_each_request_runs_the_task_itself(page):
    with override_settings(CACHES={"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}):
        page("visitor-embedded")
    assert Customer.objects.get().intent_score == 8


def test_beat_sweeps_the_queue_every_minute():
    sweep = settings.CELERY_BEAT_SCHEDULE["enrichment-drain-sweep"]
    assert sweep["task"] == tasks.events_drain_task.name
