"""Reading an inbound SMS/WhatsApp message as an opt-out or opt-in.

1. Keywords (the carrier/Twilio set), matched on the whole message, case-insensitive, surrounding
   punctuation ignored: STOP, STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT → opt out; START, UNSTOP → opt in.
2. Plain-language opt-outs, matched anywhere in a short message (≤ 160 characters), by the phrases in
   `OPT_OUT_PHRASES`: "stop texting me", "please stop", "unsubscribe me", "don't text me",
   "remove me from your list", … They are deliberately narrow: "can you stop by at 5?" is not an
   opt-out. A missed opt-out phrased differently can still be set by the team on the customer.

Applying one goes through the privacy area's `preferences_update`: it applies the change to every
stitched customer, mirrors it onto the hashed suppression list, cancels queued marketing messages of
that channel and writes the consent record and the audit row.
"""

import re

from django.contrib.auth.models import User

from identity.models import ConsentPurpose, ConsentSource, Customer
from identity.privacy.services import preferences_update
from workspaces.models import Workspace

OPT_OUT_KEYWORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"})
OPT_IN_KEYWORDS = frozenset({"START", "UNSTOP"})

_STOP_VERBS = r"(?:texting|text|messaging|message|sending|send|contacting|contact|calling|call|spamming)"
OPT_OUT_PHRASES = tuple(
    re.compile(p, re.IGNORECASE)
    for p in (
        rf"\bstop {_STOP_VERBS}\b",  # "stop texting me", "stop sending me these"
        r"^\W*(?:please|pls|plz)\s+stop\b",  # "please stop", "Please stop!!"
        r"\bstop\s*(?:please|pls|plz)\W*$",  # "stop please"
        r"\bunsubscribe me\b",
        r"\b(?:don'?t|do not|dont|never)\s+" + _STOP_VERBS + r"\s+me\b",  # "don't text me", "do not contact me"
        r"\bremove me from (?:your|the|this|ur) (?:list|mailing list|texts|contacts)\b",
        r"\btake me off (?:your|the|this|ur) list\b",
        r"\bopt me out\b",
        r"\bno more (?:texts|messages|sms)\b",
    )
)
MAX_PHRASE_MESSAGE_LENGTH = 160


def sms_intent(body: str) -> str | None:
    """ "opt_out", "opt_in" or None for an inbound message body."""
    text = (body or "").strip()
    word = re.sub(r"^\W+|\W+$", "", text).upper()
    if word in OPT_OUT_KEYWORDS:
        return "opt_out"
    if word in OPT_IN_KEYWORDS:
        return "opt_in"
    if len(text) <= MAX_PHRASE_MESSAGE_LENGTH and any(p.search(text) for p in OPT_OUT_PHRASES):
        return "opt_out"
    return None


def sms_opt_out(*, workspace: Workspace, customer: Customer, actor: User | None = None) -> int:
    """Opt out of marketing SMS/WhatsApp (a STOP reply); returns the queued messages cancelled."""
    result = preferences_update(
        workspace=workspace,
        customer=customer,
        changes={ConsentPurpose.MARKETING_SMS: False},
        source=ConsentSource.API,
        actor=actor,
    )
    return result.messages_cancelled


def sms_opt_in(*, workspace: Workspace, customer: Customer, actor: User | None = None) -> None:
    """Allow marketing SMS/WhatsApp again (a START/UNSTOP reply)."""
    preferences_update(
        workspace=workspace,
        customer=customer,
        changes={ConsentPurpose.MARKETING_SMS: True},
        source=ConsentSource.API,
        actor=actor,
    )


def email_opt_out(*, workspace: Workspace, customer: Customer) -> int:
    """Opt out of marketing email (a SendGrid unsubscribe or spam report)."""
    result = preferences_update(
        workspace=workspace,
        customer=customer,
        changes={ConsentPurpose.MARKETING_EMAIL: False},
        source=ConsentSource.UNSUBSCRIBE,
    )
    return result.messages_cancelled
