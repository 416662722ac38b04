"""Exports stream in bounded memory and are complete; workspace exports run in the background and
are served only to the workspace's owners and admins."""

import csv
import datetime
import io
import json
import tempfile
import tracemalloc
import zipfile

import pytest
from django.core.files.storage import default_storage
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from agents.models import Message
from identity.models import ExportJob
from identity.privacy import workspace_exports
from identity.privacy.erasure import subject_erase
from identity.privacy.services import dsr_create
from identity.privacy.tasks import workspace_exports_expire
from tests.privacy.conftest import member_client, person_make
from tracking.models import Event

pytestmark = pytest.mark.django_db

SUBJECT_EVENTS = 20_000


def test_subject_export_streams_20k_events_in_bounded_memory(client, tenant):
    person = person_make(tenant.workspace, events_per_device=0)
    # One executemany of plain rows (portable: PostgreSQL and SQLite): seconds faster than building
    # 20,000 model objects in Python.
    start = timezone.now() - datetime.timedelta(days=30)
    adapt = connection.ops.adapt_datetimefield_value
    context = json.dumps({"utm": {"source": "newsletter"}, "country": "DE"})
    values = [
        (
            tenant.workspace.pk,
            person.customer.pk,
            adapt(start + datetime.timedelta(seconds=i)),
            adapt(timezone.now()),
            json.dumps({"url": f"https://acme.test/page/{i}", "title": "About moving " * 4}),
            context,
        )
        for i in range(SUBJECT_EVENTS)
    ]
    with connection.cursor() as cursor:
        cursor.executemany(
            f"""
            INSERT INTO {Event._meta.db_table}
                (workspace_id, customer_id, event, source, occurred_at, received_at, rung, session_id, device_hash,
                 properties, context, is_bot)
            VALUES (%s, %s, 'page_view', 'web', %s, %s, 2, 's', '', %s, %s, false)
            """,
            values,
        )
    del values
    total = Event.objects.filter(customer=person.customer).count()
    dsr = dsr_create(workspace=tenant.workspace, customer=person.customer, kind="export", via="workspace")
    client.force_login(tenant.owner)
    url = reverse(
        "privacy:dsr_workspace_download", kwargs={"ws": tenant.workspace.slug, "request_id": dsr.pk, "fmt": "csv"}
    )

    with tempfile.TemporaryFile() as out:
        tracemalloc.start()
        try:
            response = client.get(url)
            assert response.streaming
            for chunk in response.streaming_content:
                out.write(chunk)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        size = out.tell()
        out.seek(0)
        with zipfile.ZipFile(out) as zf, zf.open("events.csv") as fh:
            rows = list(csv.DictReader(io.TextIOWrapper(fh, encoding="utf-8")))
    assert len(rows) == total == SUBJECT_EVENTS + 2
    views = [r for r in rows if r["event"] == "page_view"]
    assert len(views) == SUBJECT_EVENTS
    assert json.loads(views[-1]["properties"])["url"].endswith(f"/{SUBJECT_EVENTS - 1}")
    # Memory stays bounded: rows are read in chunks and written to the zip as they come.
    assert peak < 20 * 1024 * 1024, f"peak {peak / 1e6:.1f} MB"
    print(f"subject export: {total} events, zip {size / 1e6:.1f} MB, peak traced memory {peak / 1e6:.1f} MB")


def test_workspace_export_job_runs_in_background_with_progress_and_download(
    client, tenant, django_capture_on_commit_callbacks
):
    person = person_make(tenant.workspace)
    Message.objects.create(
        workspace=tenant.workspace,
        customer=person.customer,
        channel="sms",
        direction="in",
        body="Hello",
        status="received",
    )
    client.force_login(tenant.owner)
    ws = tenant.workspace.slug
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("privacy:export_create", kwargs={"ws": ws}), {"format": "json"})
    assert response.status_code == 302
    job = ExportJob.objects.get()
    assert job.status == "done"
    assert job.rows_total == job.rows_done == 8 + 1 + 1  # events + customers + messages
    page = client.get(reverse("identity:privacy", kwargs={"ws": ws})).content.decode()
    assert "10 / 10 rows" in page and "Download" in page
    # The file is not under a public media URL.
    assert not job.file_name.startswith("/") and "media" not in page

    download = client.get(reverse("privacy:export_download", kwargs={"ws": ws, "job_id": job.pk}))
    assert download.status_code == 200
    body = b"".join(download.streaming_content)
    with zipfile.ZipFile(io.BytesIO(body)) as zf:
        assert len(json.loads(zf.read("events.json"))) == 8
        assert json.loads(zf.read("customers.json"))[0]["email"] == person.email
        assert json.loads(zf.read("conversations.json"))[0]["body"] == "Hello"


