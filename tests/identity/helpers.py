"""A tiny stand-in for the ingest: what every caller of event_identity_resolve does."""

import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

from django.db import connection, transaction

from identity.models import Customer, CustomerStatus, Identifier
from identity.normalize import claims_from_values
from identity.stitching import LadderSignals, event_identity_resolve, ladder_context_value
from tracking.models import Event
from workspaces.models import Workspace

# Every stored column of a customer: an undo must restore all of them, whatever the service lists.
CUSTOMER_COLUMNS = [f.attname for f in Customer._meta.concrete_fields]


def ingest(
    workspace: Workspace,
    *,
    at: datetime,
    device: object = None,
    email: object = None,
    phone: object = None,
    user_id: object = None,
    external: dict[str, object] | None = None,
    signals: LadderSignals | None = None,
    traits: dict[str, Any] | None = None,
    source: str = "web",
    event: str = "page_view",
) -> tuple[Any, Any]:
    """atomic → resolve → Event.objects.create(customer_id, rung), as the ingest does. Returns the
    Resolution and the Event (None when a suppressed web event was not stored); typed Any so tests
    can use `customer_id` directly."""
    signals = signals or LadderSignals()
    claims = claims_from_values(workspace, device=device, email=email, phone=phone, user_id=user_id, external=external)
    with transaction.atomic():
        resolution = event_identity_resolve(
            workspace=workspace, claims=claims, signals=signals, traits=traits or {}, occurred_at=at
        )
        if resolution.suppressed and source in ("web", "pixel", "ad"):
            return resolution, None
        devices = claims.of_kind("device")
        ladder = ladder_context_value(signals)
        created = Event.objects.create(
            workspace=workspace,
            customer_id=resolution.customer_id,
            event=event,
            source=source,
            occurred_at=at,
            rung=resolution.rung,
            device_hash=devices[0].value_hash if devices else "",
            context={"ladder": ladder, "notes": claims.notes} if ladder else {"notes": claims.notes},
        )
    return resolution, created


def state(workspace: Workspace) -> dict[str, Any]:
    """Everything stitching may change in a workspace, for before/after comparisons."""
    return {
        "live_customers": sorted(
            Customer.objects.filter(workspace=workspace, status=CustomerStatus.LIVE).values(*CUSTOMER_COLUMNS),
            key=lambda c: c["id"],
        ),
        "identifiers": sorted(
            Identifier.objects.filter(workspace=workspace).values_list("id", "customer_id", "kind", "value_hash")
        ),
        "events": sorted(Event.objects.filter(workspace=workspace).values_list("id", "customer_id", "rung")),
    }


def customer_of(workspace: Workspace, **values: object) -> Customer:
    """The customer owning an identifier given in clear (e.g. email="a@b.co")."""
    claims = claims_from_values(workspace, **values)  # type: ignore[arg-type]
    (claim,) = claims.claims
    return Identifier.objects.get(workspace=workspace, kind=claim.kind, value_hash=claim.value_hash).customer


def run_in_threads(count: int, target: Callable[[int], None], *, timeout: float = 120) -> list[BaseException]:
    """Run target(0..count-1) in threads released together (a barrier), each closing its own
    database connection; returns what they raised."""
    barrier = threading.Barrier(count)
    errors: list[BaseException] = []

    def run(n: int) -> None:
        try:
            barrier.wait()
            target(n)
        except BaseException as exc:  # reported to the main thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(n,)) for n in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=timeout)
    assert not any(t.is_alive() for t in threads), "a thread hung"
    return errors
