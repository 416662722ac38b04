"""Signed, purpose-bound, expiring tokens for links we send to end customers.

Each kind of link has its own salt AND carries its purpose, so a token minted for one use can never be
replayed for another (an unsubscribe token does not open the preferences page, and vice versa).
Tokens carry ids only (workspace, customer or request), never an email or phone number.
"""

import datetime
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core import signing
from django.urls import reverse

from identity.models import Customer, DataSubjectRequest

UNSUBSCRIBE_SALT = "clarm.unsubscribe"
PREFERENCES_SALT = "clarm.preferences"
DSR_VERIFY_SALT = "clarm.dsr.verify"

UNSUBSCRIBE_PURPOSES = ("marketing_email", "marketing_sms")
# Unsubscribe links live in emails people open months later; the others are short-lived.
UNSUBSCRIBE_MAX_AGE = datetime.timedelta(days=400)
PREFERENCES_MAX_AGE = datetime.timedelta(days=90)
DSR_VERIFY_MAX_AGE = datetime.timedelta(days=7)


class TokenInvalid(Exception):
    """The token is malformed, tampered with, expired or minted for another purpose."""


class TokenExpired(TokenInvalid):
    """Signed by us, but older than its kind's maximum age (a page may say so, not just "invalid")."""


@dataclass(frozen=True)
class SubjectToken:
    workspace_id: int
    customer_id: int
    purpose: str


@dataclass(frozen=True)
class DsrToken:
    workspace_id: int
    request_id: int


def signed_load(token: str, *, salt: str, max_age: datetime.timedelta, purposes: tuple[str, ...]) -> dict[str, Any]:
    """The token's payload, checked: signed with `salt`, younger than `max_age`, minted for one of `purposes`."""
    if not token or len(token) > 500:
        raise TokenInvalid("empty or oversized token")
    try:
        data = signing.loads(token, salt=salt, max_age=max_age)
    except signing.SignatureExpired as exc:
        raise TokenExpired("expired") from exc
    except signing.BadSignature as exc:
        raise TokenInvalid("bad signature") from exc
    if not isinstance(data, dict):
        raise TokenInvalid("unexpected payload")
    if data.get("p") not in purposes:
        raise TokenInvalid("wrong purpose")
    return data


def signed_int(data: dict[str, Any], key: str) -> int:
    value = data.get(key)
    if not isinstance(value, int) or isinstance(value, bool):
        raise TokenInvalid(f"missing {key}")
    return value


def _absolute_url(view_name: str, token: str) -> str:
    return f"{settings.CLARM_PUBLIC_URL}{reverse(view_name, kwargs={'token': token})}"


# --- unsubscribe --------------------------------------------------------------------------------


def unsubscribe_token(customer: Customer, purpose: str) -> str:
    if purpose not in UNSUBSCRIBE_PURPOSES:
        raise ValueError(f"purpose must be one of {', '.join(UNSUBSCRIBE_PURPOSES)}")
    return signing.dumps({"w": customer.workspace_id, "c": customer.pk, "p": purpose}, salt=UNSUBSCRIBE_SALT)


def unsubscribe_url(customer: Customer, purpose: str) -> str:
    """Absolute one-click unsubscribe URL (for List-Unsubscribe headers and SMS footers)."""
    return _absolute_url("privacy:unsubscribe", unsubscribe_token(customer, purpose))


def unsubscribe_token_read(token: str) -> SubjectToken:
    data = signed_load(token, salt=UNSUBSCRIBE_SALT, max_age=UNSUBSCRIBE_MAX_AGE, purposes=UNSUBSCRIBE_PURPOSES)
    return SubjectToken(workspace_id=signed_int(data, "w"), customer_id=signed_int(data, "c"), purpose=str(data["p"]))


# --- preferences --------------------------------------------------------------------------------


def preferences_token(customer: Customer) -> str:
    return signing.dumps({"w": customer.workspace_id, "c": customer.pk, "p": "preferences"}, salt=PREFERENCES_SALT)


def preferences_url(customer: Customer) -> str:
    """Absolute link to the customer's preferences page (valid for 90 days), for emails and SMS."""
    return _absolute_url("privacy:preferences_token", preferences_token(customer))


def preferences_token_read(token: str) -> SubjectToken:
    data = signed_load(token, salt=PREFERENCES_SALT, max_age=PREFERENCES_MAX_AGE, purposes=("preferences",))
    return SubjectToken(workspace_id=signed_int(data, "w"), customer_id=signed_int(data, "c"), purpose="preferences")


# --- data-subject request verification -------------------------------------------------------------


def dsr_verify_token(request: DataSubjectRequest) -> str:
    return signing.dumps({"w": request.workspace_id, "r": request.pk, "p": "dsr_verify"}, salt=DSR_VERIFY_SALT)


def dsr_verify_url(request: DataSubjectRequest) -> str:
    return _absolute_url("privacy:dsr_verify", dsr_verify_token(request))


def dsr_verify_token_read(token: str) -> DsrToken:
    data = signed_load(token, salt=DSR_VERIFY_SALT, max_age=DSR_VERIFY_MAX_AGE, purposes=("dsr_verify",))
    return DsrToken(workspace_id=signed_int(data, "w"), request_id=signed_int(data, "r"))
