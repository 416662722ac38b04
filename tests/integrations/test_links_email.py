import re
from urllib.parse import urlsplit

import pytest
from django.core import mail
from django.core.mail import EmailMultiAlternatives

from agents.messaging import email_send
from agents.models import Message, MessageStatus
from identity.models import Customer
from integrations.models import LinkKind, TrackedLink
from integrations.services import IntegrationInputError, link_create
from tracking.inputs import EventInput
from tracking.models import Event
from tracking.services import events_ingest


def person(workspace, *, email="dana.whitfield@example.com", phone="+14155550123"):
    events_ingest(
        workspace=workspace,
        events=[EventInput(event="form_submit", source="web", visitor_id="dev-9", email=email, phone=phone)],
    )
    return Customer.objects.get(workspace=workspace, email=email, status="live")


@pytest.fixture
def send_email(tenant, django_capture_on_commit_callbacks):
    def send(customer, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return email_send(workspace=tenant.workspace, customer_id=customer.pk, **kwargs)

    return send


HTML = (
    '<html><body><p>Your quote is ready.</p><a href="https://acme-movers.example/quote/8812?x=1&amp;y=2">See quote</a>'
    " <a href='mailto:help@acme.example'>Mail us</a></body></html>"
)


def test_marketing_email_has_tracked_links_pixel_and_one_click_unsubscribe(tenant, send_email, client):
    customer = person(tenant.workspace)
    message = send_email(customer, subject="Your quote", html_body=HTML, marketing=True)
    message.refresh_from_db()
    assert message.status == MessageStatus.SENT and message.provider_message_id.startswith("<")
    [sent] = mail.outbox
    assert sent.to == ["dana.whitfield@example.com"] and sent.subject == "Your quote"
    assert isinstance(sent, EmailMultiAlternatives)
    html = str(sent.alternatives[0][0])
    assert "acme-movers.example/quote" not in html  # the link was rewritten
    assert "mailto:help@acme.example" in html  # non-http links stay
    [link_url] = re.findall(r'href="(http[^"]+/l/[^"]+)"', html)
    [pixel_url] = re.findall(r'src="(http[^"]+/o/[^"]+\.gif)"', html)
    unsubscribe = sent.extra_headers["List-Unsubscribe"]
    assert re.fullmatch(r"<https?://[^>]+/u/[^>]+>, <mailto:[^>]+>", unsubscribe)
    assert sent.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert f'"clarm_message_id": "{message.pk}"' in sent.extra_headers["X-SMTPAPI"]
    assert "See quote" in sent.body and "<a" not in sent.body  # plain-text alternative

    opened = client.get(urlsplit(pixel_url).path)
    assert opened.status_code == 200 and opened["Content-Type"] == "image/gif"
    assert opened.content.startswith(b"GIF89a")
    clicked = client.get(urlsplit(link_url).path)
    assert clicked.status_code == 302
    assert clicked["Location"] == "https://acme-movers.example/quote/8812?x=1&y=2"
    names = list(Event.objects.filter(customer=customer).order_by("occurred_at", "id").values_list("event", "source"))
    assert (
        ("email_sent", "email") in names and ("email_opened", "pixel") in names and ("link_clicked", "pixel") in names
    )
    customer.refresh_from_db()
    assert customer.rung >= 2


def test_transactional_email_has_no_unsubscribe_headers(tenant, send_email):
    send_email(person(tenant.workspace), subject="Booking confirmed", html_body="<p>See you Monday</p>")
    assert "List-Unsubscribe" not in mail.outbox[0].extra_headers


def test_unsubscribed_customer_gets_no_marketing_email(tenant, send_email):
    customer = person(tenant.workspace)
    Customer.objects.filter(pk=customer.pk).update(allow_marketing_email=False)
    with pytest.raises(IntegrationInputError, match="unsubscribed"):
        send_email(customer, subject="Sale", html_body="<p>50% off</p>", marketing=True)
    assert mail.outbox == [] and not Message.objects.exists()


def test_sms_link_click_is_a_phone_channel_signal(tenant, client):
    customer = person(tenant.workspace)
    assert customer.rung == 2
    link = link_create(
        workspace=tenant.workspace,
        target_url="https://acme-movers.example/book",
        channel="sms",
        customer_id=customer.pk,
        utm={"source": "sms", "campaign": "june"},
    )
    response = client.get(f"/l/{link.code}")
    assert response.status_code == 302
    assert response["Location"] == "https://acme-movers.example/book?utm_source=sms&utm_campaign=june"
    customer.refresh_from_db()
    assert customer.rung == 3
    click = Event.objects.get(event="link_clicked")
    assert click.customer_id == customer.pk and click.rung == 3 and click.source == "pixel"
    link.refresh_from_db()
    assert link.clicks == 1


@pytest.mark.parametrize("header", ["HTTP_SEC_GPC", "HTTP_DNT"])
def test_a_gpc_or_dnt_browser_still_follows_a_link_and_nothing_about_the_click_is_recorded(tenant, client, header):
    """GPC/DNT on a tracked link's or pixel's request is an opt-out for that event, as on /api/track:
    the person reaches the target, and neither the click nor the open is recorded (not even the
    count of a link made for them)."""
    customer = person(tenant.workspace)
    link = link_create(
        workspace=tenant.workspace, target_url="https://acme-movers.example/book", customer_id=customer.pk
    )
    pixel = link_create(workspace=tenant.workspace, target_url="", customer_id=customer.pk, kind=LinkKind.PIXEL)
    before = Event.objects.count()
    response = client.get(f"/l/{link.code}", **{header: "1"})
    assert response.status_code == 302 and response["Location"] == "https://acme-movers.example/book"
    assert client.get(f"/o/{pixel.code}.gif", **{header: "1"}).status_code == 200
    assert Event.objects.count() == before
    assert list(TrackedLink.objects.filter(pk__in=[link.pk, pixel.pk]).values_list("clicks", flat=True)) == [0, 0]


def test_no_open_redirect_and_unknown_codes_are_bare_404s(tenant, client):
    link = link_create(workspace=tenant.workspace, target_url="https://acme-movers.example/")
    evil = client.get(f"/l/{link.code}?next=https://evil.example&url=https://evil.example")
    assert evil["Location"] == "https://acme-movers.example/"
    for path in (f"/l/{link.code[:-1]}x", "/l/nope", f"/o/{link.code}.gif", "/o/unknown.gif", f"/l/{link.code}extra"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert response.content == b"Not found"
    with pytest.raises(IntegrationInputError):
        link_create(workspace=tenant.workspace, target_url="javascript:alert(1)")


def test_api_creates_links_with_the_secret_key(tenant, other_tenant, client):
    customer = person(tenant.workspace)
    response = client.post(
        "/api/links",
        data={"target_url": "https://acme-movers.example/offer", "channel": "whatsapp", "customer_id": customer.pk},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {tenant.secret_key}",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["url"].endswith(f"/l/{body['code']}") and body["channel"] == "whatsapp"
    link = TrackedLink.objects.get(code=body["code"])
    assert link.workspace_id == tenant.workspace.pk and link.customer_id == customer.pk

    # Another workspace's key cannot attach a link to A's customer; bad input names the problem.
    cross = client.post(
        "/api/links",
        data={"target_url": "https://b.example/", "customer_id": customer.pk},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {other_tenant.secret_key}",
    )
    assert cross.status_code == 400 and "No such customer" in cross.json()["error"]
    assert (
        client.post(
            "/api/links", data={"target_url": "https://x.example/"}, content_type="application/json"
        ).status_code
        == 401
    )
    write = client.post(
        "/api/links",
        data={"target_url": "https://x.example/"},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {tenant.write_key}",
    )
    assert write.status_code == 401
    bad = client.post(
        "/api/links",
        data={"target_url": "ftp://x.example/"},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {tenant.secret_key}",
    )
    assert bad.status_code == 400 and "http(s)" in bad.json()["error"]
    assert TrackedLink.objects.filter(kind=LinkKind.LINK).count() == 1
