"""The Agents settings page: owners and admins switch agents on and set timing and templates."""

from django.contrib.auth.models import User

from agents.models import AgentSetting, ChatWidget
from workspaces.models import Membership, Role


def url(tenant) -> str:
    return f"/w/{tenant.workspace.slug}/settings/agents/"


def test_owner_switches_an_agent_on_with_its_timing_and_template(tenant, client):
    client.force_login(tenant.owner)
    page = client.get(url(tenant)).content.decode()
    assert 'data-agent="follow_up"' in page and 'data-agent="review_ask"' in page and 'data-agent="handoff"' in page
    response = client.post(
        url(tenant),
        {"agent": "follow_up", "enabled": "on", "hours_before": "2", "template": "See you {when}, {first_name}!"},
        follow=True,
    )
    assert "Follow-up agent saved." in response.content.decode()
    setting = AgentSetting.objects.get(workspace=tenant.workspace, agent="follow_up")
    assert setting.enabled and setting.config == {"hours_before": 2, "template": "See you {when}, {first_name}!"}
    assert "See you {when}, {first_name}!" in client.get(url(tenant)).content.decode()


def test_bad_settings_say_what_is_wrong_and_change_nothing(tenant, client):
    client.force_login(tenant.owner)
    response = client.post(url(tenant), {"agent": "follow_up", "enabled": "on", "hours_before": "soon"}, follow=True)
    assert "Not saved: hours_before must be a whole number." in response.content.decode()
    assert not AgentSetting.objects.exists()


def test_members_cannot_change_agents_and_other_workspaces_cannot_see_them(tenant, other_tenant, client):
    member = User.objects.create_user("member", "member@example.com", "a long password 1")
    Membership.objects.create(workspace=tenant.workspace, user=member, role=Role.MEMBER)
    client.force_login(member)
    assert client.post(url(tenant), {"agent": "handoff", "enabled": "on"}).status_code == 403
    client.force_login(other_tenant.owner)
    assert client.get(url(tenant)).status_code == 404
    assert client.post(url(tenant), {"agent": "handoff", "enabled": "on"}).status_code == 404
    assert not AgentSetting.objects.exists()


def test_owner_switches_the_chat_widget_on_with_colour_and_greeting(tenant, client):
    client.force_login(tenant.owner)
    assert 'data-form="widget"' in client.get(url(tenant)).content.decode()
    response = client.post(
        url(tenant), {"form": "widget", "enabled": "on", "color": "#AA3300", "greeting": "Hello there!"}, follow=True
    )
    assert "Chat widget saved." in response.content.decode()
    widget = ChatWidget.objects.get(workspace=tenant.workspace)
    assert (widget.enabled, widget.color, widget.greeting) == (True, "#aa3300", "Hello there!")
    answer = client.get(f"/api/widget?key={tenant.write_key}").json()
    assert answer["enabled"] and answer["color"] == "#aa3300"


def test_bad_widget_settings_say_what_is_wrong_and_change_nothing(tenant, client):
    client.force_login(tenant.owner)
    response = client.post(
        url(tenant), {"form": "widget", "enabled": "on", "color": "red", "greeting": "Hi"}, follow=True
    )
    assert "Chat widget not saved: The colour must be a hex colour like #1a4fd6." in response.content.decode()
    response = client.post(url(tenant), {"form": "widget", "color": "#112233", "greeting": "  "}, follow=True)
    assert "The greeting is empty." in response.content.decode()
    assert not ChatWidget.objects.exists()


def test_members_and_other_workspaces_cannot_switch_the_widget(tenant, other_tenant, client):
    member = User.objects.create_user("member", "member@example.com", "a long password 1")
    Membership.objects.create(workspace=tenant.workspace, user=member, role=Role.MEMBER)
    form = {"form": "widget", "enabled": "on", "color": "#112233", "greeting": "Hi"}
    client.force_login(member)
    assert client.post(url(tenant), form).status_code == 403
    client.force_login(other_tenant.owner)
    assert client.post(url(tenant), form).status_code == 404
    assert not ChatWidget.objects.exists()
    assert client.get(f"/api/widget?key={tenant.write_key}").json() == {"enabled": False}
