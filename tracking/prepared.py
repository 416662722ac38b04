"""An event as the edge leaves it for the stitcher: validated, normalized, masked, its identifiers
hashed (the plain email and phone kept only until the stitcher copies them to the customer).

`Prepared` is what `tracking.services` builds from a request and what the resolver
(identity.stitching.stitcher) reads back from `PendingEvent.data` (`prepared_to_data` /
`prepared_from_data`: plain JSON, so a pending event survives any restart)."""

import datetime
from dataclasses import dataclass, field
from typing import Any

from tracking.models import Source
from tracking.normalize import Claims, IdentifierClaim
from tracking.purposes import CONSENT_EVENT_CHOICES, Consent, purpose_refused
from tracking.visits import VisitState

# Sources of browsing: their anonymous events (no identifier at all) are still counted in visits by
# IP hash.
VISIT_SOURCES = frozenset((Source.WEB, Source.PIXEL, Source.AD))
# Consent choices are kept even for a person who opted out: they are the record of the choice.
CONSENT_EVENTS = frozenset(CONSENT_EVENT_CHOICES)
# What a request sent with Sec-GPC: 1 or DNT: 1 may still store: the visitor's own opt-out.
OPT_OUT_EVENTS = frozenset(("consent_denied", "consent_withdrawn", "opted_out"))


@dataclass
class Prepared:
    name: str
    source: str
    occurred_at: datetime.datetime
    properties: dict[str, Any]
    context: dict[str, Any]
    claims: Claims
    traits: dict[str, Any]
    url: str | None
    campaign: dict[str, Any] | None
    session_id: str | None
    message_id: str | None
    device_hash: str
    visit_device: str
    is_bot: bool
    purpose: str
    phone_channel: bool
    account: bool
    # Set by the stitcher: the visit the event belongs to.
    visit: VisitState | None = field(default=None)


def prepared_to_data(p: Prepared) -> dict[str, Any]:
    return {
        "name": p.name,
        "source": p.source,
        "occurred_at": p.occurred_at.isoformat(),
        "properties": p.properties,
        "context": p.context,
        "claims": [[c.kind, c.value_hash, c.masked, c.plain] for c in p.claims.claims],
        "notes": p.claims.notes,
        "traits": p.traits,
        "url": p.url,
        "campaign": p.campaign,
        "session_id": p.session_id,
        "message_id": p.message_id,
        "device_hash": p.device_hash,
        "visit_device": p.visit_device,
        "is_bot": p.is_bot,
        "purpose": p.purpose,
        "phone_channel": p.phone_channel,
        "account": p.account,
    }


def prepared_from_data(data: dict[str, Any]) -> Prepared:
    claims = Claims(
        claims=[IdentifierClaim(kind=k, value_hash=h, masked=m, plain=plain) for k, h, m, plain in data["claims"]],
        notes=dict(data.get("notes") or {}),
    )
    return Prepared(
        name=data["name"],
        source=data["source"],
        occurred_at=datetime.datetime.fromisoformat(data["occurred_at"]),
        properties=data["properties"],
        context=data["context"],
        claims=claims,
        traits=data["traits"],
        url=data["url"],
        campaign=data["campaign"],
        session_id=data["session_id"],
        message_id=data["message_id"],
        device_hash=data["device_hash"],
        visit_device=data["visit_device"],
        is_bot=data["is_bot"],
        purpose=data["purpose"],
        phone_channel=data["phone_channel"],
        account=data["account"],
    )


def opt_outs_within(events: list[Prepared]) -> tuple[list[Prepared], int]:
    """An opt-out holds for the events after it in the same list (a request, a stitch batch), before
    the opt-out itself is applied: later events of that person are refused here (those carrying one
    of the opt-out's identifiers, or one an earlier event of the list tied to them; one hop). Returns
    the events kept and how many were refused."""
    out: set[tuple[str, str]] = set()
    kept: list[Prepared] = []
    refused = 0
    for p in events:
        keys = {(c.kind, c.value_hash) for c in p.claims.claims}
        if p.name in OPT_OUT_EVENTS and keys:
            out |= keys
            for earlier in kept:
                earlier_keys = {(c.kind, c.value_hash) for c in earlier.claims.claims}
                if earlier_keys & keys:
                    out |= earlier_keys
        elif out and keys & out and purpose_refused(p.purpose, Consent(analytics=False)):
            refused += 1
            continue
        kept.append(p)
    return kept, refused
