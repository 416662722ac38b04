"""How long a merge takes to move a customer's events, against a bare UPDATE of the same rows.

Creates a throwaway PostgreSQL database (clarm_bench_identity), then for 1,000 and 10,000 events:
- "resolve": one event carrying the identifiers of two customers through the pipeline
  (`events_ingest_stitched` inside a transaction: the edge's append, then the stitcher's batch of
  one: lookup + locks, re-read, the merge with its UPDATE ... RETURNING of events and identifiers,
  the merge log with every moved id, the customer updates, the event row), commit included;
- "merge": `customers_merge_locked` alone, commit included;
- "bare": `UPDATE tracking_event SET customer_id = %s WHERE customer_id = %s`, commit included.
Each figure is the median of several runs on fresh rows. Usage: .venv/bin/python bench/stitch_move.py
"""

import os
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.harness import fresh_database  # noqa: E402

os.environ["DATABASE_URL"] = os.environ.get("STITCH_BENCH_DATABASE_URL") or fresh_database("clarm_bench_identity")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clarm.settings.base")

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection, transaction  # noqa: E402

from identity.models import Customer, CustomerStatus, Identifier  # noqa: E402
from identity.services.merges import customers_lock, customers_merge_locked  # noqa: E402
from identity.stitching.stitcher import events_ingest_stitched  # noqa: E402
from tracking.inputs import EventInput  # noqa: E402
from tracking.models import Event  # noqa: E402
from tracking.normalize import claims_from_values  # noqa: E402
from workspaces.models import Workspace  # noqa: E402

T = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
RUNS = 7


def two_customers(ws: Workspace, n_events: int, tag: str) -> tuple[Customer, Customer]:
    """Customer A known by email; customer B (a device) with n_events events."""
    a = Customer.objects.create(workspace=ws, rung=2, email=f"{tag}@example.com", first_seen=T, last_seen=T)
    b = Customer.objects.create(workspace=ws, first_seen=T, last_seen=T)
    for claim, owner in (
        (claims_from_values(ws, email=f"{tag}@example.com").claims[0], a),
        (claims_from_values(ws, device=f"dev-{tag}").claims[0], b),
    ):
        Identifier.objects.create(
            workspace=ws, customer=owner, kind=claim.kind, value_hash=claim.value_hash, masked=claim.masked
        )
    Event.objects.bulk_create(
        [
            Event(
                workspace=ws,
                customer=b,
                event="page_view",
                occurred_at=T + timedelta(seconds=i),
                device_hash="x" * 64,
                properties={"path": f"/p/{i % 50}"},
                context={"url": f"https://example.com/p/{i % 50}"},
            )
            for i in range(n_events)
        ],
        batch_size=2000,
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE tracking_event")
    return a, b


def timed(fn: Callable[[], None], work: list[float]) -> float:
    """Total ms with the commit; the ms before the commit go to `work`."""
    start = time.perf_counter()
    with transaction.atomic():
        fn()
        work.append((time.perf_counter() - start) * 1000)
    return (time.perf_counter() - start) * 1000


def main() -> None:
    call_command("migrate", verbosity=0)
    ws = Workspace.objects.create(name="Bench", slug=f"bench-{int(time.time())}")
    print(f"PostgreSQL {getattr(connection, 'pg_version', '?')}, median of {RUNS} runs")
    print(f"{'events':>7} | {'resolve ms':>10} | {'merge ms':>8} | {'bare UPDATE ms':>14} | resolve/bare | merge/bare")
    for n in (1_000, 10_000):
        resolve_ms, merge_ms, bare_ms = [], [], []
        resolve_work: list[float] = []
        merge_work: list[float] = []
        bare_work: list[float] = []
        for run in range(RUNS):
            tag = f"r{n}-{run}"
            # resolve: an event that carries both customers' identifiers.
            _, merged = two_customers(ws, n, tag + "r")
            both = EventInput(event="identify", occurred_at=T, visitor_id=f"dev-{tag}r", email=f"{tag}r@example.com")

            def resolve(both: EventInput = both) -> None:
                assert events_ingest_stitched(workspace=ws, events=[both]).accepted == 1

            resolve_ms.append(timed(resolve, resolve_work))
            assert Customer.objects.get(pk=merged.pk).status == CustomerStatus.MERGED

            a, b = two_customers(ws, n, tag + "m")

            def merge(a: Customer = a, b: Customer = b, n: int = n) -> None:
                locked = customers_lock(workspace=ws, ids=[a.pk, b.pk])
                log = customers_merge_locked(survivor=locked[a.pk], merged=locked[b.pk], reason="bench")
                assert len(log.moved["event_ids"]) == n

            merge_ms.append(timed(merge, merge_work))

            c, d = two_customers(ws, n, tag + "b")

            def bare(c: Customer = c, d: Customer = d, n: int = n) -> None:
                with connection.cursor() as cursor:
                    cursor.execute("UPDATE tracking_event SET customer_id = %s WHERE customer_id = %s", [c.pk, d.pk])
                    assert cursor.rowcount == n

            bare_ms.append(timed(bare, bare_work))
        for label, figures in (
            ("with commit", (resolve_ms, merge_ms, bare_ms)),
            ("before commit", (resolve_work, merge_work, bare_work)),
        ):
            r, m, b_ = (statistics.median(x) for x in figures)
            print(f"{n:>7} | {r:>10.1f} | {m:>8.1f} | {b_:>14.1f} | {r / b_:>12.2f} | {m / b_:>10.2f} | {label}")


if __name__ == "__main__":
    main()
