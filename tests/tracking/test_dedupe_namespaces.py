"""Issue 11, probe 1: a write-key caller could claim a provider's dedupe key (`POST /api/track` with
`"message_id": "generic:crm-deal-4471-won"` made the real signed webhook a "duplicate"). Provider keys
and caller keys live in separate namespaces, on both ingest paths (the full path and the known-device
lane)."""

import base64
import datetime
import json

import pytest
from django.utils import timezone

from integrations.inbound import timestamped_hmac_header
from integrations.models import DeliveryStatus, WebhookDelivery
from integrations.services import connection_save
from tests.tracking.bodies import ANSWER_ONE, _identify, _pv
from tracking.dedupe import server_dedupe_key
from tracking.models import DedupeKey, Event

DEAL = {"id": "crm-deal-4471-won", "event": "deal_won", "email": "dana@example.com", "ladder": "account"}


@pytest.fixture
def post_generic(client, tenant, django_capture_on_commit_callbacks):
    connection = connection_save(workspace=tenant.workspace, provider="generic", values={}, actor=tenant.owner)
    secret = connection.credentials["secret"]

    def post(data: dict):
        body = json.dumps(data)
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(
                f"/hooks/generic/{tenant.workspace.slug}/",
                data=body,
                content_type="application/json",
                HTTP_X_CLARM_SIGNATURE=timestamped_hmac_header(body=body, secret=secret),
            )

    return post


def test_a_caller_using_a_providers_key_does_not_shadow_the_webhook(post_track, post_generic, tenant):
    ws = tenant.workspace
    claimed = post_track({"event": "deal_won", "visitor_id": "v-attacker", "message_id": "generic:crm-deal-4471-won"})
    assert claimed.status_code == 202 and claimed.json()["accepted"] == 1  # the caller's own namespace
    answer = post_generic(DEAL)
    assert answer.status_code == 200 and answer.json()["status"] == "stored"
    assert WebhookDelivery.objects.get(workspace=ws).status == DeliveryStatus.PROCESSED
    # Two events: the caller's, and the real deal on Dana's timeline (it was dropped as a duplicate).
    real = Event.objects.get(workspace=ws, message_id=server_dedupe_key("generic", "crm-deal-4471-won"))
    assert real.source == "webhook" and real.customer is not None and real.customer.email == "dana@example.com"
    assert Event.objects.get(workspace=ws, message_id="generic:crm-deal-4471-won").source == "web"


@pytest.mark.parametrize("path", ["/api/track", "/v1/track"])
def test_the_reserved_prefix_is_refused_to_callers_by_name(post_track, post_generic, tenant, client, path):
    ws = tenant.workspace
    key = server_dedupe_key("generic", "crm-deal-4471-won")
    if path == "/api/track":
        response = post_track({"event": "deal_won", "visitor_id": "v-1", "message_id": key})
    else:
        auth = "Basic " + base64.b64encode(f"{tenant.write_key}:".encode()).decode()
        body = {"event": "deal_won", "anonymousId": "v-1", "messageId": key}
        response = post_track(body, key=False, path=path, HTTP_AUTHORIZATION=auth)
    assert response.status_code == 400
    assert "message_id may not start with 'clarm:'" in response.json()["error"]
    assert not Event.objects.filter(workspace=ws).exists()
    assert post_generic(DEAL).json()["status"] == "stored"
    assert Event.objects.filter(workspace=ws, message_id=key).count() == 1


def test_a_batch_names_the_reserved_key_and_keeps_the_rest(post_track, tenant):
    body = {
        "batch": [
            {"event": "page_view", "visitor_id": "v-1", "message_id": "ok-1"},
            {"event": "page_view", "visitor_id": "v-1", "message_id": "clarm:stripe:evt_1"},
        ]
    }
    answer = post_track(body).json()
    assert answer["accepted"] == 1 and answer["rejected"][0]["index"] == 1
    assert "reserved" in answer["rejected"][0]["error"]


def test_a_returning_devices_page_views_keep_the_namespaces_apart(post_track, post_generic, tenant):
    """A provider's key sent with a returning device's page view is refused at the edge, before the
    append, and a caller's look-alike key (stored in the callers' namespace) never shadows the webhook."""
    ws = tenant.workspace
    t0 = timezone.now() - datetime.timedelta(minutes=20)
    assert post_track(_pv("dev-1", "m1", at=t0)).json() == ANSWER_ONE
    assert post_track(_identify("dev-1", "m2", "jane@example.com", at=t0 + datetime.timedelta(minutes=1))).json() == (
        ANSWER_ONE
    )
    at = t0 + datetime.timedelta(minutes=2)
    stolen = post_track(_pv("dev-1", server_dedupe_key("generic", "crm-deal-4471-won"), at=at))
    assert stolen.status_code == 400 and "reserved" in stolen.json()["error"]
    assert not DedupeKey.objects.filter(key=server_dedupe_key("generic", "crm-deal-4471-won")).exists()  # not appended
    look_alike = post_track(_pv("dev-1", "generic:crm-deal-4471-won", at=at))
    assert look_alike.json() == ANSWER_ONE
    assert post_generic(DEAL).json()["status"] == "stored"
    real = Event.objects.get(workspace=ws, message_id=server_dedupe_key("generic", "crm-deal-4471-won"))
    assert real.event == "deal_won" and real.customer is not None and real.customer.email == "dana@example.com"
