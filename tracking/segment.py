"""Segment's HTTP Tracking API messages (also what RudderStack SDKs send) → EventInput.

Spec fields used: type, userId, anonymousId, messageId, timestamp / originalTimestamp, sentAt,
context {page, userAgent, ip, campaign, traits, library, sessionId}, traits, properties, event,
name, category, groupId, previousId. `integrations` is routing for Segment's destinations and is
ignored."""

from typing import Any

from tracking.clarm_format import FieldError
from tracking.inputs import EventInput

MESSAGE_TYPES = ("track", "identify", "page", "screen", "group", "alias")
# analytics.js (analytics-next) posts to the first letter of the type: /v1/t, /v1/p, ... and /v1/b.
SHORT_PATHS = {"t": "track", "i": "identify", "p": "page", "s": "screen", "g": "group", "a": "alias", "b": "batch"}
# Segment's e-commerce spec: a completed order is a payment (rung 4, account).
ACCOUNT_EVENTS = frozenset(("Order Completed", "order_completed", "purchase"))


def _object(msg: dict[str, Any], name: str) -> dict[str, Any]:
    value = msg.get(name)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise FieldError(f"{name} must be an object")
    return value


def _string(value: object, name: str) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise FieldError(f"{name} must be a string")
    return str(value)


def segment_event_input(
    msg: object, *, message_type: str | None, sent_at: object = None, batch_context: dict[str, Any] | None = None
) -> EventInput:
    """One Segment message. `message_type` comes from the path (/v1/track) or, in a batch, from
    the message's `type`."""
    if not isinstance(msg, dict):
        raise FieldError("message must be an object")
    kind = message_type or msg.get("type")
    if kind not in MESSAGE_TYPES:
        raise FieldError(f"type must be one of {', '.join(MESSAGE_TYPES)}")
    context = {**(batch_context or {}), **_object(msg, "context")}
    properties = dict(_object(msg, "properties"))
    traits = dict(_object(msg, "traits")) if kind in ("identify", "group") else {}
    raw_traits = context.get("traits")
    context_traits: dict[str, Any] = raw_traits if isinstance(raw_traits, dict) else {}
    person: dict[str, Any] = traits if kind == "identify" else context_traits
    if kind == "identify":
        traits = {**context_traits, **traits}
    elif kind != "group":
        traits = dict(context_traits)

    if kind == "track":
        name = msg.get("event")
        if name is None or name == "":
            raise FieldError("event is required")
        if not isinstance(name, str):
            raise FieldError("event must be a string")
    elif kind in ("page", "screen"):
        name = "page_view" if kind == "page" else "screen_view"
        for key in ("name", "category"):
            if msg.get(key) is not None:
                properties.setdefault(key, _string(msg.get(key), key))
    elif kind == "group":
        name = "group"
        group_id = _string(msg.get("groupId"), "groupId")
        if group_id is None:
            raise FieldError("groupId is required")
        properties["group_id"] = group_id
        if traits:
            properties["group_traits"] = traits
        traits = dict(context_traits)
    else:
        name = kind  # identify, alias

    user_id = _string(msg.get("userId"), "userId")
    anonymous_id = _string(msg.get("anonymousId"), "anonymousId")
    external: dict[str, Any] = {}
    if kind == "alias":
        previous_id = _string(msg.get("previousId"), "previousId")
        if previous_id is None:
            raise FieldError("previousId is required")
        if user_id is None:
            raise FieldError("userId is required")
        # Both ids in one event, so they are linked: the previous id is usually the anonymous id.
        if anonymous_id is None or anonymous_id == previous_id:
            anonymous_id = previous_id
        else:
            external["alias"] = previous_id
    elif user_id is None and anonymous_id is None:
        raise FieldError("userId or anonymousId is required")

    raw_page = context.get("page")
    page: dict[str, Any] = raw_page if isinstance(raw_page, dict) else {}
    url = _string(page.get("url"), "context.page.url") or (
        _string(properties.get("url"), "properties.url") if kind == "page" else None
    )
    referrer = _string(page.get("referrer"), "context.page.referrer") or (
        _string(properties.get("referrer"), "properties.referrer") if kind == "page" else None
    )
    session = context.get("sessionId")
    # Like the Clarm format: a form or an order carries the person's contact details in its
    # properties; taken as claims they are stitched, and masked in what is stored with the event.
    email, phone = person.get("email"), person.get("phone")
    if email is None and isinstance(properties.get("email"), str):
        email = properties["email"]
    if phone is None and isinstance(properties.get("phone"), str | int) and not isinstance(properties["phone"], bool):
        phone = properties["phone"]
    return EventInput(
        event=name,
        timestamp=msg.get("timestamp") if msg.get("timestamp") is not None else msg.get("originalTimestamp"),
        sent_at=msg.get("sentAt") if msg.get("sentAt") is not None else sent_at,
        properties=properties,
        visitor_id=anonymous_id,
        session_id=str(session) if isinstance(session, str | int) and not isinstance(session, bool) else None,
        message_id=_string(msg.get("messageId"), "messageId"),
        url=url,
        referrer=referrer,
        user_agent=_string(context.get("userAgent"), "context.userAgent"),
        email=email,
        phone=phone,
        user_id=user_id,
        external_ids=external,
        traits=traits,
        context=context,
        account_signal=kind == "track" and name in ACCOUNT_EVENTS,
        client_ip=context.get("ip") if isinstance(context.get("ip"), str) else None,
    )
