"""Merge log and undo; the owner's manual merge and device split; customer numbers."""

import json
from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import ValidationError

from identity.models import Customer, CustomerStatus, Identifier, MergeLog
from identity.services import customers_merge_manual, device_split, merge_undo
from tests.identity.helpers import customer_of, send, state
from tracking.models import Event
from workspaces.models import AuditLog

T = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _two_people(ws):
    """Customer A: device with two visits, then an email. Customer B: phone via WhatsApp, a trait,
    and an opt-out of marketing SMS."""
    a = send(ws, at=T, device="dev-a", session="v1")
    send(ws, at=T + timedelta(hours=1), device="dev-a", session="v2")
    send(ws, at=T + timedelta(hours=2), device="dev-a", email="a@example.com", traits={"name": "Alex"})
    b = send(
        ws,
        at=T - timedelta(days=1),
        source="channel",
        phone="+14155550100",
        phone_channel=True,
        traits={"company": "Bee Co", "plan": "pro"},
    )
    Customer.objects.filter(pk=b.customer_id).update(allow_marketing_sms=False)
    return a.customer_id, b.customer_id


def test_automatic_merge_undo_restores_everything_exactly(tenant):
    ws = tenant.workspace
    a_id, b_id = _two_people(ws)
    before = state(ws)
    # An event carrying both (no new identifiers, nothing else new) merges them.
    res = send(ws, at=T - timedelta(days=2), source="email", email="a@example.com", phone="+14155550100")
    trigger = res.event
    assert trigger is not None
    assert res.customer_id == b_id and res.merged_customer_ids == (a_id,)  # B has the higher rung (3)
    survivor = Customer.objects.get(pk=b_id)
    assert (survivor.email, survivor.phone, survivor.name, survivor.company) == (
        "a@example.com",
        "+14155550100",
        "Alex",
        "Bee Co",
    )
    assert not survivor.allow_marketing_sms and survivor.first_seen == T - timedelta(days=2)
    log = MergeLog.objects.get(workspace=ws)
    assert len(log.moved["event_ids"]) == 3 and len(log.moved["identifier_ids"]) == 2

    merge_undo(workspace=ws, merge_log=log, actor=tenant.owner)
    after = state(ws)
    after["events"] = [e for e in after["events"] if e[0] != trigger.pk]
    for c in after["live_customers"]:
        if c["id"] == b_id:  # the trigger event itself stays with B and moved its first_seen back
            assert c["first_seen"] == T - timedelta(days=2)
            c["first_seen"] = T - timedelta(days=1)
    assert after == before
    log.refresh_from_db()
    assert log.undone_at is not None
    assert AuditLog.objects.filter(workspace=ws, action="customer.merge_undone").count() == 1
    with pytest.raises(ValidationError, match="already undone"):
        merge_undo(workspace=ws, merge_log=log, actor=tenant.owner)


def test_manual_merge_and_undo_round_trip(tenant):
    ws = tenant.workspace
    a_id, b_id = _two_people(ws)
    before = state(ws)
    a, b = Customer.objects.get(pk=a_id), Customer.objects.get(pk=b_id)
    # The owner keeps A (the lower rung) on purpose.
    log = customers_merge_manual(workspace=ws, survivor=a, merged=b, actor=tenant.owner)
    a.refresh_from_db()
    assert a.rung == 3 and Event.objects.filter(customer=a).count() == 4
    assert AuditLog.objects.get(workspace=ws, action="customer.merged").details["merge_log_id"] == log.pk
    assert log.actor == tenant.owner
    merge_undo(workspace=ws, merge_log=log, actor=tenant.owner)
    assert state(ws) == before


