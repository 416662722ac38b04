"""When the database refuses the append, the client is told to retry and nothing is half-stored."""

import pytest
from django.db import OperationalError

from tracking import services
from tracking.models import Event, PendingEvent


@pytest.mark.django_db(transaction=True)
def test_a_failed_append_answers_503_with_retry_after_and_stores_nothing(post_track, monkeypatch):
    def refused(**kwargs):
        raise OperationalError("could not extend file: No space left on device")

    monkeypatch.setattr(services, "events_append", refused)
    r = post_track({"batch": [{"event": "page_view", "visitor_id": "v-1", "message_id": "m-1"}]})
    assert r.status_code == 503
    assert r["Retry-After"] == "1"
    assert "send this request again" in r.json()["error"]
    assert not Event.objects.exists() and not PendingEvent.objects.exists()

    monkeypatch.undo()
    again = post_track({"batch": [{"event": "page_view", "visitor_id": "v-1", "message_id": "m-1"}]})
    assert again.status_code == 202 and again.json()["accepted"] == 1
    assert Event.objects.get().message_id == "m-1"
