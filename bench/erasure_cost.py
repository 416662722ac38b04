"""What an erasure and a retention purge cost, and how the erasure grows with the workspace's
unstitched (bot-flagged, pre-consent) events, which it reads once to find those carrying the person.

Creates a throwaway PostgreSQL database (clarm_bench_erasure), then:
- "erase": `subject_erase` of a person with 1,000 events, 2 devices, an email and a phone, in a
  workspace holding 0 / 10,000 / 50,000 unstitched events (a few of them the person's), commit
  included; median of RUNS runs on fresh rows;
- "retention": one `retention_purge` of a workspace where N people have nothing left inside the
  window (5 old events each), per person.
Usage: .venv/bin/python bench/erasure_cost.py
"""

import os
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.harness import fresh_database  # noqa: E402

os.environ["DATABASE_URL"] = os.environ.get("ERASURE_BENCH_DATABASE_URL") or fresh_database("clarm_bench_erasure")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clarm.settings.base")

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.utils import timezone  # noqa: E402

from identity.models import Customer, Identifier  # noqa: E402
from identity.privacy.erasure import subject_erase  # noqa: E402
from identity.privacy.retention import months_before, retention_purge  # noqa: E402
from tracking.models import Event  # noqa: E402
from tracking.normalize import claims_from_values  # noqa: E402
from workspaces.models import Workspace  # noqa: E402

RUNS = 3


def person(ws: Workspace, tag: str, n_events: int, at) -> Customer:
    email, phone = f"{tag}@example.org", f"+1415{abs(hash(tag)) % 10_000_000:07d}"
    customer = Customer.objects.create(workspace=ws, email=email, phone=phone, rung=3, first_seen=at, last_seen=at)
    claims = claims_from_values(ws, email=email, phone=phone, device=f"dev-{tag}-1").claims
    claims += claims_from_values(ws, device=f"dev-{tag}-2").claims
    Identifier.objects.bulk_create(
        Identifier(workspace=ws, customer=customer, kind=c.kind, value_hash=c.value_hash, masked=c.masked)
        for c in claims
    )
    device = next(c.value_hash for c in claims if c.kind == "device")
    Event.objects.bulk_create(
        (
            Event(
                workspace=ws,
                customer=customer,
                event="page_view",
                occurred_at=at + timedelta(seconds=i),
                device_hash=device,
                properties={"path": f"/p/{i % 50}"},
                context={"url": f"https://example.com/p/{i % 50}"},
            )
            for i in range(n_events)
        ),
        batch_size=2000,
    )
    return customer


def unstitched(ws: Workspace, n: int, tag: str, at) -> None:
    rows = (
        Event(
            workspace=ws,
            event="page_view",
            occurred_at=at,
            is_bot=True,
            properties={"path": "/", **({"email": f"{tag}@example.org"} if i % 5000 == 0 else {})},
            context={"url": "https://example.com/", "ua": {"family": "Googlebot"}},
        )
        for i in range(n)
    )
    Event.objects.bulk_create(rows, batch_size=5000)


def bench_erase(n_unstitched: int) -> float:
    times = []
    for run in range(RUNS):
        ws = Workspace.objects.create(name=f"erase {n_unstitched} {run}", slug=f"erase-{n_unstitched}-{run}")
        now = timezone.now()
        customer = person(ws, f"p{run}", 1000, now - timedelta(days=3))
        unstitched(ws, n_unstitched, f"p{run}", now)
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE tracking_event")
        start = time.perf_counter()
        outcome = subject_erase(workspace=ws, customer=customer)
        times.append((time.perf_counter() - start) * 1000)
        assert outcome["events"] == 1000 + (n_unstitched + 4999) // 5000, outcome
    return statistics.median(times)


def bench_retention(n_people: int) -> tuple[float, float]:
    ws = Workspace.objects.create(name=f"retention {n_people}", slug=f"retention-{n_people}")
    now = timezone.now()
    old = months_before(now, ws.retention_months + 1)
    for i in range(n_people):
        person(ws, f"r{i}", 5, old)
    Customer.objects.filter(workspace=ws).update(created_at=old)
    start = time.perf_counter()
    run = retention_purge(workspace=ws, now=now)
    total = (time.perf_counter() - start) * 1000
    assert run.customers_deleted == n_people, run.customers_deleted
    return total, total / n_people


def main() -> None:
    call_command("migrate", verbosity=0)
    print("| unstitched events in the workspace | erase ms (median) |")
    print("|---|---|")
    for n in (0, 10_000, 50_000):
        print(f"| {n:,} | {bench_erase(n):.0f} |")
    print()
    print("| people with nothing left | retention_purge ms | ms per person |")
    print("|---|---|---|")
    for n in (100, 300):
        total, each = bench_retention(n)
        print(f"| {n} | {total:.0f} | {each:.1f} |")


if __name__ == "__main__":
    main()
