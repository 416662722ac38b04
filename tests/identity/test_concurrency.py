"""Many writers stitching the same identities at once: one live customer, no lost event."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from identity.models import Customer, CustomerStatus, Identifier
from tests.identity.helpers import run_in_threads, send
from tracking.models import Event

T = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
THREADS, EVENTS = 8, 20


@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_sharing_identifiers(tenant):
    ws = tenant.workspace
    devices = [f"device-{i}" for i in range(4)]

    def writer(n: int) -> None:
        for i in range(EVENTS):
            # Each event links a device with one shared email, phone or account id, so every
            # identifier ends up chained to every other one through some event.
            kind = (n + i // 4) % 4
            values: dict[str, Any] = {"device": devices[i % len(devices)]}
            if kind == 0:
                values["email"] = "shared@example.com"
            elif kind == 1:
                values["phone"] = "+14155550199"
            elif kind == 2:
                values["user_id"] = "acct-42"
            send(
                ws,
                at=T + timedelta(seconds=n * EVENTS + i),
                session=f"visit-{i % 3}",
                phone_channel=kind == 1,
                **values,
            )

    assert run_in_threads(THREADS, writer) == []

    live = Customer.objects.filter(workspace=ws, status=CustomerStatus.LIVE)
    assert live.count() == 1
    person = live.get()
    assert Identifier.objects.filter(workspace=ws).exclude(customer=person).count() == 0
    assert Identifier.objects.filter(workspace=ws).count() == len(devices) + 3
    assert Event.objects.filter(workspace=ws).count() == THREADS * EVENTS
    assert Event.objects.filter(workspace=ws).exclude(customer=person).count() == 0
    assert person.rung == 4 and person.customer_number == 1
    assert person.email == "shared@example.com" and person.phone == "+14155550199"
    # Every merged-away customer points (through its chain) at the live one.
    for merged in Customer.objects.filter(workspace=ws, status=CustomerStatus.MERGED):
        node = merged
        while node.merged_into_id is not None and node.status == CustomerStatus.MERGED:
            node = Customer.objects.get(pk=node.merged_into_id)
        assert node.pk == person.pk
