"""The thread of a person the Refund handler handled shows how their sentiment moved from the refund
request on: a server-drawn chart, the same points in a table, and the start, latest and trend in words."""

import datetime
import re

import pytest
from django.utils import timezone

from agents.refund_sentiment import mood_words
from agents.services import agent_setting_save
from agents.tasks import agents_tick
from integrations.services import connection_save
from tests.agents.helpers import inbound, person
from tests.factories import make_workspace
from tests.integrations.conftest import TWILIO_SID, TWILIO_TOKEN

pytestmark = pytest.mark.django_db


@pytest.fixture
def movers(db):
    workspace, owner, _, _ = make_workspace("Hudson Movers", timezone_name="America/New_York")
    connection_save(
        workspace=workspace,
        provider="twilio",
        values={"account_sid": TWILIO_SID, "auth_token": TWILIO_TOKEN, "sms_from": "+14155550100"},
        actor=owner,
    )
    agent_setting_save(workspace=workspace, agent="refund_handler", enabled=True)
    return workspace, owner


def tick(capture) -> None:
    with capture(execute=True):
        agents_tick()


def mood_section(html: str) -> str:
    assert html.count("data-refund-mood=") == 1
    return html.split("data-refund-mood=", 1)[1].split("</section>", 1)[0]


def test_the_refund_thread_shows_the_persons_sentiment_from_the_request_on(
    movers, twilio, client, django_capture_on_commit_callbacks
):
    workspace, owner = movers
    dana = person(workspace, email="dana@example.com")
    now = timezone.now()
    hours = datetime.timedelta(hours=1)
    inbound(dana, "Hi, what time do you arrive tomorrow?", at=now - 5 * hours)  # before the request: not a point
    asked = inbound(dana, "The movers scratched my floor, this is awful. I want my money back.", at=now - 4 * hours)
    tick(django_capture_on_commit_callbacks)
    assert len(twilio.texts()) == 1  # the handler asked for the reason
    chased = inbound(dana, "Nobody called me back yet, this is ridiculous.", at=now - 2 * hours)
    thanked = inbound(dana, "Thanks, the money arrived. You were great, really appreciate it!", at=now - hours)
    # An email written before the chase but stored last: the thread follows when it was sent.
    late = inbound(dana, "Also the couch has a tear, very disappointed.", channel="email", at=now - 3 * hours)
    tick(django_capture_on_commit_callbacks)
    client.force_login(owner)
    html = client.get(f"/w/{workspace.slug}/inbox/{dana.pk}/").content.decode()
    section = mood_section(html)
    assert section.startswith('"improving"')
    assert (
        '<p id="mood-words" data-mood-words>From negative (-0.40) to positive (0.88) over 4 messages: improving.</p>'
        in section
    )
    assert re.findall(r'data-mood-point="(\d+)"', section) == [str(m.pk) for m in (asked, late, chased, thanked)]
    circles = re.findall(r'<circle class="pt-(\w+)" cx="([\d.]+)" cy="([\d.]+)" r="5" data-score="([-\d.]+)"', section)
    assert [(c[0], c[3]) for c in circles] == [
        ("negative", "-0.40"),
        ("negative", "-0.53"),
        ("negative", "-0.36"),
        ("positive", "0.88"),
    ]
    xs = [float(c[1]) for c in circles]
    ys = [float(c[2]) for c in circles]
    assert xs == sorted(xs) and len(set(xs)) == 4
    assert ys[3] < ys[2] < ys[0] < ys[1]  # SVG y grows downwards: the happiest point is highest
    assert '<td>positive (0.88)</td><td class="excerpt">Thanks, the money arrived.' in section
    assert 'role="img" aria-labelledby="mood-chart-title mood-words"' in section


def test_no_chart_for_a_person_the_refund_handler_never_handled(
    movers, twilio, client, django_capture_on_commit_callbacks
):
    workspace, owner = movers
    sam = person(workspace, email="sam@example.com", phone="+14155550199", visitor="dev-sam")
    inbound(sam, "This is awful, the truck is late!")
    tick(django_capture_on_commit_callbacks)
    client.force_login(owner)
    html = client.get(f"/w/{workspace.slug}/inbox/{sam.pk}/").content.decode()
    assert 'data-sentiment="negative"' in html and "data-refund-mood" not in html


@pytest.mark.parametrize(
    ("scores", "words"),
    [
        ([-0.71], "One message since the refund request: negative (-0.71)."),
        ([-0.71, 0.1, 0.62], "From negative (-0.71) to positive (0.62) over 3 messages: improving."),
        ([0.5, -0.004], "From positive (0.50) to neutral (0.00) over 2 messages: worsening."),
        ([-0.3, -0.25], "From negative (-0.30) to negative (-0.25) over 2 messages: about the same."),
    ],
)
def test_the_words_name_the_start_the_latest_and_the_trend(scores, words):
    assert mood_words(scores)[0] == words
