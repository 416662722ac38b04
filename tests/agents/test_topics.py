"""FAQ topics: inbound messages tagged with the workspace's topics, counted per week with the change."""

import datetime
import re

from django.utils import timezone

from agents.models import Message
from agents.services import agent_setting_save
from agents.tasks import agents_tick
from agents.topics import topics_match, topics_parse
from tests.agents.helpers import inbound, person

TOPICS = "Pricing: price, how much, quote\nPiano: piano, grand piano\nStorage: storage unit"


def test_topics_match_whole_words_only():
    topics = topics_parse(TOPICS + "\nbad line without colon\nEmpty:")
    assert list(topics) == ["Pricing", "Piano", "Storage"]
    assert topics_match("How much to move a GRAND PIANO?", topics) == ["Pricing", "Piano"]
    assert topics_match("We have a pianola and a quoted price list", topics) == ["Pricing"]  # "price", not "quoted"
    assert topics_match("Can you come Tuesday?", topics) == []


def test_inbound_messages_are_tagged_and_counted_per_week(tenant, client, django_capture_on_commit_callbacks):
    agent_setting_save(workspace=tenant.workspace, agent="faq_topics", enabled=True, config={"topics": TOPICS})
    customer = person(tenant.workspace)
    now = timezone.now()
    for body in ("How much for a piano?", "Do you move a grand piano upstairs?", "Is Tuesday free?"):
        inbound(customer, body)
    with django_capture_on_commit_callbacks(execute=True):
        agents_tick()  # tags what arrived since the last run
    tagged = dict(Message.objects.values_list("body", "topics"))
    assert tagged["How much for a piano?"] == ["Pricing", "Piano"]
    assert tagged["Do you move a grand piano upstairs?"] == ["Piano"]
    assert tagged["Is Tuesday free?"] == []
    # Two messages of the week before, tagged back then.
    for body, topics in (("What's the price?", ["Pricing"]), ("Quote for a storage unit?", ["Pricing", "Storage"])):
        earlier = inbound(customer, body)
        Message.objects.filter(pk=earlier.pk).update(topics=topics, created_at=now - datetime.timedelta(days=9))
    client.force_login(tenant.owner)
    html = client.get(f"/w/{tenant.workspace.slug}/inbox/").content.decode()
    rows = re.findall(r'<tr data-topic="([^"]+)"><td>[^<]+</td><td>(\d+)</td><td>(\d+)</td><td>([+-]?\d+)</td>', html)
    assert rows == [("Piano", "2", "0", "+2"), ("Pricing", "1", "2", "-1"), ("Storage", "0", "1", "-1")]
