"""The preferences page without JavaScript: plain forms posted by the Django test client."""

import datetime
from urllib.parse import urlencode

import pytest
import time_machine
from django.urls import reverse

from agents.models import Message, MessageStatus
from identity.models import ConsentRecord, Customer, IdentifierKind, Suppression
from identity.privacy.tokens import preferences_token, preferences_url, unsubscribe_token
from tracking.normalize import claims_from_values
from workspaces.models import AuditLog

pytestmark = pytest.mark.django_db


def device_url(tenant, vid: str) -> str:
    return f"{reverse('privacy:preferences')}?{urlencode({'key': tenant.write_key, 'vid': vid})}"


def test_personal_link_shows_what_is_recorded_masked(client, tenant, person):
    response = client.get(reverse("privacy:preferences_token", kwargs={"token": preferences_token(person.customer)}))
    assert response.status_code == 200
    html = response.content.decode()
    # Masked identifiers and their kinds, never the full values.
    assert "j***@example.org" in html
    assert "+14******23" in html
    assert person.email not in html
    assert person.phone not in html
    assert person.devices[1] not in html
    # Counts per source: 6 page views + identify on web, 1 on channel.
    assert "web 7" in html
    assert "channel 1" in html
    assert "8 in total" in html
    assert 'name="csrfmiddlewaretoken"' in html


def test_device_link_shows_only_what_came_from_the_device(client, tenant, person):
    html = client.get(device_url(tenant, person.devices[0])).content.decode()
    assert "recorded from this device" in html
    assert "web 4" in html and "4 in total" in html  # three page views and the identify
    # Nothing of the person: a visitor id proves the device, not who is behind it.
    assert "j***@example.org" not in html and "+14******23" not in html
    assert "channel" not in html and "8 in total" not in html
    assert "Email me my personal link" in html


def test_someone_who_claims_a_victims_email_on_their_device_learns_nothing_and_cannot_opt_them_back_in(
    client, tenant, person, mailoutbox, django_capture_on_commit_callbacks
):
    Customer.objects.filter(pk=person.customer.pk).update(allow_marketing_email=False)
    # The attacker's device is stitched to the victim (anyone can `identify` with the public key).
    attacker = "attacker-device-9"
    for claim in claims_from_values(tenant.workspace, device=attacker).claims:
        person.customer.identifiers.create(
            workspace=tenant.workspace, kind=claim.kind, value_hash=claim.value_hash, masked=claim.masked
        )
    url = device_url(tenant, attacker)
    html = client.get(url).content.decode()
    assert "j***@example.org" not in html and "Nothing is recorded from this device" in html

    # Turning marketing email back on is refused (an opt-out is only undone through the personal link).
    client.post(
        url, {"action": "save", "analytics": "on", "marketing_email": "on", "marketing_sms": "on", "ad_sendback": "on"}
    )
    assert not Customer.objects.get(pk=person.customer.pk).allow_marketing_email
    assert "use your personal link" in client.get(url).content.decode()

    # The personal link goes only to the address on record, never to the requester.
    with django_capture_on_commit_callbacks(execute=True):
        client.post(url, {"action": "send_link"})
    assert [m.to for m in mailoutbox] == [[person.email]]
    assert "/privacy/preferences/" in mailoutbox[0].body


def test_saving_toggles_opts_out_every_identifier(client, tenant, person):
    Message.objects.create(
        workspace=tenant.workspace, customer=person.customer, channel="email", direction="out", marketing=True
    )
    transactional = Message.objects.create(
        workspace=tenant.workspace, customer=person.customer, channel="email", direction="out", marketing=False
    )
    sms = Message.objects.create(
        workspace=tenant.workspace, customer=person.customer, channel="sms", direction="out", marketing=True
    )
    url = device_url(tenant, person.devices[1])
    # Analytics and SMS stay ticked; marketing email and ad send-back are unticked.
    response = client.post(url, {"action": "save", "analytics": "on", "marketing_sms": "on"})
    assert response.status_code == 302 and response["Location"] == url

    customer = Customer.objects.get(pk=person.customer.pk)
    assert customer.allow_analytics and customer.allow_marketing_sms
    assert not customer.allow_marketing_email and not customer.allow_ad_sendback
    rows = Suppression.objects.filter(workspace=tenant.workspace)
    # Every identifier of the person: 2 devices, the email and the phone.
    assert rows.count() == 4
    assert {r.kind for r in rows} == {"device", "email", "phone"}
    assert all(r.marketing_email and r.ad_sendback and not r.analytics and not r.marketing_sms for r in rows)
    # Queued marketing email cancelled; the transactional one and the SMS (still allowed) stay queued.
    statuses = dict(Message.objects.values_list("pk", "status"))
    assert MessageStatus.CANCELLED in statuses.values()
    assert statuses[transactional.pk] == MessageStatus.QUEUED
    assert statuses[sms.pk] == MessageStatus.QUEUED
    records = ConsentRecord.objects.filter(customer=customer).order_by("purpose")
    assert [(r.purpose, r.choice, r.source) for r in records] == [
        ("ad_sendback", "withdrawn", "preferences"),
        ("marketing_email", "withdrawn", "preferences"),
    ]
    assert all(len(r.text_hash) == 64 for r in records)
    audit = AuditLog.objects.get(action="privacy.preferences_updated")
    text = f"{audit.target} {audit.details}"
    assert person.email not in text and person.phone not in text and str(person.customer.pk) != audit.target

    page = client.get(url).content.decode()
    assert "Your preferences are saved." in page


