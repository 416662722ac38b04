"""Bot-flagged events: never stitched, yet about a person when a bot carried their identifiers.

A bot's event is stored with no customer. It keeps no plain email or phone (masked like any event),
its device's keyed hash in `device_hash`, and every identifier it carried, as `kind:keyed hash`, in
`context["bot_identifiers"]`. An erasure finds them with `bot_events_of` from the person's
identifiers (the same keyed hashes the Identifier rows hold), on PostgreSQL and SQLite alike.
"""

from collections.abc import Iterable

from django.db.models import Q, QuerySet, TextField
from django.db.models.functions import Cast

from tracking.models import Event
from tracking.normalize import Claims

DEVICE = "device"


def bot_identifiers(claims: Claims) -> list[str]:
    """What a bot event records of the identifiers it carried: `kind:keyed hash`, never a plain value."""
    return sorted({f"{c.kind}:{c.value_hash}" for c in claims.claims})


def bot_events_of(*, workspace_id: int, identifiers: Iterable[tuple[str, str]]) -> QuerySet[Event]:
    """The bot-flagged events of a workspace that carried any of these (kind, keyed hash) identifiers.
    Reads the workspace's bot events only (a scan of them: erasure is rare, bots' events few)."""
    pairs = sorted(set(identifiers))
    if not pairs:
        return Event.objects.none()
    devices = [value_hash for kind, value_hash in pairs if kind == DEVICE]
    condition = Q(device_hash__in=devices) if devices else Q()
    for kind, value_hash in pairs:
        condition |= Q(context_text__contains=f"{kind}:{value_hash}")
    return (
        Event.objects.filter(workspace_id=workspace_id, is_bot=True)
        .annotate(context_text=Cast("context", TextField()))
        .filter(condition)
    )
