"""The merge guards: shared devices, conflicting accounts, linked identifiers, consent, junk ids."""

from datetime import UTC, datetime, timedelta

import pytest

from identity.models import Customer, CustomerStatus, Identifier, MergeLog, Suppression
from tests.identity.helpers import customer_of, send
from tracking.models import Event
from tracking.normalize import identifier_hash
from tracking.purposes import Purpose

T = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def test_shared_device_moves_to_the_new_person_from_that_event_on(tenant):
    ws = tenant.workspace
    ana = send(ws, at=T, device="family-pc", email="ana@example.com")
    send(ws, at=T + timedelta(minutes=5), device="family-pc")
    # Someone else signs up on the same computer with a different address.
    ben = send(ws, at=T + timedelta(hours=1), device="family-pc", email="ben@example.com")
    assert ben.customer_id != ana.customer_id and ben.created and ben.merged_customer_ids == ()
    assert customer_of(ws, device="family-pc").pk == ben.customer_id
    assert customer_of(ws, email="ana@example.com").pk == ana.customer_id
    # Past events stay where they were; the device's next page view is Ben's.
    assert Event.objects.filter(customer_id=ana.customer_id).count() == 2
    later = send(ws, at=T + timedelta(hours=2), device="family-pc")
    assert later.customer_id == ben.customer_id
    log = MergeLog.objects.get(workspace=ws)
    assert log.kind == MergeLog.Kind.SPLIT
    assert (log.survivor_id, log.merged_id) == (ben.customer_id, ana.customer_id)
    assert log.moved["event_ids"] == []
    assert Customer.objects.get(pk=ana.customer_id).status == CustomerStatus.LIVE


def test_device_of_identified_customer_with_a_new_kind_of_identifier_is_linked(tenant):
    ws = tenant.workspace
    first = send(ws, at=T, device="d1", email="ana@example.com")
    # Same device gives a phone: Ana had no phone yet, so nothing conflicts.
    second = send(ws, at=T + timedelta(minutes=1), device="d1", phone="+14155550100")
    assert second.customer_id == first.customer_id and not second.created
    assert MergeLog.objects.filter(workspace=ws).count() == 0


def test_different_user_ids_are_never_merged_and_the_event_goes_to_the_account_owner(tenant):
    ws = tenant.workspace
    one = send(ws, at=T, user_id="acct-1", email="shared@example.com")
    two = send(ws, at=T + timedelta(minutes=1), user_id="acct-2", phone="+14155550100")
    assert one.customer_id != two.customer_id
    # An event naming account 2 together with account 1's email.
    res = send(ws, at=T + timedelta(minutes=2), user_id="acct-2", email="shared@example.com")
    assert res.customer_id == two.customer_id and res.merged_customer_ids == ()
    assert res.event is not None and res.event.customer_id == two.customer_id
    # The conflicting claim's owner keeps its identifier.
    assert customer_of(ws, email="shared@example.com").pk == one.customer_id
    # Without a user_id on the event, two account holders' identifiers are still not merged.
    res = send(ws, at=T + timedelta(minutes=3), email="shared@example.com", phone="+14155550100")
    assert res.merged_customer_ids == ()
    assert Customer.objects.filter(workspace=ws, status=CustomerStatus.LIVE).count() == 2
    for customer in Customer.objects.filter(workspace=ws, status=CustomerStatus.LIVE):
        assert customer.identifiers.filter(kind="user_id").count() == 1


def test_signing_in_on_someone_elses_device_moves_the_device(tenant):
    ws = tenant.workspace
    one = send(ws, at=T, device="kiosk", user_id="acct-1")
    two = send(ws, at=T + timedelta(hours=1), device="kiosk", user_id="acct-2")
    assert two.customer_id != one.customer_id and two.rung == 4
    assert customer_of(ws, device="kiosk").pk == two.customer_id
    assert Customer.objects.get(pk=one.customer_id).customer_number == 1
    assert Customer.objects.get(pk=two.customer_id).customer_number == 2


def test_identifiers_that_arrive_together_are_linked(tenant):
    ws = tenant.workspace
    by_email = send(ws, at=T, source="email", email="kim@example.com")
    by_phone = send(ws, at=T + timedelta(minutes=1), source="channel", phone="+14155550111")
    by_device = send(ws, at=T + timedelta(minutes=2), device="kim-phone")
    assert len({by_email.customer_id, by_phone.customer_id, by_device.customer_id}) == 3
    res = send(ws, at=T + timedelta(minutes=3), device="kim-phone", email="kim@example.com", phone="+14155550111")
    # Survivor: highest rung (email → 2), the others merged into it, one log row each.
    assert res.customer_id == by_email.customer_id
    assert sorted(res.merged_customer_ids) == sorted([by_phone.customer_id, by_device.customer_id])
    assert MergeLog.objects.filter(workspace=ws, kind=MergeLog.Kind.MERGE).count() == 2
    survivor = Customer.objects.get(pk=res.customer_id)
    assert survivor.identifiers.count() == 3
    assert Event.objects.filter(customer=survivor).count() == 4
    assert Customer.objects.filter(workspace=ws, status=CustomerStatus.LIVE).count() == 1


