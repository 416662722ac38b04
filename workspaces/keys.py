"""API key values: generation and the lookup of a presented key."""

import hashlib
import secrets

from workspaces.models import ApiKey, ApiKeyKind

WRITE_PREFIX = "wk_"
SECRET_PREFIX = "sk_"


def key_generate(kind: str) -> str:
    prefix = WRITE_PREFIX if kind == ApiKeyKind.WRITE else SECRET_PREFIX
    return prefix + secrets.token_urlsafe(32)


def key_lookup_value(kind: str, plain: str) -> str:
    """What `ApiKey.lookup` holds for a key: the write key itself, or the SHA-256 of a secret key."""
    if kind == ApiKeyKind.WRITE:
        return plain
    return hashlib.sha256(plain.encode()).hexdigest()


def key_authenticate(*, kind: str, plain: str) -> ApiKey | None:
    """The active key of that kind with that value (and its workspace), or None. Keys are ASCII
    without NUL: anything else (which PostgreSQL or UTF-8 could not even take) is no key."""
    if not plain or len(plain) > 128 or not plain.isascii() or "\x00" in plain:
        return None
    return (
        ApiKey.objects.select_related("workspace")
        .filter(kind=kind, lookup=key_lookup_value(kind, plain), revoked_at__isnull=True)
        .first()
    )
