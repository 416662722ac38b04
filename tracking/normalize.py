"""Turn raw identifier values into normalized, keyed-hash identifier claims.

Values that fail to normalize are not identifiers: `claims_from_values` returns them as notes so the
event can say why (the event itself is always kept).
"""

import hashlib
import hmac
import re
from dataclasses import dataclass, field

import phonenumbers
from django.db import models

from workspaces.models import Workspace


class IdentifierKind(models.TextChoices):
    """The identifiers the edge recognizes; `identity.Identifier.kind` stores one."""

    DEVICE = "device", "Device"
    EMAIL = "email", "Email"
    PHONE = "phone", "Phone"
    USER_ID = "user_id", "Account id"
    EXTERNAL = "external", "External id"


# Ids that SDKs and forms send when they have no id. Never identifiers.
JUNK_IDS = frozenset(
    {
        "",
        "null",
        "none",
        "nil",
        "undefined",
        "anonymous",
        "anon",
        "unknown",
        "guest",
        "0",
        "-1",
        "nan",
        "false",
        "true",
        "[object object]",
        "{}",
        "[]",
        "n/a",
        "na",
        "test",
        "00000000-0000-0000-0000-000000000000",
    }
)
_ALL_SAME = re.compile(r"^(.)\1*$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MAX_ID_LENGTH = 200


def id_problem(value: object) -> str | None:
    """Why `value` cannot be an identifier (a note for the event and its sender), or None."""
    if not isinstance(value, str | int) or isinstance(value, bool):
        return "not an identifier (not a string)"
    text = str(value).strip()
    if len(text) > MAX_ID_LENGTH:
        return f"longer than {MAX_ID_LENGTH} characters: not used as an identifier"
    if text.lower() in JUNK_IDS or _placeholder(text):
        return "not an identifier (empty or placeholder id)"
    return None


def _placeholder(text: str) -> bool:
    stripped = text.replace("-", "").replace("_", "")
    # All-zero strings and the like ("0000", "----", "aaaaaaa").
    return bool(stripped) is False or bool(_ALL_SAME.match(stripped))


def email_normalize(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    email = value.strip().lower()
    if len(email) > 254 or not _EMAIL.match(email):
        return None
    return email


def phone_normalize(value: object, *, default_country: str) -> str | None:
    """E.164 (e.g. +14155550100), reading numbers without a + prefix in the workspace's country."""
    if not isinstance(value, str | int) or isinstance(value, bool):
        return None
    text = str(value).strip()
    if text.lower().startswith("whatsapp:"):
        text = text[len("whatsapp:") :]
    try:
        number = phonenumbers.parse(text, (default_country or "US").upper())
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def identifier_hash(workspace: Workspace, kind: str, normalized: str) -> str:
    key = workspace.identifier_key.encode()
    return hmac.new(key, f"{kind}:{normalized}".encode(), hashlib.sha256).hexdigest()


def mask(kind: str, normalized: str) -> str:
    if kind == IdentifierKind.EMAIL:
        local, _, domain = normalized.partition("@")
        return f"{local[:1]}***@{domain}"
    if kind == IdentifierKind.PHONE:
        return f"{normalized[:3]}******{normalized[-2:]}"
    if kind == IdentifierKind.EXTERNAL:
        namespace, _, rest = normalized.partition(":")
        return f"{namespace}:{rest[:4]}…"
    return f"{normalized[:4]}…"


@dataclass(frozen=True)
class IdentifierClaim:
    """One normalized identifier an event carries. `plain` is kept only for email and phone (it is
    copied to the customer record for messaging); the database stores `value_hash`."""

    kind: str
    value_hash: str
    masked: str
    plain: str = ""


@dataclass
class Claims:
    claims: list[IdentifierClaim] = field(default_factory=list)
    # Why a value was not used as an identifier, e.g. {"phone": "not a valid phone number"}.
    notes: dict[str, str] = field(default_factory=dict)

    def of_kind(self, kind: str) -> list[IdentifierClaim]:
        return [c for c in self.claims if c.kind == kind]


def _claim(workspace: Workspace, kind: str, normalized: str, plain: str = "") -> IdentifierClaim:
    return IdentifierClaim(
        kind=kind, value_hash=identifier_hash(workspace, kind, normalized), masked=mask(kind, normalized), plain=plain
    )


def claims_from_values(
    workspace: Workspace,
    *,
    device: object = None,
    email: object = None,
    phone: object = None,
    user_id: object = None,
    external: dict[str, object] | None = None,
) -> Claims:
    """Normalize and hash whatever identifiers an event carries. `external` maps a namespace to an id
    (e.g. {"stripe": "cus_123"} → the identifier `stripe:cus_123`)."""
    out = Claims()
    if device is not None:
        if problem := id_problem(device):
            out.notes["visitor_id"] = problem
        else:
            out.claims.append(_claim(workspace, IdentifierKind.DEVICE, str(device).strip()))
    if email is not None and email != "":
        normalized = email_normalize(email)
        if normalized is None:
            out.notes["email"] = "not a valid email address"
        else:
            out.claims.append(_claim(workspace, IdentifierKind.EMAIL, normalized, plain=normalized))
    if phone is not None and phone != "":
        normalized = phone_normalize(phone, default_country=workspace.default_country)
        if normalized is None:
            out.notes["phone"] = f"not a valid phone number (read with default country {workspace.default_country})"
        else:
            out.claims.append(_claim(workspace, IdentifierKind.PHONE, normalized, plain=normalized))
    if user_id is not None:
        if problem := id_problem(user_id):
            out.notes["user_id"] = problem
        else:
            out.claims.append(_claim(workspace, IdentifierKind.USER_ID, str(user_id).strip()))
    for namespace, value in (external or {}).items():
        ns = str(namespace).strip().lower()
        if not re.fullmatch(r"[a-z0-9_]{1,32}", ns):
            out.notes[f"external:{ns[:32]}"] = "not an identifier (bad namespace: 1 to 32 of a-z, 0-9, _)"
            continue
        if problem := id_problem(value):
            out.notes[f"external:{ns}"] = problem
            continue
        out.claims.append(_claim(workspace, IdentifierKind.EXTERNAL, f"{ns}:{str(value).strip()}"))
    return out
