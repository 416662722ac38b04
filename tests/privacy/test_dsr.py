"""Data-subject requests: self-serve from the preferences page with email verification, and one
click in the workspace (owners/admins act, members read, other workspaces get 404)."""

import io
import json
import re
import zipfile
from datetime import timedelta
from urllib.parse import urlencode, urlparse

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from identity.models import Customer, DataSubjectRequest, Identifier
from identity.privacy.services import dsr_create
from identity.privacy.tokens import dsr_verify_token, preferences_token
from tests.privacy.conftest import member_client, person_make
from tracking.models import Event
from workspaces.models import AuditLog

pytestmark = pytest.mark.django_db


def device_url(tenant, vid: str) -> str:
    return f"{reverse('privacy:preferences')}?{urlencode({'key': tenant.write_key, 'vid': vid})}"


def link_in(message) -> str:
    match = re.search(r"https?://\S+/privacy/requests/\S+", message.body)
    assert match is not None, message.body
    url = match.group(0)
    return urlparse(url).path


def streamed(response) -> bytes:
    return b"".join(response.streaming_content)


def test_export_request_from_preferences_with_email_verification(
    client, tenant, person, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(device_url(tenant, person.devices[0]), {"action": "request", "kind": "export"})
    assert response.status_code == 302
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == [person.email]
    dsr = DataSubjectRequest.objects.get()
    assert dsr.status == "requested" and dsr.requested_via == "preferences"
    assert (dsr.due_at - dsr.requested_at).days == 30

    path = link_in(mail.outbox[0])
    page = client.get(path)
    assert page.status_code == 200
    dsr.refresh_from_db()
    assert dsr.status == "verified" and dsr.verified_at is not None
    html = page.content.decode()
    found = re.search(r'action="([^"]+/download/json)"', html)
    assert found is not None
    download = found.group(1)
    body = streamed(client.post(download))
    with zipfile.ZipFile(io.BytesIO(body)) as zf:
        assert sorted(zf.namelist()) == [
            "consent_records.json",
            "events.json",
            "identifiers.json",
            "messages.json",
            "profile.json",
        ]
        profile = json.loads(zf.read("profile.json"))
        assert profile[0]["email"] == person.email and profile[0]["name"] == person.name
        assert len(json.loads(zf.read("events.json"))) == Event.objects.filter(customer=person.customer).count()
        identifiers = json.loads(zf.read("identifiers.json"))
        assert {i["kind"] for i in identifiers} == {"device", "email", "phone"}
        assert all("value_hash" not in i for i in identifiers)
    dsr.refresh_from_db()
    assert dsr.status == "completed" and dsr.completed_at is not None
    actions = list(AuditLog.objects.filter(action__startswith="privacy.dsr").values_list("action", flat=True))
    assert {"privacy.dsr_export_requested", "privacy.dsr_export_verified", "privacy.dsr_export_completed"} <= set(
        actions
    )
    for row in AuditLog.objects.filter(action__startswith="privacy."):
        assert person.email not in f"{row.target}{row.details}"


def test_erasure_request_needs_the_link_and_a_post(client, tenant, person, django_capture_on_commit_callbacks):
    token_path = reverse("privacy:preferences_token", kwargs={"token": preferences_token(person.customer)})
    with django_capture_on_commit_callbacks(execute=True):
        client.post(token_path, {"action": "request", "kind": "erasure"})
    path = link_in(mail.outbox[0])
    page = client.get(path)
    assert "Delete my data permanently" in page.content.decode()
    # Opening the link (e.g. by a mail scanner) erases nothing.
    assert Customer.objects.filter(pk=person.customer.pk).exists()
    done = client.post(path)
    assert done.status_code == 200
    assert "Your data was deleted" in done.content.decode()
    assert not Customer.objects.filter(pk=person.customer.pk).exists()
    assert not Event.objects.filter(workspace=tenant.workspace).exists()
    dsr = DataSubjectRequest.objects.get()
    assert dsr.status == "completed" and dsr.customer is None and dsr.outcome["events"] == 8
    # The link keeps answering (done), and the preferences token now finds nothing.
    assert client.get(path).status_code == 200
    assert client.get(token_path).status_code == 404


def test_customer_without_email_must_type_their_own_address(client, tenant, django_capture_on_commit_callbacks):
    person = person_make(tenant.workspace)
    Customer.objects.filter(pk=person.customer.pk).update(email="")
    url = device_url(tenant, person.devices[0])
    asked = client.post(url, {"action": "request", "kind": "export"})
    assert asked.status_code == 200
    assert "We have no address on file" in asked.content.decode()
    assert not DataSubjectRequest.objects.exists()

    with django_capture_on_commit_callbacks(execute=True):
        wrong = client.post(url, {"action": "request", "kind": "export", "email": "attacker@evil.test"}, follow=True)
    assert "If that address is on record for you" in wrong.content.decode()
    assert mail.outbox == [] and not DataSubjectRequest.objects.exists()

    with django_capture_on_commit_callbacks(execute=True):
        right = client.post(
            url, {"action": "request", "kind": "export", "email": " Jane.Doe@Example.org "}, follow=True
        )
    assert "If that address is on record for you" in right.content.decode()
    assert [m.to for m in mail.outbox] == [["jane.doe@example.org"]]
    assert DataSubjectRequest.objects.count() == 1


def test_invalid_email_is_400(client, tenant, person):
    Customer.objects.filter(pk=person.customer.pk).update(email="")
    response = client.post(device_url(tenant, person.devices[0]), {"action": "request", "kind": "export", "email": "x"})
    assert response.status_code == 400
    assert "Enter a valid email address" in response.content.decode()


def test_requests_are_throttled(client, tenant, person, django_capture_on_commit_callbacks):
    url = device_url(tenant, person.devices[0])
    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(5):
            assert client.post(url, {"action": "request", "kind": "export"}).status_code == 302
        blocked = client.post(url, {"action": "request", "kind": "export"})
    assert blocked.status_code == 429
    assert len(mail.outbox) == 5


def test_bad_verification_links(client, tenant, person):
    assert client.get(reverse("privacy:dsr_verify", kwargs={"token": "forged"})).status_code == 400
    assert client.post(reverse("privacy:dsr_download", kwargs={"token": "forged", "fmt": "json"})).status_code == 400


def test_self_serve_export_is_one_download_within_a_day_of_the_email_check(client, tenant, person):
    dsr = dsr_create(workspace=tenant.workspace, customer=person.customer, kind="export", via="preferences")
    token = dsr_verify_token(dsr)
    download = reverse("privacy:dsr_download", kwargs={"token": token, "fmt": "json"})
    # Not before the emailed link was opened, and never by a link scanner's GET.
    assert client.post(download).status_code == 400
    assert client.get(reverse("privacy:dsr_verify", kwargs={"token": token})).status_code == 200
    assert client.get(download).status_code == 405
    first = client.post(download)
    assert first.status_code == 200 and streamed(first)[:2] == b"PK"
    # Once: the second click (either format) gets nothing, and the page says so.
    again = client.post(reverse("privacy:dsr_download", kwargs={"token": token, "fmt": "csv"}))
    assert again.status_code == 410 and person.email not in again.content.decode()
    page = client.get(reverse("privacy:dsr_verify", kwargs={"token": token})).content.decode()
    assert "no longer available" in page and "/download/" not in page

    # A day after the email check the download has expired even if never taken.
    late = dsr_create(workspace=tenant.workspace, customer=person.customer, kind="export", via="preferences")
    late_token = dsr_verify_token(late)
    client.get(reverse("privacy:dsr_verify", kwargs={"token": late_token}))
    DataSubjectRequest.objects.filter(pk=late.pk).update(verified_at=timezone.now() - timedelta(hours=24, seconds=1))
    assert client.post(reverse("privacy:dsr_download", kwargs={"token": late_token, "fmt": "json"})).status_code == 410
    late.refresh_from_db()
    assert late.status == "verified"


# --- workspace ------------------------------------------------------------------------------------


def test_workspace_lookup_and_one_click_export(client, tenant, person):
    client.force_login(tenant.owner)
    ws = tenant.workspace.slug
    page = client.get(reverse("identity:privacy", kwargs={"ws": ws}), {"q": "jane.doe@example.org"})
    assert page.status_code == 200
    assert "Export their data" in page.content.decode()
    Customer.objects.filter(pk=person.customer.pk).update(customer_number=7)
    assert (
        "Export their data" in client.get(reverse("identity:privacy", kwargs={"ws": ws}), {"q": "#7"}).content.decode()
    )
    assert (
        "No customer matches"
        in client.get(reverse("identity:privacy", kwargs={"ws": ws}), {"q": "#99"}).content.decode()
    )

    response = client.post(
        reverse("privacy:dsr_create", kwargs={"ws": ws}), {"customer_id": person.customer.pk, "kind": "export"}
    )
    assert response.status_code == 302
    dsr = DataSubjectRequest.objects.get()
    assert dsr.status == "verified" and dsr.requested_via == "workspace" and dsr.requested_by == tenant.owner
    page = client.get(reverse("identity:privacy", kwargs={"ws": ws})).content.decode()
    assert dsr.due_at.strftime("%-d %b %Y") in page
    csv_zip = streamed(
        client.get(reverse("privacy:dsr_workspace_download", kwargs={"ws": ws, "request_id": dsr.pk, "fmt": "csv"}))
    )
    with zipfile.ZipFile(io.BytesIO(csv_zip)) as zf:
        lines = zf.read("events.csv").decode().strip().splitlines()
        assert lines[0].startswith("id,event,source,occurred_at")
        assert len(lines) == 1 + 8
    dsr.refresh_from_db()
    assert dsr.status == "completed"


def test_workspace_one_click_erasure_needs_confirmation(client, tenant, person):
    client.force_login(tenant.owner)
    url = reverse("privacy:dsr_create", kwargs={"ws": tenant.workspace.slug})
    response = client.post(url, {"customer_id": person.customer.pk, "kind": "erasure"}, follow=True)
    assert "Tick the box to confirm" in response.content.decode()
    assert Customer.objects.filter(pk=person.customer.pk).exists()
    client.post(url, {"customer_id": person.customer.pk, "kind": "erasure", "confirm": "1"})
    assert not Customer.objects.filter(pk=person.customer.pk).exists()
    assert DataSubjectRequest.objects.get().status == "completed"


def test_members_read_only(client, tenant, person):
    member_client(client, tenant, "member")
    ws = tenant.workspace.slug
    page = client.get(reverse("identity:privacy", kwargs={"ws": ws}), {"q": person.email})
    assert page.status_code == 200
    assert "Erase everything about them" not in page.content.decode()
    posts = [
        (
            reverse("privacy:dsr_create", kwargs={"ws": ws}),
            {"customer_id": person.customer.pk, "kind": "erasure", "confirm": "1"},
        ),
        (reverse("privacy:customer_opt_out", kwargs={"ws": ws}), {"customer_id": person.customer.pk}),
        (reverse("privacy:export_create", kwargs={"ws": ws}), {"format": "csv"}),
    ]
    for url, data in posts:
        assert client.post(url, data).status_code == 403
    customer = Customer.objects.get(pk=person.customer.pk)
    assert customer.allow_analytics
    assert not DataSubjectRequest.objects.exists()


def test_admin_can_opt_a_customer_out(client, tenant, person):
    member_client(client, tenant, "admin")
    client.post(
        reverse("privacy:customer_opt_out", kwargs={"ws": tenant.workspace.slug}), {"customer_id": person.customer.pk}
    )
    customer = Customer.objects.get(pk=person.customer.pk)
    assert not customer.allow_analytics and not customer.allow_marketing_email


def test_tenant_isolation_on_every_workspace_page(client, tenant, other_tenant, person):
    """Another workspace's owner: 404 everywhere, and nothing changed."""
    client.force_login(tenant.owner)
    client.post(
        reverse("privacy:dsr_create", kwargs={"ws": tenant.workspace.slug}),
        {"customer_id": person.customer.pk, "kind": "export"},
    )
    dsr = DataSubjectRequest.objects.get()
    client.logout()

    client.force_login(other_tenant.owner)
    ws = tenant.workspace.slug
    assert client.get(reverse("identity:privacy", kwargs={"ws": ws})).status_code == 404
    attempts = [
        (
            "post",
            reverse("privacy:dsr_create", kwargs={"ws": ws}),
            {"customer_id": person.customer.pk, "kind": "erasure", "confirm": "1"},
        ),
        ("post", reverse("privacy:customer_opt_out", kwargs={"ws": ws}), {"customer_id": person.customer.pk}),
        ("post", reverse("privacy:export_create", kwargs={"ws": ws}), {"format": "json"}),
        ("get", reverse("privacy:dsr_workspace_download", kwargs={"ws": ws, "request_id": dsr.pk, "fmt": "json"}), {}),
    ]
    for method, url, data in attempts:
        assert getattr(client, method)(url, data).status_code == 404
    # Their own workspace URL with our ids: 404 too (scoped lookups).
    own = other_tenant.workspace.slug
    cross = [
        (
            "post",
            reverse("privacy:dsr_create", kwargs={"ws": own}),
            {"customer_id": person.customer.pk, "kind": "erasure", "confirm": "1"},
        ),
        ("post", reverse("privacy:customer_opt_out", kwargs={"ws": own}), {"customer_id": person.customer.pk}),
        ("get", reverse("privacy:dsr_workspace_download", kwargs={"ws": own, "request_id": dsr.pk, "fmt": "json"}), {}),
    ]
    for method, url, data in cross:
        assert getattr(client, method)(url, data).status_code == 404
    lookup = client.get(reverse("identity:privacy", kwargs={"ws": own}), {"q": person.email}).content.decode()
    assert "No customer matches" in lookup and "Export their data" not in lookup

    customer = Customer.objects.get(pk=person.customer.pk)
    assert customer.allow_analytics and customer.allow_marketing_email
    assert Identifier.objects.filter(customer=customer).count() == 4
    assert DataSubjectRequest.objects.count() == 1
    assert Event.objects.filter(customer=customer).count() == 8
    from identity.models import ExportJob

    assert not ExportJob.objects.exists()
