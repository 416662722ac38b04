"""Slack “needs human eyes”: an agent handing a thread to a person tells every Slack destination of
the workspace (no rule needed), once per hand-off, with a link to the thread; nothing crosses workspaces."""

from agents.services import agent_setting_save
from agents.tasks import agents_tick
from integrations.destinations.models import DeliveryKind, DestinationDelivery
from tests.agents.helpers import inbound, person
from tests.destinations.conftest import Reply
from tests.destinations.test_providers import make


def test_a_hand_off_reaches_the_workspaces_slack_once_with_the_thread(tenant, other_tenant, provider, run_on_commit):
    provider.default = Reply(200, b"ok")
    make(tenant, "slack", {"webhook_url": provider.url + "/services/T1/B1/acme"}, [{"on": "rung_reached", "rung": 4}])
    make(tenant, "webhook", {"url": provider.url + "/hook"}, [{"on": "rung_reached", "rung": 4}])
    make(
        other_tenant,
        "slack",
        {"webhook_url": provider.url + "/services/T2/B2/other"},
        [{"on": "rung_reached", "rung": 4}],
    )
    agent_setting_save(workspace=tenant.workspace, agent="handoff", enabled=True)
    asking = person(tenant.workspace, email="dana@example.com")
    inbound(asking, "Can I talk to a real person please?")
    run_on_commit(agents_tick)
    (seen,) = [r for r in provider.requests if r.path.startswith("/services/")]
    assert seen.path == "/services/T1/B1/acme"
    body = seen.json()
    assert body["text"] == "dana@example.com needs human eyes: asked for a person"
    assert f"/w/{tenant.workspace.slug}/inbox/{asking.pk}/" in str(body["blocks"])
    assert not [r for r in provider.requests if r.path == "/hook"]  # webhooks only with a rule
    # asked again while the thread is still marked: no second Slack message
    inbound(asking, "Hello?? a real person")
    run_on_commit(agents_tick)
    assert len([r for r in provider.requests if r.path.startswith("/services/")]) == 1
    assert DestinationDelivery.objects.filter(kind=DeliveryKind.NEEDS_HUMAN).count() == 1
    assert not DestinationDelivery.objects.filter(workspace_id=other_tenant.workspace.pk).exists()
