"""Fixtures for the privacy tests: a person with two devices, an email and a phone, and events."""

import datetime
import json
from dataclasses import dataclass, field
from typing import cast

import pytest
from django.urls import reverse
from django.utils import timezone

from identity.models import Customer, Identifier, IdentifierKind
from tracking.models import Event
from tracking.normalize import claims_from_values
from workspaces.models import Workspace


@dataclass
class Person:
    customer: Customer
    email: str
    phone: str
    name: str
    devices: list[str]
    device_hashes: list[str] = field(default_factory=list)


def person_make(
    workspace: Workspace,
    *,
    email: str = "jane.doe@example.org",
    phone: str = "+14155550123",
    name: str = "Jane Doe",
    devices: tuple[str, ...] = ("dev-7f3a9c21-phone", "dev-2b8e41d0-laptop"),
    events_per_device: int = 3,
) -> Person:
    now = timezone.now()
    customer = Customer.objects.create(
        workspace=workspace,
        name=name,
        email=email,
        phone=phone,
        rung=3,
        first_seen=now - datetime.timedelta(days=10),
        last_seen=now,
    )
    claims = claims_from_values(workspace, email=email, phone=phone).claims
    for device in devices:
        claims += claims_from_values(workspace, device=device).claims
    for claim in claims:
        Identifier.objects.create(
            workspace=workspace, customer=customer, kind=claim.kind, value_hash=claim.value_hash, masked=claim.masked
        )
    hashes = [c.value_hash for c in claims if c.kind == IdentifierKind.DEVICE]
    for i, device_hash in enumerate(hashes):
        for n in range(events_per_device):
            Event.objects.create(
                workspace=workspace,
                customer=customer,
                event="page_view",
                source="web",
                occurred_at=now - datetime.timedelta(days=5, minutes=n),
                device_hash=device_hash,
                session_id=f"s{i}",
                properties={"url": "https://acme.test/quote", "visitor": devices[i]},
                context={"visitor_id": devices[i]},
            )
    Event.objects.create(
        workspace=workspace,
        customer=customer,
        event="identify",
        source="web",
        occurred_at=now - datetime.timedelta(days=4),
        device_hash=hashes[0] if hashes else "",
        properties={"email": email, "phone": phone, "name": name},
    )
    Event.objects.create(
        workspace=workspace,
        customer=customer,
        event="message_received",
        source="channel",
        occurred_at=now - datetime.timedelta(days=3),
        properties={"from": phone, "body": f"Hi, it's {name}"},
    )
    return Person(customer=customer, email=email, phone=phone, name=name, devices=list(devices), device_hashes=hashes)


@pytest.fixture
def person(tenant) -> Person:
    return person_make(tenant.workspace)


def member_client(client, tenant, role: str):
    """Log a new member with `role` of the tenant's workspace into `client`."""
    from django.contrib.auth.models import User

    from tests.factories import UserFactory
    from workspaces.models import Membership

    user = cast(User, UserFactory())
    Membership.objects.create(workspace=tenant.workspace, user=user, role=role)
    client.force_login(user)
    return user


def track(client, tenant, **event):
    """POST one event (a page view unless it says otherwise) with the tenant's write key; its answer."""
    response = client.post(
        reverse("tracking:track"),
        data=json.dumps({"event": "page_view", **event}),
        content_type="application/json",
        HTTP_X_CLARM_KEY=tenant.write_key,
    )
    assert response.status_code == 202, response.content
    return response.json()
