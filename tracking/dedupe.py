"""Dedupe keys: a caller's `message_id` and a server-side source's key never share a namespace.

Both live in `Event.message_id` (unique per workspace), so one rule keeps them apart:
- a key made by Clarm's own code for a provider event, a sent message, a link click… is stored as
  `clarm:<namespace>:<id>` (`integrations.events.event_record` makes them);
- a caller's `message_id` (the snippet, `/api/track`, `/v1/*`) may not start with `clarm:`: such an
  event is rejected, naming the reserved prefix, so no write key can claim a provider's key.

Keys are stored whole when they fit and can be stored; a longer id (a Calendly URI), or one with a
character PostgreSQL cannot store (NUL), is stored as the SHA-256 of the whole id, so two long ids that
share a prefix never collide. The hashed form (`…:sha256:<hex>`) is used for every id that starts with
`sha256:` too, so the mapping is one-to-one.
"""

import hashlib
import re

MAX_MESSAGE_ID = 128
SERVER_KEY_PREFIX = "clarm:"
_HASHED = "sha256:"
_MAX_NAMESPACE = 40
# NUL cannot be stored in PostgreSQL text; a lone surrogate cannot be encoded at all.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


class CallerKeyReserved(ValueError):
    """A caller's message id uses the prefix reserved for Clarm's own keys."""


def server_dedupe_key(namespace: str, event_id: str) -> str:
    """The stored dedupe key of an event made by Clarm's code: `clarm:<namespace>:<event id>`, the
    event id hashed when it is too long to store or cannot be stored as text."""
    if not namespace or len(namespace) > _MAX_NAMESPACE or ":" in namespace:
        raise ValueError(f"Bad dedupe namespace {namespace!r}.")
    key = f"{SERVER_KEY_PREFIX}{namespace}:{event_id}"
    if len(key) <= MAX_MESSAGE_ID and not event_id.startswith(_HASHED) and not _UNSTORABLE.search(event_id):
        return key
    digest = hashlib.sha256(event_id.encode("utf-8", "surrogatepass")).hexdigest()
    return f"{SERVER_KEY_PREFIX}{namespace}:{_HASHED}{digest}"


def caller_key_check(message_id: str) -> str:
    """A caller's message id as stored (unchanged), or CallerKeyReserved when it claims the server's
    namespace."""
    if message_id.startswith(SERVER_KEY_PREFIX):
        raise CallerKeyReserved(
            f"message_id may not start with {SERVER_KEY_PREFIX!r}: that prefix is reserved for the keys of "
            "Clarm's own integrations (provider webhooks, sent messages)"
        )
    return message_id
