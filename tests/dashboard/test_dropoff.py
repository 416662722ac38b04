"""Drop-off on the dashboard: of the people first seen in the period who have not reached rung 4,
the last thing each did (page, message or step) and their rung, kept by the rollup processor."""

import datetime
import re

import pytest
from django.utils import timezone

from identity.models import DailyCount, PersonFacts, RollupDimension
from identity.rollups.dimensions import last_step, step_parts
from identity.rollups.processor import rollups_rebuild
from tests.dashboard.test_dashboard import counts, ingest, page, story, url
from tests.ui.conftest import client_for
from tracking.services import EventInput

pytestmark = pytest.mark.django_db


def text_of(response) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.content.decode()))


def dropoff_rows(response) -> list[str]:
    section = response.content.decode().split('id="dropoff"', 1)[1].split("</section>", 1)[0]
    rows = re.findall(r"<tr>(.*?)</tr>", section.split("<tbody>", 1)[1], re.S)
    return [re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", row)).strip() for row in rows]


def test_last_step_in_words_without_the_detail():
    assert last_step(event="page_view", source="web", properties={}, context={"url": "https://a.test/pricing?x=1"}) == (
        "page:/pricing"
    )
    # An email subject (which may name the person) and an amount are left out.
    assert last_step(event="email_opened", source="email", properties={"subject": "Hi Dana"}, context={}) == (
        "message:Opens email"
    )
    assert last_step(event="message_in", source="channel", properties={"channel": "whatsapp"}, context={}) == (
        "message:WhatsApp message in"
    )
    step = last_step(event="form_submit", source="web", properties={"form": "quote", "email": "x@y.z"}, context={})
    assert step == "step:Submits quote form"
    assert step_parts(step) == ("Step", "Submits quote form")
    assert step_parts("page:/") == ("Page", "/")


def test_dashboard_says_where_people_who_did_not_convert_stopped(tenant, django_capture_on_commit_callbacks):
    ws = tenant.workspace
    story(ws, django_capture_on_commit_callbacks)
    # Ana paid (rung 4): not a drop-off. Ben only viewed / (rung 0); Cy left his email (rung 2).
    assert counts(ws, RollupDimension.DROPOFF) == {"0|page:/": 1, "2|step:Submits a form": 1}
    response = client_for(ws).get(url(ws))
    assert response.status_code == 200
    assert "2 have not reached rung 4" in text_of(response)
    assert sorted(dropoff_rows(response)) == ["/ Page 0 device 1 50.0%", "Submits a form Step 2 email 1 50.0%"]


def test_a_later_event_moves_the_person_and_a_conversion_removes_them(tenant, django_capture_on_commit_callbacks):
    ws = tenant.workspace
    story(ws, django_capture_on_commit_callbacks)
    later = timezone.now()
    ingest(ws, [page("ben", "https://acme.test/pricing", later)], django_capture_on_commit_callbacks)
    assert counts(ws, RollupDimension.DROPOFF) == {"0|page:/pricing": 1, "2|step:Submits a form": 1}
    ingest(
        ws,
        [EventInput(event="identify", source="web", occurred_at=later, visitor_id="cy", user_id="acct-cy")],
        django_capture_on_commit_callbacks,
    )
    assert counts(ws, RollupDimension.DROPOFF) == {"0|page:/pricing": 1}
    assert "1 have not reached rung 4" in text_of(client_for(ws).get(url(ws)))


def test_rebuild_restores_the_dropoff_counts(tenant, django_capture_on_commit_callbacks):
    ws = tenant.workspace
    story(ws, django_capture_on_commit_callbacks)
    before = counts(ws, RollupDimension.DROPOFF)
    DailyCount.objects.filter(workspace=ws, dimension=RollupDimension.DROPOFF).delete()
    PersonFacts.objects.filter(workspace=ws).update(last_step="")
    today = timezone.now().date()
    rollups_rebuild(
        workspace=ws, start=today - datetime.timedelta(days=2), end=today + datetime.timedelta(days=1), facts=True
    )
    assert counts(ws, RollupDimension.DROPOFF) == before


def test_other_workspace_sees_no_dropoff(tenant, other_tenant, django_capture_on_commit_callbacks):
    story(tenant.workspace, django_capture_on_commit_callbacks)
    outsider = client_for(other_tenant.workspace)
    assert outsider.get(url(tenant.workspace)).status_code == 404
    theirs = outsider.get(url(other_tenant.workspace))
    assert "0 have not reached rung 4" in text_of(theirs)
    assert "Submits a form" not in theirs.content.decode()
    assert not DailyCount.objects.filter(workspace=other_tenant.workspace).exists()