def test_undo_is_refused_while_a_later_merge_depends_on_it(tenant):
    ws = tenant.workspace
    a_id, b_id = _two_people(ws)
    c = send(ws, at=T, source="email", email="c@example.com")
    before = state(ws)
    first = customers_merge_manual(
        workspace=ws, survivor=Customer.objects.get(pk=b_id), merged=Customer.objects.get(pk=a_id), actor=None
    )
    second = customers_merge_manual(
        workspace=ws, survivor=Customer.objects.get(pk=c.customer_id), merged=Customer.objects.get(pk=b_id), actor=None
    )
    with pytest.raises(ValidationError, match=f"merge log #{second.pk}"):
        merge_undo(workspace=ws, merge_log=first, actor=tenant.owner)
    merge_undo(workspace=ws, merge_log=second, actor=tenant.owner)
    merge_undo(workspace=ws, merge_log=first, actor=tenant.owner)
    assert state(ws) == before


def test_manual_merge_refuses_different_accounts_and_other_workspaces(tenant, other_tenant):
    ws = tenant.workspace
    one = send(ws, at=T, user_id="acct-1")
    two = send(ws, at=T, user_id="acct-2")
    a, b = Customer.objects.get(pk=one.customer_id), Customer.objects.get(pk=two.customer_id)
    with pytest.raises(ValidationError, match="different account ids"):
        customers_merge_manual(workspace=ws, survivor=a, merged=b, actor=tenant.owner)
    with pytest.raises(ValidationError, match="two different"):
        customers_merge_manual(workspace=ws, survivor=a, merged=a, actor=tenant.owner)
    before = state(ws)
    outsider = send(other_tenant.workspace, at=T, device="dev-x")
    stranger = Customer.objects.get(pk=outsider.customer_id)
    with pytest.raises(ValidationError, match="belong to this workspace"):
        customers_merge_manual(workspace=other_tenant.workspace, survivor=stranger, merged=a, actor=other_tenant.owner)
    log = MergeLog.objects.create(workspace=ws, survivor=a, merged=b, reason="x", moved={})
    with pytest.raises(ValidationError, match="does not exist in this workspace"):
        merge_undo(workspace=other_tenant.workspace, merge_log=log, actor=other_tenant.owner)
    log.delete()
    assert state(ws) == before
    assert MergeLog.objects.count() == 0


def test_device_split_moves_the_device_and_its_events_and_undo_puts_them_back(tenant):
    ws = tenant.workspace
    res = send(ws, at=T, device="laptop", email="pat@example.com")
    send(ws, at=T + timedelta(minutes=1), device="tablet", session="v1")
    send(ws, at=T + timedelta(minutes=2), device="tablet", email="pat@example.com")
    send(ws, at=T + timedelta(hours=3), device="tablet", session="v2")
    customer = Customer.objects.get(pk=res.customer_id)
    before = state(ws)
    tablet = customer_of(ws, device="tablet")
    assert tablet.pk == customer.pk
    ident = Identifier.objects.get(customer=customer, kind="device", masked__startswith="tabl")

    log = device_split(workspace=ws, customer=customer, identifier=ident, actor=tenant.owner)
    new = Customer.objects.get(pk=log.survivor_id)
    assert new.pk != customer.pk and new.status == CustomerStatus.LIVE
    assert Event.objects.filter(customer=new).count() == 3 and Event.objects.filter(customer=customer).count() == 1
    assert new.rung == 1  # the tablet has two visits
    assert (new.first_seen, new.last_seen) == (T + timedelta(minutes=1), T + timedelta(hours=3))
    assert customer_of(ws, device="tablet").pk == new.pk
    assert AuditLog.objects.filter(workspace=ws, action="customer.device_split").exists()
    # The device's next page view goes to the new customer.
    nxt = send(ws, at=T + timedelta(hours=4), device="tablet")
    assert nxt.customer_id == new.pk
    Event.objects.filter(occurred_at=T + timedelta(hours=4)).delete()

    merge_undo(workspace=ws, merge_log=log, actor=tenant.owner)
    assert state(ws) == before
    new.refresh_from_db()
    assert new.status == CustomerStatus.MERGED and new.merged_into_id == customer.pk


