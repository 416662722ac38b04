"""Reading an inbound SMS/WhatsApp message as an opt-out or opt-in.

1. Keywords (the carrier/Twilio set), matched on the whole message, case-insensitive, surrounding
   punctuation ignored: STOP, STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT → opt out; START, UNSTOP → opt in.
2. Plain-language opt-outs, matched anywhere in a short message (≤ 160 characters), by the phrases in
   `OPT_OUT_PHRASES`: "stop texting me", "please stop", "unsubscribe me", "don't text me",
   "remove me from your list", … They are deliberately narrow: "can you stop by at 5?" is not an
   opt-out. A missed opt-out phrased differently can still be set by the team on the customer.
"""

import re

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
