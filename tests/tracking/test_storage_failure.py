"""When the database keeps refusing a write, the client is told to retry and nothing is half-stored."""

import pytest
from django.db import OperationalError

from tracking import services
from tracking.models import Event


# Not inside a test transaction: ingest only retries when it owns the transaction, as in production.
@pytest.mark.django_db(transaction=True)
def test_a_write_that_keeps_failing_answers_503_with_retry_after_and_stores_nothing(post_track, monkeypatch):
    attempts = []

    def deadlocked(**kwargs):
        attempts.append(1)
        raise OperationalError("deadlock detected")

    monkeypatch.setattr(services, "_store", deadlocked)
    r = post_track({"batch": [{"event": "page_view", "visitor_id": "v-1", "message_id": "m-1"}]})
    assert r.status_code == 503
    assert r["Retry-After"] == "1"
    assert "send this request again" in r.json()["error"]
    assert len(attempts) == 3  # retried before giving up
    assert not Event.objects.exists()

    monkeypatch.undo()
    again = post_track({"batch": [{"event": "page_view", "visitor_id": "v-1", "message_id": "m-1"}]})
    assert again.status_code == 202 and again.json()["accepted"] == 1
