"""Proposed fixes, measured by the benches without touching the app's code (`--prototype`).

They are monkeypatched into the running bench process and their indexes are created in the bench
database for the run, then dropped. docs/benchmarks.md gives the same change as a diff for the app.

Timeline page (`w/<ws>/customers/<pk>/`), two reads that grew with the customer's history:
- `identity.selectors.customer_sources`: `SELECT DISTINCT source … WHERE customer_id = …` read every
  event of the customer. Proposed: one EXISTS probe per source on a (customer, source, occurred_at,
  id) index, which also serves the source-filtered timeline (`?source=`).
- `identity.selectors.customer_rungs_reached`: "first event with rung ≥ N" for N = 0..rung walked
  (or bitmap-scanned) every event before the first match; a customer identified late pays for the
  whole history. Proposed: the first event at exactly each rung (5 LIMIT 1 probes in one UNION ALL
  on a (customer, rung, occurred_at, id) index); the first at rung ≥ N is the earliest of those
  at N..4.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

PROTOTYPE_INDEXES = {
    "bench_proto_event_customer_source": "tracking_event (customer_id, source, occurred_at, id)",
    "bench_proto_event_customer_rung": "tracking_event (customer_id, rung, occurred_at, id)",
}


def customer_sources(*, customer: Any) -> list[str]:
    from django.db.models import Exists, OuterRef

    from identity.models import Customer
    from tracking.models import Event, Source

    flags = (
        Customer.objects.filter(pk=customer.pk)
        .annotate(
            **{f"has_{s}": Exists(Event.objects.filter(customer=OuterRef("pk"), source=s)) for s in Source.values}
        )
        .values(*[f"has_{s}" for s in Source.values])
        .first()
    ) or {}
    return [s for s in Source.values if flags.get(f"has_{s}")]


def customer_rungs_reached(*, workspace: Any, customer: Any) -> dict[int, Any]:
    from identity.selectors import customer_events

    probes = [
        customer_events(workspace=workspace, customer=customer).filter(rung=r).order_by("occurred_at", "id")[:1]
        for r in range(5)
    ]
    firsts = list(probes[0].union(*probes[1:], all=True))
    reached: dict[int, Any] = {}
    for rung in range(customer.rung + 1):
        candidates = [e for e in firsts if e.rung >= rung]
        if candidates:
            reached[rung] = min(candidates, key=lambda e: (e.occurred_at, e.pk))
    return reached


@contextmanager
def original() -> Iterator[None]:
    """The app's own selectors again for a moment (to compare answers)."""
    from identity import selectors

    patched = selectors.customer_sources, selectors.customer_rungs_reached
    selectors.customer_sources, selectors.customer_rungs_reached = _saved[0], _saved[1]
    try:
        yield
    finally:
        selectors.customer_sources, selectors.customer_rungs_reached = patched


_saved: list[Any] = []


@contextmanager
def applied(database_url_psycopg: str) -> Iterator[None]:
    import psycopg

    from identity import selectors

    with psycopg.connect(database_url_psycopg, autocommit=True) as conn:
        for name, spec in PROTOTYPE_INDEXES.items():
            conn.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {spec}")
        conn.execute("ANALYZE tracking_event")
    saved = selectors.customer_sources, selectors.customer_rungs_reached
    _saved[:] = saved
    selectors.customer_sources = customer_sources
    selectors.customer_rungs_reached = customer_rungs_reached
    try:
        yield
    finally:
        selectors.customer_sources, selectors.customer_rungs_reached = saved
        with psycopg.connect(database_url_psycopg, autocommit=True) as conn:
            for name in PROTOTYPE_INDEXES:
                conn.execute(f"DROP INDEX IF EXISTS {name}")
            conn.execute("ANALYZE tracking_event")
