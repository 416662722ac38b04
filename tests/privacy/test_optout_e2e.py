"""An opt-out reaches every stitched identifier: through the real ingest API (`POST /api/track`)."""

import pytest

from identity.models import Customer, Identifier
from identity.privacy.erasure import subject_erase
from identity.privacy.services import preferences_update
from tests.privacy.conftest import track
from tracking.models import Event

pytestmark = pytest.mark.django_db

PHONE_DEVICE = "3f9c0a1e-phone-device"
LAPTOP_DEVICE = "8d2b7e44-laptop-device"


def stitched_person(client, tenant) -> Customer:
    """Two devices, an email and a phone, stitched into one customer by the real ingest."""
    track(client, tenant, visitor_id=PHONE_DEVICE, url="https://acme.test/")
    track(
        client,
        tenant,
        event="identify",
        visitor_id=PHONE_DEVICE,
        properties={"email": "sam.rivera@example.org", "phone": "+14155550188", "name": "Sam Rivera"},
    )
    track(client, tenant, event="identify", visitor_id=LAPTOP_DEVICE, properties={"email": "sam.rivera@example.org"})
    customers = Customer.objects.filter(workspace=tenant.workspace, status="live")
    assert customers.count() == 1
    customer = customers.get()
    assert Identifier.objects.filter(customer=customer).count() == 4
    return customer


def test_opt_out_suppresses_events_from_every_identifier(client, tenant):
    customer = stitched_person(client, tenant)
    before = Event.objects.filter(workspace=tenant.workspace).count()
    preferences_update(
        workspace=tenant.workspace, customer=customer, changes={"analytics": False}, source="preferences"
    )

    for event in (
        {"visitor_id": PHONE_DEVICE},
        {"visitor_id": LAPTOP_DEVICE},
        {"event": "identify", "properties": {"email": "SAM.RIVERA@example.org"}},
        {"event": "identify", "properties": {"phone": "+1 415 555 0188"}},
    ):
        answer = track(client, tenant, **event)
        assert answer["accepted"] == 1, (event, answer)  # appended; the stitcher refuses it
    assert Event.objects.filter(workspace=tenant.workspace).count() == before


def test_suppression_survives_erasure_and_re_identification(client, tenant):
    customer = stitched_person(client, tenant)
    preferences_update(
        workspace=tenant.workspace, customer=customer, changes={"analytics": False}, source="preferences"
    )
    subject_erase(workspace=tenant.workspace, customer=customer)
    assert not Customer.objects.filter(workspace=tenant.workspace).exists()

    # A brand-new device identifies with the same email: the hashed suppression list still says no.
    answer = track(
        client,
        tenant,
        event="identify",
        visitor_id="new-device-after-erasure",
        properties={"email": "sam.rivera@example.org"},
    )
    assert answer["accepted"] == 1  # appended; the stitcher refuses it
    assert not Event.objects.filter(workspace=tenant.workspace).exists()
