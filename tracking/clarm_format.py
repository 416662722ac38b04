"""The Clarm event format of `POST /api/track` (what the snippet sends) → EventInput."""

from typing import Any

from tracking.inputs import EventInput

_STRING_FIELDS = (
    "visitor_id",
    "session_id",
    "message_id",
    "url",
    "referrer",
    "user_agent",
    "email",
    "phone",
    "user_id",
    "timestamp",
    "sent_at",
    "source",
)
_OBJECT_FIELDS = ("properties", "traits", "context", "external_ids")


class FieldError(ValueError):
    pass


def _check(obj: dict[str, Any]) -> None:
    if "event" not in obj or obj["event"] is None or obj["event"] == "":
        raise FieldError("event is required")
    if not isinstance(obj["event"], str):
        raise FieldError("event must be a string")
    for name in _STRING_FIELDS:
        value = obj.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, str | int)):
            raise FieldError(f"{name} must be a string")
    for name in _OBJECT_FIELDS:
        value = obj.get(name)
        if value is not None and not isinstance(value, dict):
            raise FieldError(f"{name} must be an object")


def clarm_event_input(obj: object, *, sent_at: object = None) -> EventInput:
    """One event object; FieldError names the first field that is wrong."""
    if not isinstance(obj, dict):
        raise FieldError("event must be an object")
    _check(obj)
    properties: dict[str, Any] = obj.get("properties") or {}
    name: str = obj["event"]
    traits: dict[str, Any] = dict(obj.get("traits") or {})
    email, phone, user_id = obj.get("email"), obj.get("phone"), obj.get("user_id")
    # identify and forms carry the person's contact details in their properties.
    if email is None and isinstance(properties.get("email"), str):
        email = properties["email"]
    if phone is None and isinstance(properties.get("phone"), str | int):
        phone = properties["phone"]
    if name == "identify":
        if user_id is None and isinstance(properties.get("user_id"), str | int):
            user_id = properties["user_id"]
        traits = {**properties, **traits}
    return EventInput(
        event=name,
        source=obj.get("source"),
        timestamp=obj.get("timestamp"),
        sent_at=obj.get("sent_at") if obj.get("sent_at") is not None else sent_at,
        properties=properties,
        visitor_id=obj.get("visitor_id"),
        session_id=obj.get("session_id"),
        message_id=obj.get("message_id"),
        url=obj.get("url"),
        referrer=obj.get("referrer"),
        user_agent=obj.get("user_agent"),
        email=email,
        phone=phone,
        user_id=user_id,
        external_ids=obj.get("external_ids") or {},
        traits=traits,
        context=obj.get("context") or {},
    )
