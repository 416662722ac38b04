"""The customer page lists the person's traits: the Qualify agent's answers and the traits of identify
calls, with readable labels, escaped, the first few at once and the rest behind "Show all"; only
members of the person's workspace see them."""

import re

import pytest
from django.urls import reverse
from django.utils import timezone

from agents.services import agent_setting_save
from agents.tasks import agents_tick
from identity.customer_header import TRAITS_SHOWN
from identity.models import Customer
from tests.agents.helpers import inbound, person
from tests.factories import make_workspace
from tracking.inputs import EventInput
from tracking.services import events_ingest

pytestmark = pytest.mark.django_db


def page(client, customer) -> str:
    response = client.get(reverse("identity:customer", kwargs={"ws": customer.workspace.slug, "pk": customer.pk}))
    assert response.status_code == 200
    return response.content.decode()


def traits_card(html: str) -> str:
    return html.split('id="traits-title"', 1)[1].split("</section>", 1)[0]


def identify(workspace, email: str, traits: dict) -> None:
    events_ingest(
        workspace=workspace,
        events=[EventInput(event="identify", source="web", email=email, traits=traits, occurred_at=timezone.now())],
    )


def test_a_qualified_persons_answers_are_on_their_page(client, django_capture_on_commit_callbacks):
    workspace, owner, _, _ = make_workspace("Acme Movers")
    agent_setting_save(
        workspace=workspace,
        agent="qualify",
        enabled=True,
        config={"questions": "move_size: How many bedrooms?\nmove_date: Which day?"},
    )
    dana = person(workspace, email="dana@example.com", phone="")
    for answer in ("Three bedrooms", "June 14"):
        with django_capture_on_commit_callbacks(execute=True):
            agents_tick()
        inbound(dana, answer, channel="email")
    with django_capture_on_commit_callbacks(execute=True):
        agents_tick()
    client.force_login(owner)
    card = traits_card(page(client, dana))
    rows = re.findall(r'<dt title="(\w+)">([^<]+)</dt><dd data-trait="\w+">([^<]+)</dd>', card)
    assert rows == [  # by label
        ("move_date", "Move date", "June 14"),
        ("move_size", "Move size", "Three bedrooms"),
        ("ready_to_book", "Ready to book", "Yes"),
    ]
    assert "Show all" not in card


def test_trait_values_are_escaped_and_long_lists_fold_behind_show_all(client):
    workspace, owner, _, _ = make_workspace("Acme Movers")
    dana = person(workspace, email="dana@example.com")
    many = {f"field_{n:02d}": n for n in range(12)}
    identify(
        workspace,
        "dana@example.com",
        {"note": '<script>alert("x")</script><b>bold</b>', "planTier": {"name": "Pro", "seats": 3}, **many},
    )
    client.force_login(owner)
    html = page(client, dana)
    card = traits_card(html)
    assert "<script>alert" not in html and "<b>bold</b>" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&lt;b&gt;bold&lt;/b&gt;" in card
    assert '<dt title="planTier">Plan tier</dt><dd data-trait="planTier">{&quot;name&quot;: &quot;Pro&quot;' in card
    shown, more = card.split("<details", 1)
    assert shown.count("<dt ") == TRAITS_SHOWN
    assert "<summary>Show all 14 traits</summary>" in more and more.count("<dt ") == 14 - TRAITS_SHOWN
    assert 'data-trait="field_11">11</dd>' in more


def test_another_workspaces_member_cannot_see_the_traits(client):
    workspace, _, _, _ = make_workspace("Acme Movers")
    other, intruder, _, _ = make_workspace("Rival Movers")
    dana = person(workspace, email="dana@example.com")
    identify(workspace, "dana@example.com", {"budget": "secret 5000"})
    before = Customer.objects.get(pk=dana.pk).traits
    client.force_login(intruder)
    for slug in (workspace.slug, other.slug):
        response = client.get(reverse("identity:customer", kwargs={"ws": slug, "pk": dana.pk}))
        assert response.status_code == 404
        assert "secret 5000" not in response.content.decode()
    assert Customer.objects.get(pk=dana.pk).traits == before == {"budget": "secret 5000"}
