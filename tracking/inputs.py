"""What every source hands to `tracking.services.events_ingest`, and what it answers."""

import datetime
from dataclasses import dataclass, field
from typing import Any

from tracking.models import Source
from tracking.purposes import Purpose

SOURCES = frozenset(Source.values)


@dataclass
class EventInput:
    """One event from any source (the snippet, a Segment SDK, a webhook receiver, an agent).

    Timestamps may be datetimes or ISO 8601 strings; a bad string rejects that event naming the
    field. `occurred_at` and `timestamp` are the same thing (the client's time of the event); give
    either. `client_ip` is the visitor's address as reported by a server-side SDK: used for country
    and network and for the daily IP hash, never stored."""

    event: Any = None
    source: Any = None
    occurred_at: datetime.datetime | str | Any = None
    timestamp: datetime.datetime | str | Any = None
    sent_at: datetime.datetime | str | Any = None
    properties: dict[str, Any] = field(default_factory=dict)
    visitor_id: Any = None
    session_id: Any = None
    message_id: Any = None
    url: str | None = None
    referrer: str | None = None
    user_agent: str | None = None
    email: Any = None
    phone: Any = None
    user_id: Any = None
    external_ids: dict[str, Any] = field(default_factory=dict)
    traits: dict[str, Any] = field(default_factory=dict)
    context: dict[str, Any] = field(default_factory=dict)
    # Ladder signals a caller knows about: a message or call on a phone channel, a booking or payment.
    phone_channel: bool = False
    account_signal: bool = False
    client_ip: str | None = None
    # The dedupe key of an event made by Clarm's own code (tracking.dedupe.server_dedupe_key: a
    # provider's event id, a sent message), stored instead of `message_id`. Never set from a request:
    # callers' message ids live in their own namespace (tracking.dedupe).
    server_key: str | None = None
    # Why the event is recorded (tracking.purposes): decides whether a person's preferences let it be
    # stored. Write-key parsers never set it (always analytics); provider webhooks do.
    purpose: str = Purpose.ANALYTICS


@dataclass
class IngestResult:
    accepted: int = 0
    duplicates: int = 0
    suppressed: int = 0
    # Accepted events flagged as a bot's (stored, not stitched): a sender can see why no person appears.
    bots: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)
    # Values of stored events that were not used as identifiers, and why:
    # [{"index", "field", "warning"}] (e.g. a visitor_id longer than 200 characters).
    warnings: list[dict[str, Any]] = field(default_factory=list)

    def answer(self) -> dict[str, Any]:
        return {
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "suppressed": self.suppressed,
            "bots": self.bots,
            "rejected": self.rejected,
            "warnings": self.warnings,
        }
