"""Concurrent batch senders over the same known devices, in random orders: every request is
accepted (no deadlock, no 503), every accepted event is stored once, on a live customer."""

import datetime
import json
import random
import threading
from collections import Counter
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from identity.models import Customer, CustomerStatus, Identifier
from tests.identity.helpers import run_in_threads
from tracking.models import Event, Visit
from tracking.normalize import claims_from_values

THREADS, BATCHES, BATCH_SIZE, DEVICES = 8, 3, 50, 20


def _iso(moment: datetime.datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _post(client: Client, key: str, body: dict[str, Any]) -> Any:
    return client.post("/api/track", data=json.dumps(body), content_type="application/json", HTTP_X_CLARM_KEY=key)


@pytest.mark.django_db(transaction=True)
def test_concurrent_batches_over_shared_devices_are_all_accepted(tenant, settings):
    settings.CLARM_RATE_LIMIT_PER_MINUTE = 0  # 8 senders from one IP: measure locking, not the limit
    key = tenant.write_key
    devices = [f"shared-device-{d}" for d in range(DEVICES)]
    # The devices become known an hour ago, so the load below moves every customer's last_seen,
    # starts a second visit (rung 1, visit counts) and updates visits: every kind of row write.
    first_seen = timezone.now() - datetime.timedelta(hours=1)
    setup = Client()
    r = _post(
        setup,
        key,
        {
            "batch": [
                {"event": "page_view", "visitor_id": d, "session_id": f"old-{d}", "timestamp": _iso(first_seen)}
                for d in devices
            ]
        },
    )
    assert r.status_code == 202 and r.json()["accepted"] == DEVICES
    answers: list[tuple[int, dict[str, Any]]] = []
    lock = threading.Lock()

    def sender(n: int) -> None:
        client = Client()
        rng = random.Random(n)
        for b in range(BATCHES):
            batch = []
            for i in range(BATCH_SIZE):
                d = rng.choice(devices)
                batch.append(
                    {
                        "event": "page_view",
                        "visitor_id": d,
                        "session_id": f"new-{d}",
                        "url": f"https://shop.example/p/{i}",
                        "message_id": f"t{n}-b{b}-e{i}",
                    }
                )
            r = _post(client, key, {"batch": batch})
            with lock:
                answers.append((r.status_code, r.json()))

    assert run_in_threads(THREADS, sender) == []
    statuses = Counter(status for status, _ in answers)
    assert statuses == {202: THREADS * BATCHES}, [a for a in answers if a[0] != 202][:3]
    accepted = sum(answer["accepted"] for _, answer in answers)
    assert accepted == THREADS * BATCHES * BATCH_SIZE
    loaded = Event.objects.filter(workspace=tenant.workspace, message_id__startswith="t")
    assert loaded.count() == accepted
    # Every event on a live customer, one customer per device, and each device's events with it.
    live = set(
        Customer.objects.filter(workspace=tenant.workspace, status=CustomerStatus.LIVE).values_list("id", flat=True)
    )
    assert len(live) == DEVICES
    assert not Event.objects.filter(workspace=tenant.workspace).exclude(customer_id__in=live).exists()
    owner_of = dict(Identifier.objects.filter(workspace=tenant.workspace).values_list("value_hash", "customer_id"))
    for device_hash, customer_id in Event.objects.values_list("device_hash", "customer_id"):
        assert owner_of[device_hash] == customer_id
    # The second visit lifted every device that was seen again to rung 1, on the events too.
    seen_again = set(loaded.values_list("customer_id", flat=True))
    assert set(Customer.objects.filter(pk__in=seen_again).values_list("rung", flat=True)) == {1}
    assert set(loaded.values_list("rung", flat=True)) == {1}
    assert set(Identifier.objects.filter(customer_id__in=seen_again).values_list("visit_count", flat=True)) == {2}
    # Visits counted every stored event exactly once; last_seen moved on.
    assert sum(Visit.objects.filter(workspace=tenant.workspace).values_list("event_count", flat=True)) == (
        accepted + DEVICES
    )
    assert all(
        c.last_seen > first_seen + datetime.timedelta(minutes=59) for c in Customer.objects.filter(pk__in=seen_again)
    )


@pytest.mark.django_db(transaction=True)
def test_concurrent_batches_with_identifies_and_merges_lose_nothing(tenant, settings):
    """Batches that mix page views of shared devices with identifies linking devices to shared
    emails (slow path: merges in the middle of batches): all accepted, nothing on a merged customer."""
    settings.CLARM_RATE_LIMIT_PER_MINUTE = 0
    key = tenant.write_key
    devices = [f"mix-device-{d}" for d in range(DEVICES)]
    setup = Client()
    r = _post(setup, key, {"batch": [{"event": "page_view", "visitor_id": d} for d in devices]})
    assert r.status_code == 202
    emails = [f"person{k}@example.com" for k in range(4)]
    answers: list[int] = []
    identified: set[str] = set()

    def sender(n: int) -> None:
        client = Client()
        rng = random.Random(100 + n)
        for b in range(BATCHES):
            batch: list[dict[str, Any]] = []
            for i in range(20):
                d = rng.choice(devices)
                event: dict[str, Any] = {"event": "page_view", "visitor_id": d, "message_id": f"m{n}-{b}-{i}"}
                if i % 7 == 3:
                    # Device d belongs to person (d mod 4): every thread links the same pairs.
                    event["event"] = "identify"
                    event["properties"] = {"email": emails[int(d.rsplit("-", 1)[1]) % 4]}
                    identified.add(d)
                batch.append(event)
            answers.append(_post(client, key, {"batch": batch}).status_code)

    assert run_in_threads(THREADS, sender) == []
    assert answers == [202] * (THREADS * BATCHES)
    ws = tenant.workspace
    assert Event.objects.filter(workspace=ws, message_id__startswith="m").count() == THREADS * BATCHES * 20
    live = Customer.objects.filter(workspace=ws, status=CustomerStatus.LIVE)
    assert not Event.objects.filter(workspace=ws).exclude(customer__in=live).exists()
    assert not Identifier.objects.filter(workspace=ws).exclude(customer__in=live).exists()
    # Each identified device is with its own person's customer, the others stayed anonymous.
    assert identified
    for d in devices:
        claims = claims_from_values(ws, device=d)
        owner = Identifier.objects.get(workspace=ws, kind="device", value_hash=claims.claims[0].value_hash).customer
        if d in identified:
            assert (owner.email, owner.rung) == (emails[int(d.rsplit("-", 1)[1]) % 4], 2)
        else:
            assert (owner.email, owner.rung) == ("", 0)
    assert live.count() == len({int(d.rsplit("-", 1)[1]) % 4 for d in identified}) + DEVICES - len(identified)
