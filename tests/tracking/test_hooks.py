"""The write path's after-commit hook: subscribers get the committed events' ids, once, after commit."""

from tracking import hooks
from tracking.models import Event


def test_subscribers_get_the_committed_event_ids_after_commit(post_track, tenant, monkeypatch):
    calls: list[tuple[int, list[int]]] = []
    monkeypatch.setattr(hooks, "_receivers", [lambda ws, ids: calls.append((ws, ids))])
    post_track({"batch": [{"event": "page_view", "visitor_id": "hook-1"}, {"event": "click", "visitor_id": "hook-1"}]})
    assert calls == [(tenant.workspace.pk, sorted(Event.objects.values_list("id", flat=True)))]


def test_a_failing_subscriber_never_fails_an_accepted_request(post_track, monkeypatch):
    def broken(workspace_id: int, event_ids: list[int]) -> None:
        raise RuntimeError("processor down")

    seen: list[list[int]] = []
    monkeypatch.setattr(hooks, "_receivers", [broken, lambda ws, ids: seen.append(ids)])
    response = post_track({"event": "page_view", "visitor_id": "hook-2"})
    assert response.status_code == 202 and response.json()["accepted"] == 1
    assert seen == [[Event.objects.get().pk]]  # the next subscriber still ran


def test_duplicates_and_rejected_events_are_not_announced(post_track, monkeypatch):
    calls: list[list[int]] = []
    monkeypatch.setattr(hooks, "_receivers", [lambda ws, ids: calls.append(ids)])
    post_track({"event": "page_view", "visitor_id": "hook-3", "message_id": "m-1"})
    post_track({"event": "page_view", "visitor_id": "hook-3", "message_id": "m-1"})
    post_track({"event": ""})
    assert calls == [[Event.objects.get().pk]]
