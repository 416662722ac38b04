"""Test helpers for identity: send one event through the real pipeline (edge + stitcher) and read
back what it did; snapshots of a workspace; threads released together."""

import itertools
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connection

from identity.models import Customer, CustomerStatus, Identifier
from identity.stitching.stitcher import events_ingest_stitched
from tracking.inputs import EventInput, IngestResult
from tracking.models import Event
from tracking.normalize import claims_from_values
from tracking.purposes import Purpose
from workspaces.models import Workspace

# Every stored column of a customer: an undo must restore all of them, whatever the service lists.
CUSTOMER_COLUMNS = [f.attname for f in Customer._meta.concrete_fields]
_MESSAGE_IDS = itertools.count(1)


@dataclass(frozen=True)
class Sent:
    """What one event sent through the pipeline did, read back from the database."""

    result: IngestResult  # the edge's answer
    event: Event | None  # the stored event (None: refused by the person's preferences, not stored)
    customer_id: Any  # the stored event's customer (an int, or None); Any so tests filter by it directly
    rung: int  # the stored event's rung (0 when not stored)
    created: bool  # its customer did not exist (live) before the event
    merged_customer_ids: tuple[int, ...]  # customers live before, merged into its customer by it
    suppressed: bool  # not stored, or stored on a customer who opted out of analytics


def send(
    workspace: Workspace,
    *,
    at: datetime,
    device: str | None = None,
    session: str | None = None,
    email: str | None = None,
    phone: str | None = None,
    user_id: str | None = None,
    external: dict[str, Any] | None = None,
    traits: dict[str, Any] | None = None,
    source: str = "web",
    event: str = "page_view",
    phone_channel: bool = False,
    account_signal: bool = False,
    purpose: str = Purpose.ANALYTICS,
) -> Sent:
    """One event through the edge and the stitcher (`events_ingest_stitched`), as a request would
    send it. A device's visits are its sessions: the second `session` of a device is its second
    visit (without one, a visit ends after 30 minutes of silence)."""
    live_before = set(
        Customer.objects.filter(workspace=workspace, status=CustomerStatus.LIVE).values_list("pk", flat=True)
    )
    message_id = f"sent-{next(_MESSAGE_IDS)}"
    result = events_ingest_stitched(
        workspace=workspace,
        events=[
            EventInput(
                event=event,
                source=source,
                occurred_at=at,
                visitor_id=device,
                session_id=session,
                message_id=message_id,
                email=email,
                phone=phone,
                user_id=user_id,
                external_ids=external or {},
                traits=traits or {},
                phone_channel=phone_channel,
                account_signal=account_signal,
                purpose=purpose,
            )
        ],
    )
    assert result.accepted == 1, result.answer()
    stored = Event.objects.filter(workspace=workspace, message_id=message_id).first()
    customer = Customer.objects.get(pk=stored.customer_id) if stored and stored.customer_id else None
    merged = (
        Customer.objects.filter(pk__in=live_before, status=CustomerStatus.MERGED, merged_into=customer)
        if customer
        else Customer.objects.none()
    )
    return Sent(
        result=result,
        event=stored,
        customer_id=customer.pk if customer else None,
        rung=stored.rung if stored else 0,
        created=customer is not None and customer.pk not in live_before,
        merged_customer_ids=tuple(sorted(merged.values_list("pk", flat=True))),
        suppressed=stored is None or (customer is not None and not customer.allow_analytics),
    )


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