def test_device_split_refusals(tenant, other_tenant):
    ws = tenant.workspace
    res = send(ws, at=T, device="only-device")
    customer = Customer.objects.get(pk=res.customer_id)
    ident = customer.identifiers.get()
    with pytest.raises(ValidationError, match="only identifier"):
        device_split(workspace=ws, customer=customer, identifier=ident, actor=tenant.owner)
    send(ws, at=T, device="only-device", email="q@example.com")
    email = Identifier.objects.get(workspace=ws, kind="email")
    with pytest.raises(ValidationError, match="Only a device"):
        device_split(workspace=ws, customer=customer, identifier=email, actor=tenant.owner)
    before = state(ws)
    with pytest.raises(ValidationError, match="does not exist in this workspace"):
        device_split(workspace=other_tenant.workspace, customer=customer, identifier=ident, actor=other_tenant.owner)
    assert state(ws) == before


def test_undo_of_an_automatic_shared_device_split_moves_the_device_back(tenant):
    ws = tenant.workspace
    ana = send(ws, at=T, device="family-pc", email="ana@example.com")
    ben = send(ws, at=T + timedelta(hours=1), device="family-pc", email="ben@example.com")
    log = MergeLog.objects.get(workspace=ws, kind=MergeLog.Kind.SPLIT)
    merge_undo(workspace=ws, merge_log=log, actor=tenant.owner)
    assert customer_of(ws, device="family-pc").pk == ana.customer_id
    # Ben keeps his own email and the event that named him.
    assert customer_of(ws, email="ben@example.com").pk == ben.customer_id
    assert Customer.objects.get(pk=ben.customer_id).status == CustomerStatus.LIVE


def test_customer_numbers_are_given_in_order_and_never_reused(tenant):
    ws = tenant.workspace
    first = send(ws, at=T, user_id="u-1")
    second = send(ws, at=T, email="b@example.com", account_signal=True)
    third = send(ws, at=T, email="c@example.com")
    numbers = {r.customer_id: Customer.objects.get(pk=r.customer_id).customer_number for r in (first, second, third)}
    assert [numbers[first.customer_id], numbers[second.customer_id], numbers[third.customer_id]] == [1, 2, None]
    # Merging #1 into #2 (the older one survives) keeps #2's number out of circulation.
    log = customers_merge_manual(
        workspace=ws,
        survivor=Customer.objects.get(pk=first.customer_id),
        merged=Customer.objects.get(pk=second.customer_id),
        actor=None,
    )
    fourth = send(ws, at=T, email="c@example.com", account_signal=True)
    assert Customer.objects.get(pk=fourth.customer_id).customer_number == 3
    merge_undo(workspace=ws, merge_log=log, actor=None)
    assert Customer.objects.get(pk=second.customer_id).customer_number == 2
    ws.refresh_from_db()
    assert ws.next_customer_number == 4


def test_merge_log_holds_no_plain_personal_data_and_undo_still_restores(tenant):
    ws = tenant.workspace
    a_id, b_id = _two_people(ws)
    before = state(ws)
    a, b = Customer.objects.get(pk=a_id), Customer.objects.get(pk=b_id)
    log = customers_merge_manual(workspace=ws, survivor=b, merged=a, actor=tenant.owner)
    text = json.dumps(MergeLog.objects.get(pk=log.pk).moved)
    for plain in ("a@example.com", "14155550100", "Alex", "Bee Co", '"pro"'):
        assert plain not in text
    # What undo needs is there in a non-personal form: which trait keys the survivor had.
    assert log.moved["survivor_before"]["traits"]["keys"] == ["plan"]
    assert log.moved["survivor_before"]["email"] == ""  # an empty field names nobody
    merge_undo(workspace=ws, merge_log=log, actor=tenant.owner)
    assert state(ws) == before
