"""Fixtures for the weekly summary: two workspaces on opposite sides of the date line, and
helpers that write customers and events straight through the ORM."""

import datetime
import itertools
import shutil
import subprocess
from pathlib import Path

import pytest

from identity.models import Customer
from tests.factories import make_workspace
from tracking.models import Event

UTC = datetime.UTC
_message_ids = itertools.count(1)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime.datetime:
    return datetime.datetime(year, month, day, hour, minute, tzinfo=UTC)


@pytest.fixture
def tokyo(db):
    workspace, owner, _, _ = make_workspace("Sakura Florist", timezone_name="Asia/Tokyo")
    workspace.summary_recipients = ["owner@sakura.example", "Shop@Sakura.example"]
    workspace.save(update_fields=["summary_recipients"])
    return type("Tenant", (), {"workspace": workspace, "owner": owner})


@pytest.fixture
def los_angeles(db):
    workspace, owner, _, _ = make_workspace("Pacific Movers", timezone_name="America/Los_Angeles")
    workspace.summary_recipients = ["boss@pacific.example"]
    workspace.save(update_fields=["summary_recipients"])
    return type("Tenant", (), {"workspace": workspace, "owner": owner})


def make_customer(workspace, *, first_seen, rung=0, number=None, name="", email="") -> Customer:
    return Customer.objects.create(
        workspace=workspace,
        first_seen=first_seen,
        last_seen=first_seen,
        rung=rung,
        customer_number=number,
        name=name,
        email=email,
    )


def make_event(
    workspace,
    *,
    at,
    event="page_view",
    source="web",
    customer=None,
    rung=0,
    url=None,
    campaign=None,
    is_bot=False,
) -> Event:
    context: dict = {}
    if url is not None:
        context["url"] = url
    if campaign is not None:
        context["attribution"] = {"utm_source": "newsletter", "utm_campaign": campaign}
    return Event.objects.create(
        workspace=workspace,
        customer=customer,
        event=event,
        source=source,
        occurred_at=at,
        rung=rung,
        message_id=f"m-{next(_message_ids)}",
        context=context,
        is_bot=is_bot,
    )


def document_text(document) -> str:
    """The text WeasyPrint laid out on the pages of a rendered document."""
    from weasyprint.formatting_structure.boxes import TextBox

    return " ".join(
        box.text for page in document.pages for box in page._page_box.descendants() if isinstance(box, TextBox)
    )


def pdf_text(pdf: bytes, tmp_path: Path, *, document) -> str:
    """The PDF's text: read back from the bytes with poppler's pdftotext where it is installed
    (apt-get install poppler-utils), else from the same summary laid out by WeasyPrint."""
    if shutil.which("pdftotext") is None:
        return document_text(document)
    source = tmp_path / "summary.pdf"
    source.write_bytes(pdf)
    return subprocess.run(["pdftotext", "-layout", str(source), "-"], check=True, capture_output=True, text=True).stdout


# The provider stand-ins and connections of the integrations tests, reused for the Inbox and agents.
from tests.agents.helpers import TwilioStandIn  # noqa: E402
from tests.integrations.conftest import provider_api, twilio_a  # noqa: E402, F401


@pytest.fixture
def twilio(settings):
    """A Twilio stand-in on 127.0.0.1 that the SDK talks to (CLARM_TWILIO_API_URL)."""
    api = TwilioStandIn()
    settings.CLARM_TWILIO_API_URL = api.url
    yield api
    api.stop()
