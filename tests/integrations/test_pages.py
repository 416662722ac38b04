from django.urls import reverse

from integrations.models import Connection, ConnectionStatus, TrackedLink
from tests.factories import UserFactory
from tests.integrations.conftest import TWILIO_SID, fixture_json
from workspaces.models import AuditLog, Membership, Role


def member_of(workspace, role=Role.MEMBER):
    user = UserFactory.create()
    Membership.objects.create(workspace=workspace, user=user, role=role)
    return user


def test_owner_connects_twilio_and_tests_it_against_the_api(tenant, client, provider_api, settings):
    settings.CLARM_TWILIO_API_URL = provider_api.url
    provider_api.body = {"sid": TWILIO_SID, "friendly_name": "Acme Movers", "status": "active"}
    client.force_login(tenant.owner)
    ws = tenant.workspace.slug
    response = client.post(
        reverse("integrations:connect", kwargs={"ws": ws, "provider": "twilio"}),
        {"account_sid": TWILIO_SID, "auth_token": "tok-123", "sms_from": "+14155550100"},
    )
    assert response.status_code == 302
    connection = Connection.objects.get(workspace=tenant.workspace, provider="twilio")
    assert "tok-123" not in connection.credentials_encrypted
    assert AuditLog.objects.filter(workspace=tenant.workspace, action="integration.connected").exists()

    response = client.post(reverse("integrations:test", kwargs={"ws": ws, "provider": "twilio"}), follow=True)
    assert "Acme Movers" in response.content.decode()
    [request] = provider_api.requests
    assert request["path"] == f"/2010-04-01/Accounts/{TWILIO_SID}.json"
    connection.refresh_from_db()
    assert connection.status == ConnectionStatus.ACTIVE and connection.last_checked_at is not None

    provider_api.status = 401
    provider_api.body = {"code": 20003, "message": "Authenticate", "status": 401}
    client.post(reverse("integrations:test", kwargs={"ws": ws, "provider": "twilio"}))
    connection.refresh_from_db()
    assert connection.status == ConnectionStatus.ERROR and "401" in connection.last_check_message

    page = client.get(reverse("integrations:list", kwargs={"ws": ws})).content.decode()
    assert f"/hooks/twilio/{ws}/" in page and "tok-123" not in page and "Test connection" in page


def test_stripe_connection_test_uses_the_sdk(tenant, client, provider_api, settings):
    settings.CLARM_STRIPE_API_URL = provider_api.url
    provider_api.body = {"object": "balance", "livemode": False, "available": [], "pending": []}
    client.force_login(tenant.owner)
    ws = tenant.workspace.slug
    client.post(
        reverse("integrations:connect", kwargs={"ws": ws, "provider": "stripe"}),
        {"api_key": "sk_test_abc", "webhook_secret": "whsec_abc"},
    )
    response = client.post(reverse("integrations:test", kwargs={"ws": ws, "provider": "stripe"}), follow=True)
    assert "Stripe answered (test mode)" in response.content.decode()
    assert provider_api.requests[0]["path"] == "/v1/balance"
    assert provider_api.requests[0]["headers"]["Authorization"] == "Bearer sk_test_abc"


def test_missing_required_credentials_are_named(tenant, client):
    client.force_login(tenant.owner)
    response = client.post(
        reverse("integrations:connect", kwargs={"ws": tenant.workspace.slug, "provider": "stripe"}),
        {"api_key": "sk_test_abc"},
        follow=True,
    )
    assert "Webhook signing secret (whsec_…) is required" in response.content.decode()
    assert not Connection.objects.exists()


def test_member_reads_but_cannot_change(tenant, client, stripe_a):
    member = member_of(tenant.workspace)
    client.force_login(member)
    ws = tenant.workspace.slug
    page = client.get(reverse("integrations:list", kwargs={"ws": ws}))
    assert page.status_code == 200 and "Update credentials" not in page.content.decode()
    assert "whsec" not in page.content.decode()
    for name in ("connect", "test", "disconnect"):
        assert client.post(reverse(f"integrations:{name}", kwargs={"ws": ws, "provider": "stripe"})).status_code == 403
    assert (
        client.post(reverse("integrations:links", kwargs={"ws": ws}), {"target_url": "https://a.example"}).status_code
        == 403
    )
    assert Connection.objects.filter(workspace=tenant.workspace).count() == 1
    assert not TrackedLink.objects.exists()


def test_owner_creates_a_link_from_the_page(tenant, client):
    client.force_login(tenant.owner)
    url = reverse("integrations:links", kwargs={"ws": tenant.workspace.slug})
    response = client.post(
        url, {"target_url": "https://acme-movers.example/offer", "channel": "ad", "label": "Summer ad"}
    )
    assert response.status_code == 302
    link = TrackedLink.objects.get()
    assert link.channel == "ad" and link.workspace_id == tenant.workspace.pk
    assert f"/l/{link.code}" in client.get(url).content.decode()
    bad = client.post(url, {"target_url": "not a url", "channel": "ad"})
    assert bad.status_code == 400 and TrackedLink.objects.count() == 1


def test_another_workspace_pages_are_404_and_nothing_changes(tenant, other_tenant, client, provider_api, settings):
    from integrations.services import connection_save

    b_conn = connection_save(
        workspace=other_tenant.workspace,
        provider="stripe",
        values={"api_key": "sk_b", "webhook_secret": "whsec_b"},
        actor=other_tenant.owner,
    )
    before = b_conn.credentials_encrypted
    client.force_login(tenant.owner)  # an owner of A, a stranger to B
    ws = other_tenant.workspace.slug
    assert client.get(reverse("integrations:list", kwargs={"ws": ws})).status_code == 404
    assert client.get(reverse("integrations:links", kwargs={"ws": ws})).status_code == 404
    for name in ("connect", "test", "disconnect"):
        response = client.post(
            reverse(f"integrations:{name}", kwargs={"ws": ws, "provider": "stripe"}),
            {"api_key": "sk_evil", "webhook_secret": "whsec_evil"},
        )
        assert response.status_code == 404
    assert (
        client.post(
            reverse("integrations:links", kwargs={"ws": ws}), {"target_url": "https://evil.example"}
        ).status_code
        == 404
    )
    b_conn.refresh_from_db()
    assert b_conn.credentials_encrypted == before and b_conn.last_checked_at is None
    assert not TrackedLink.objects.exists()
    assert provider_api.requests == []


def test_fixture_shapes_match_twilio():
    assert fixture_json("twilio_sms_inbound.json")["AccountSid"].startswith("AC")