def test_workspace_export_csv_and_isolation(client, tenant, other_tenant, django_capture_on_commit_callbacks):
    person_make(tenant.workspace)
    person_make(other_tenant.workspace, email="other@example.com", phone="+14155550777", name="Other Person")
    client.force_login(tenant.owner)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("privacy:export_create", kwargs={"ws": tenant.workspace.slug}), {"format": "csv"})
    job = ExportJob.objects.get()
    body = b"".join(
        client.get(
            reverse("privacy:export_download", kwargs={"ws": tenant.workspace.slug, "job_id": job.pk})
        ).streaming_content
    )
    with zipfile.ZipFile(io.BytesIO(body)) as zf:
        customers = zf.read("customers.csv").decode()
    assert "jane.doe@example.org" in customers and "other@example.com" not in customers

    # Another workspace's owner, and a plain member, cannot download it.
    client.force_login(other_tenant.owner)
    for ws in (tenant.workspace.slug, other_tenant.workspace.slug):
        assert client.get(reverse("privacy:export_download", kwargs={"ws": ws, "job_id": job.pk})).status_code == 404
    member_client(client, tenant, "member")
    assert (
        client.get(
            reverse("privacy:export_download", kwargs={"ws": tenant.workspace.slug, "job_id": job.pk})
        ).status_code
        == 403
    )


def test_bad_export_format_is_refused(client, tenant):
    client.force_login(tenant.owner)
    response = client.post(
        reverse("privacy:export_create", kwargs={"ws": tenant.workspace.slug}), {"format": "xlsx"}, follow=True
    )
    assert "Select a valid choice" in response.content.decode()
    assert not ExportJob.objects.exists()


def test_csv_cells_cannot_inject_formulas(client, tenant):
    person = person_make(tenant.workspace, name='=HYPERLINK("http://evil")')
    dsr = dsr_create(workspace=tenant.workspace, customer=person.customer, kind="export", via="workspace")
    client.force_login(tenant.owner)
    body = b"".join(
        client.get(
            reverse(
                "privacy:dsr_workspace_download",
                kwargs={"ws": tenant.workspace.slug, "request_id": dsr.pk, "fmt": "csv"},
            )
        ).streaming_content
    )
    with zipfile.ZipFile(io.BytesIO(body)) as zf:
        row = next(csv.DictReader(io.StringIO(zf.read("profile.csv").decode())))
    assert row["name"].startswith("'=")


def _export_run(client, tenant, django_capture_on_commit_callbacks) -> ExportJob:
    client.force_login(tenant.owner)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("privacy:export_create", kwargs={"ws": tenant.workspace.slug}), {"format": "json"})
    return ExportJob.objects.order_by("-pk")[0]


def test_workspace_export_files_expire_after_seven_days(
    client, tenant, settings, tmp_path, django_capture_on_commit_callbacks
):
    settings.MEDIA_ROOT = tmp_path
    person_make(tenant.workspace)
    old = _export_run(client, tenant, django_capture_on_commit_callbacks)
    recent = _export_run(client, tenant, django_capture_on_commit_callbacks)
    now = timezone.now()
    ExportJob.objects.filter(pk=old.pk).update(finished_at=now - datetime.timedelta(days=7, minutes=1))
    ExportJob.objects.filter(pk=recent.pk).update(finished_at=now - datetime.timedelta(days=6, hours=23))
    assert default_storage.exists(old.file_name) and default_storage.exists(recent.file_name)

    with django_capture_on_commit_callbacks(execute=True):
        assert workspace_exports_expire.delay().get() == 1  # the nightly beat task
    old.refresh_from_db()
    assert old.status == "expired" and old.file_name == ""
    assert len(list(tmp_path.rglob("*.zip"))) == 1 and default_storage.exists(recent.file_name)
    ws = tenant.workspace.slug
    assert client.get(reverse("privacy:export_download", kwargs={"ws": ws, "job_id": old.pk})).status_code == 404
    assert client.get(reverse("privacy:export_download", kwargs={"ws": ws, "job_id": recent.pk})).status_code == 200
    assert "workspace-exports-expire" in settings.CELERY_BEAT_SCHEDULE


def test_export_built_while_a_person_is_erased_is_discarded(
    client, tenant, settings, tmp_path, django_capture_on_commit_callbacks, monkeypatch
):
    settings.MEDIA_ROOT = tmp_path
    person = person_make(tenant.workspace)
    real_entries = workspace_exports.workspace_entries

    def entries_then_erasure(workspace_id, fmt):
        # The export has read its rows when the person is erased; the file is not saved yet.
        entries = list(real_entries(workspace_id, fmt))
        subject_erase(workspace=tenant.workspace, customer=person.customer)
        yield from entries

    monkeypatch.setattr(workspace_exports, "workspace_entries", entries_then_erasure)
    job = _export_run(client, tenant, django_capture_on_commit_callbacks)
    assert job.status == "failed" and "erased" in job.error and job.file_name == ""
    assert list(tmp_path.rglob("*.zip")) == []
