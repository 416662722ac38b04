"""Bodies of /api/track requests and look-ups of where their events landed, shared by the tracking tests."""

import datetime
from typing import Any

from django.utils import timezone

from identity.models import Customer, Identifier, IdentifierKind
from tracking.normalize import claims_from_values
from workspaces.models import Workspace

ANSWER_ONE = {"accepted": 1, "duplicates": 0, "suppressed": 0, "bots": 0, "rejected": [], "warnings": []}


def _ago(minutes: float) -> datetime.datetime:
    return (timezone.now() - datetime.timedelta(minutes=minutes)).replace(microsecond=0)


def _iso(moment: datetime.datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _pv(
    visitor: str,
    message_id: str | None,
    *,
    at: datetime.datetime | None = None,
    session: str | None = "s1",
    **extra: Any,
) -> dict[str, Any]:
    body: dict[str, Any] = {"event": "page_view", "visitor_id": visitor, "message_id": message_id, **extra}
    if session is not None:
        body["session_id"] = session
    if at is not None:
        body["timestamp"] = _iso(at)
    return body


def _identify(
    visitor: str, message_id: str, email: str, *, at: datetime.datetime | None = None, session: str = "s1"
) -> dict[str, Any]:
    body = _pv(visitor, message_id, at=at, session=session, properties={"email": email})
    body["event"] = "identify"
    return body


def _device_hash(ws: Workspace, visitor: str) -> str:
    (claim,) = claims_from_values(ws, device=visitor).claims
    return claim.value_hash


def _device(ws: Workspace, visitor: str) -> Identifier:
    return Identifier.objects.get(workspace=ws, kind=IdentifierKind.DEVICE, value_hash=_device_hash(ws, visitor))


def _owner(ws: Workspace, visitor: str) -> Customer:
    return _device(ws, visitor).customer