def test_consent_on_merge_most_restrictive_wins(tenant):
    ws = tenant.workspace
    a = send(ws, at=T, email="lee@example.com")
    b = send(ws, at=T + timedelta(minutes=1), phone="+14155550122")
    Customer.objects.filter(pk=a.customer_id).update(allow_marketing_sms=False)
    Customer.objects.filter(pk=b.customer_id).update(allow_analytics=False, allow_ad_sendback=False)
    # A message exchanged (transactional): kept whatever the person's preferences.
    res = send(
        ws,
        at=T + timedelta(minutes=2),
        source="channel",
        email="lee@example.com",
        phone="+14155550122",
        purpose=Purpose.TRANSACTIONAL,
    )
    survivor = Customer.objects.get(pk=res.customer_id)
    assert (
        survivor.allow_analytics,
        survivor.allow_marketing_email,
        survivor.allow_marketing_sms,
        survivor.allow_ad_sendback,
    ) == (False, True, False, False)
    # Opted out of analytics: a transactional record is still stored, a web event is not.
    assert res.suppressed and res.event is not None
    web = send(ws, at=T + timedelta(minutes=3), email="lee@example.com")
    assert web.suppressed and web.event is None
    assert not Event.objects.filter(occurred_at=T + timedelta(minutes=3)).exists()


def test_suppression_list_brings_back_an_opt_out_for_an_erased_person(tenant):
    ws = tenant.workspace
    Suppression.objects.create(
        workspace=ws,
        kind="email",
        value_hash=identifier_hash(ws, "email", "gone@example.com"),
        analytics=True,
        marketing_email=True,
    )
    # Opted out of analytics: the person is not created again at all.
    res = send(ws, at=T, device="new-device", email="GONE@example.com", traits={"name": "Gone"})
    assert res.suppressed and res.event is None and res.customer_id is None
    assert not Customer.objects.filter(workspace=ws).exists() and not Identifier.objects.filter(workspace=ws).exists()
    # Opted out of marketing only: the person comes back, with the opt-out.
    Suppression.objects.create(
        workspace=ws,
        kind="email",
        value_hash=identifier_hash(ws, "email", "mail-only@example.com"),
        marketing_email=True,
    )
    res = send(ws, at=T, device="other-device", email="mail-only@example.com")
    assert not res.suppressed and res.event is not None
    customer = Customer.objects.get(pk=res.customer_id)
    assert customer.allow_analytics and not customer.allow_marketing_email and customer.allow_marketing_sms


@pytest.mark.parametrize("junk", ["", "null", "undefined", "anonymous", "0", "-1", "[object Object]", "0000-0000"])
def test_junk_ids_are_never_identifiers(tenant, junk):
    ws = tenant.workspace
    res = send(ws, at=T, device=junk, user_id=junk)
    assert res.customer_id is None and res.rung == 0 and not res.created
    assert res.event is not None and res.event.customer_id is None and "visitor_id" in res.event.context["notes"]
    # Two visitors sending the same placeholder are never stitched together.
    first = send(ws, at=T, device="real-1", user_id=junk)
    second = send(ws, at=T, device="real-2", user_id=junk)
    assert first.customer_id != second.customer_id
    assert Identifier.objects.filter(workspace=ws).count() == 2


def test_bad_email_and_phone_are_notes_not_identifiers(tenant):
    ws = tenant.workspace
    res = send(ws, at=T, device="d1", email="not-an-email", phone="12")
    assert res.rung == 0
    assert res.event is not None and set(res.event.context["notes"]) == {"email", "phone"}
    assert list(Identifier.objects.filter(workspace=ws).values_list("kind", flat=True)) == ["device"]


def test_traits_and_contact_values(tenant):
    ws = tenant.workspace
    res = send(ws, at=T, email="max@example.com", traits={"name": "Max", "company": {"name": "Acme"}, "plan": "pro"})
    send(ws, at=T + timedelta(minutes=5), email="max@example.com", phone="+14155550133", traits={"plan": "team"})
    customer = Customer.objects.get(pk=res.customer_id)
    assert (customer.name, customer.company, customer.traits) == ("Max", "Acme", {"plan": "team"})
    assert customer.email == "max@example.com" and customer.phone == "+14155550133"
    # First seen email wins: a second address is kept as an identifier only.
    send(ws, at=T + timedelta(minutes=6), email="max@example.com", phone="+14155550133")
    assert Customer.objects.get(pk=res.customer_id).email == "max@example.com"


def test_backdated_event_moves_first_seen(tenant):
    ws = tenant.workspace
    res = send(ws, at=T, device="d1")
    send(ws, at=T - timedelta(days=2), device="d1")
    customer = Customer.objects.get(pk=res.customer_id)
    assert customer.first_seen == T - timedelta(days=2) and customer.last_seen == T


def test_same_identifier_in_another_workspace_is_another_person(tenant, other_tenant):
    a = send(tenant.workspace, at=T, email="same@example.com", user_id="u1")
    b = send(other_tenant.workspace, at=T, email="same@example.com", user_id="u1")
    assert a.customer_id != b.customer_id
    # Each workspace counts its own customer numbers.
    assert Customer.objects.get(pk=a.customer_id).customer_number == 1
    assert Customer.objects.get(pk=b.customer_id).customer_number == 1
    assert MergeLog.objects.count() == 0
