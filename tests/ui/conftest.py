"""Builders for the UI/API tests: customers with hashed identifiers and events, written directly."""

import datetime
import itertools

import pytest
from django.test import Client
from django.utils import timezone

from identity.models import Customer, Identifier
from tests.factories import UserFactory
from tracking.models import Event
from tracking.normalize import claims_from_values
from workspaces.models import Membership, Role

_seq = itertools.count(1)


def make_customer(workspace, **fields) -> Customer:
    fields.setdefault("last_seen", timezone.now())
    fields.setdefault("first_seen", fields["last_seen"])
    return Customer.objects.create(workspace=workspace, **fields)


def add_identifier(customer: Customer, **value) -> Identifier:
    """add_identifier(c, email="a@b.com") / phone= / user_id= / device= : hashed like ingest does."""
    claim = claims_from_values(customer.workspace, **value).claims[0]
    return Identifier.objects.create(
        workspace=customer.workspace,
        customer=customer,
        kind=claim.kind,
        value_hash=claim.value_hash,
        masked=claim.masked,
    )


def add_event(
    customer: Customer | None, *, workspace=None, event="page_view", source="web", at=None, rung=None, **fields
):
    if workspace is None:
        assert customer is not None
        workspace = customer.workspace
    at = at or timezone.now()
    return Event.objects.create(
        workspace=workspace,
        customer=customer,
        event=event,
        source=source,
        occurred_at=at,
        received_at=fields.pop("received_at", at),
        rung=customer.rung if rung is None and customer else (rung or 0),
        # Provider webhooks' events are recorded under server keys (integrations.events.event_record).
        message_id=fields.pop("message_id", f"{'clarm:test:' if source == 'webhook' else ''}m-{next(_seq)}"),
        **fields,
    )


def add_events(customer: Customer, n: int, *, start=None, step=datetime.timedelta(minutes=1), **fields) -> list[Event]:
    start = start or timezone.now() - n * step
    rows = [
        Event(
            workspace=customer.workspace,
            customer=customer,
            event=fields.get("event", "page_view"),
            source=fields.get("source", "web"),
            occurred_at=start + i * step,
            received_at=start + i * step,
            rung=customer.rung,
            message_id=f"bulk-{next(_seq)}",
            context={"url": f"https://acme.test/page-{i}"},
        )
        for i in range(n)
    ]
    return Event.objects.bulk_create(rows)


def client_for(workspace, role=Role.MEMBER, user=None) -> Client:
    user = user or UserFactory()
    Membership.objects.get_or_create(workspace=workspace, user=user, defaults={"role": role})
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def owner_client(tenant) -> Client:
    client = Client()
    client.force_login(tenant.owner)
    return client


@pytest.fixture
def member_client(tenant) -> Client:
    return client_for(tenant.workspace, Role.MEMBER)


@pytest.fixture
def admin_client(tenant) -> Client:
    return client_for(tenant.workspace, Role.ADMIN)
