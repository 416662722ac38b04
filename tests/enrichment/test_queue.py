"""The write path's hand-off: one Redis round trip per request, one drain publish per batch of requests."""

import pytest
from django.conf import settings
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
    assert calls == [{"workspace_id": tenant.workspace.pk, "event_ids": ids}]
    assert Customer.objects.get().intent_score == 32


def test_without_redis_each_request_runs_the_task_itself(page):
    with override_settings(CACHES={"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}):
        page("visitor-embedded")
    assert Customer.objects.get().intent_score == 8


def test_beat_sweeps_the_queue_every_minute():
    sweep = settings.CELERY_BEAT_SCHEDULE["enrichment-drain-sweep"]
    assert sweep["task"] == tasks.events_drain_task.name