def test_opt_out_of_everything_and_back(client, tenant, person):
    url = device_url(tenant, person.devices[0])
    client.post(url, {"action": "optout_all"})
    customer = Customer.objects.get(pk=person.customer.pk)
    assert not any(
        [
            customer.allow_analytics,
            customer.allow_marketing_email,
            customer.allow_marketing_sms,
            customer.allow_ad_sendback,
        ]
    )
    assert Suppression.objects.filter(workspace=tenant.workspace, analytics=True).count() == 4
    page = client.get(url).content.decode()
    assert "You are opted out of everything." in page

    # Ticking everything again on the person's own link lifts the opt-outs and empties the
    # suppression list for the person.
    personal = reverse("privacy:preferences_token", kwargs={"token": preferences_token(person.customer)})
    everything = {"analytics": "on", "marketing_email": "on", "marketing_sms": "on", "ad_sendback": "on"}
    client.post(personal, {"action": "save", **everything})
    customer.refresh_from_db()
    assert customer.allow_analytics and customer.allow_marketing_email
    assert not Suppression.objects.filter(workspace=tenant.workspace).exists()


def test_unknown_device_gets_a_device_suppression(client, tenant):
    url = device_url(tenant, "never-seen-device-42")
    page = client.get(url)
    assert page.status_code == 200
    assert "Nothing is recorded from this device" in page.content.decode()
    client.post(url, {"action": "optout_all"})
    device_hash = claims_from_values(tenant.workspace, device="never-seen-device-42").claims[0].value_hash
    row = Suppression.objects.get(workspace=tenant.workspace, kind=IdentifierKind.DEVICE, value_hash=device_hash)
    assert row.analytics and row.marketing_email and row.ad_sendback
    assert "You are opted out of everything." in client.get(url).content.decode()


@pytest.mark.parametrize(
    ("query", "status", "text"),
    [
        ({}, 400, "This link is incomplete"),
        ({"key": "wk_not-a-key", "vid": "dev-1"}, 404, "Nothing to show"),
        ({"vid": "dev-1"}, 400, "This link is incomplete"),
    ],
)
def test_bad_device_links_reveal_nothing(client, tenant, person, query, status, text):
    response = client.get(f"{reverse('privacy:preferences')}?{urlencode(query)}")
    assert response.status_code == status
    assert text in response.content.decode()
    assert tenant.workspace.name not in response.content.decode()


def test_junk_visitor_id_is_400(client, tenant):
    response = client.get(device_url(tenant, "undefined"))
    assert response.status_code == 400
    assert "not a valid id" in response.content.decode()
    assert not Suppression.objects.exists()


def test_secret_key_does_not_open_the_page(client, tenant, person):
    url = f"{reverse('privacy:preferences')}?{urlencode({'key': tenant.secret_key, 'vid': person.devices[0]})}"
    assert client.get(url).status_code == 404


def test_token_page_works_and_saves(client, tenant, person):
    url = preferences_url(person.customer)
    assert url.startswith("http")
    path = reverse("privacy:preferences_token", kwargs={"token": preferences_token(person.customer)})
    response = client.get(path)
    assert response.status_code == 200
    assert "j***@example.org" in response.content.decode()
    client.post(path, {"action": "save", "analytics": "on", "marketing_email": "on", "ad_sendback": "on"})
    assert not Customer.objects.get(pk=person.customer.pk).allow_marketing_sms


def test_tampered_expired_and_wrong_purpose_tokens_are_400(client, tenant, person):
    token = preferences_token(person.customer)
    tampered = token[:-3] + ("aaa" if not token.endswith("aaa") else "bbb")
    for bad in (tampered, "nonsense", unsubscribe_token(person.customer, "marketing_email")):
        response = client.get(reverse("privacy:preferences_token", kwargs={"token": bad}))
        assert response.status_code == 400
        assert "This link is not valid" in response.content.decode()
        assert person.email not in response.content.decode()
    with time_machine.travel(datetime.datetime.now(tz=datetime.UTC) + datetime.timedelta(days=91)):
        response = client.post(reverse("privacy:preferences_token", kwargs={"token": token}), {"action": "optout_all"})
    assert response.status_code == 400
    assert Customer.objects.get(pk=person.customer.pk).allow_analytics


def test_token_of_an_erased_customer_is_404(client, tenant, person):
    path = reverse("privacy:preferences_token", kwargs={"token": preferences_token(person.customer)})
    Customer.objects.filter(pk=person.customer.pk).delete()
    response = client.get(path)
    assert response.status_code == 404


def test_unknown_action_is_400(client, tenant, person):
    response = client.post(device_url(tenant, person.devices[0]), {"action": "explode"})
    assert response.status_code == 400
    assert Customer.objects.get(pk=person.customer.pk).allow_analytics


def test_page_rejects_post_without_csrf(tenant, person):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    response = client.post(device_url(tenant, person.devices[0]), {"action": "optout_all"})
    assert response.status_code == 403
    assert Customer.objects.get(pk=person.customer.pk).allow_analytics
