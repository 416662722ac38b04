"""Encryption at rest of connection credentials.

The Fernet key is `CLARM_ENCRYPTION_KEY` (a Fernet key: 32 url-safe base64 bytes) when set, else derived
from `SECRET_KEY` with HKDF-SHA256 (so rotating SECRET_KEY without setting CLARM_ENCRYPTION_KEY makes
stored credentials unreadable: reconnect the providers).
"""

import base64
import json
import os
from functools import lru_cache
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings


class CredentialsUnreadable(Exception):
    """The stored credentials cannot be decrypted with the current key."""


@lru_cache(maxsize=4)
def _fernet(secret_key: str, explicit_key: str) -> Fernet:
    if explicit_key:
        return Fernet(explicit_key.encode())
    derived = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=b"clarm.integrations", info=b"connection-credentials"
    ).derive(secret_key.encode())
    return Fernet(base64.urlsafe_b64encode(derived))


def fernet() -> Fernet:
    explicit = getattr(settings, "CLARM_ENCRYPTION_KEY", "") or os.environ.get("CLARM_ENCRYPTION_KEY", "")
    return _fernet(settings.SECRET_KEY, explicit)


def credentials_encrypt(values: dict[str, Any]) -> str:
    return fernet().encrypt(json.dumps(values, sort_keys=True).encode()).decode()


def credentials_decrypt(token: str) -> dict[str, Any]:
    try:
        data = json.loads(fernet().decrypt(token.encode()))
    except InvalidToken as exc:
        raise CredentialsUnreadable("Stored credentials cannot be decrypted; reconnect the provider.") from exc
    return data if isinstance(data, dict) else {}
