"""Why an event is recorded, and whether a person's preferences let it be: the ONE place that decides.

Every event reaches ingest with a purpose. Events sent with a public write key (the snippet, Segment
and RudderStack SDKs, a chatbot's agents) are always `analytics`, whatever `source` they name: a
write-key caller cannot claim anything else. Verified provider webhooks and Clarm's own records get
theirs from `provider_event_purpose` (called by `integrations.events.event_record`):

- `analytics`: write-key events, tracked-link clicks, the generic webhook's events. Refused for a
  person who opted out of analytics.
- `marketing_email` / `marketing_sms`: engagement with marketing (email opens and clicks). Refused
  for a person who opted out of analytics or of that marketing channel.
- `transactional`: payments, bookings, messages exchanged, delivery receipts, messages sent. Always
  kept: records of a transaction.
- `consent`: the choice itself (consent events, STOP, unsubscribe, spam report). Always kept: the
  consent record.

A refused event is not applied and not stored at all (ingest counts it as `suppressed`)."""

from dataclasses import dataclass
from enum import StrEnum

from django.db import models


class ConsentChoice(models.TextChoices):
    """A consent choice, as a consent event states it; `identity.ConsentRecord.choice` stores one."""

    GRANTED = "granted", "Granted"
    DENIED = "denied", "Denied"
    WITHDRAWN = "withdrawn", "Withdrawn"


class Purpose(StrEnum):
    ANALYTICS = "analytics"
    MARKETING_EMAIL = "marketing_email"
    MARKETING_SMS = "marketing_sms"
    TRANSACTIONAL = "transactional"
    CONSENT = "consent"


# Events that are a consent choice (purpose `consent`, kept for everyone) and the choice each records.
# `opted_out` is the snippet's ClarmTrack('optout'): a withdrawal.
CONSENT_EVENT_CHOICES: dict[str, str] = {
    "consent_given": ConsentChoice.GRANTED,
    "consent_denied": ConsentChoice.DENIED,
    "consent_withdrawn": ConsentChoice.WITHDRAWN,
    "opted_out": ConsentChoice.WITHDRAWN,
}


@dataclass(frozen=True)
class Consent:
    """What a person allows (True = allowed). The most restrictive of several wins (`restrict`)."""

    analytics: bool = True
    marketing_email: bool = True
    marketing_sms: bool = True

    def restrict(self, other: "Consent") -> "Consent":
        return Consent(
            analytics=self.analytics and other.analytics,
            marketing_email=self.marketing_email and other.marketing_email,
            marketing_sms=self.marketing_sms and other.marketing_sms,
        )


def purpose_refused(purpose: str, consent: Consent) -> bool:
    """True when an event of this purpose must not be applied or stored for a person with `consent`.
    Transactional and consent records are always kept; anything else (an unknown purpose too) needs
    the analytics consent, and marketing engagement also that channel's."""
    if purpose in (Purpose.TRANSACTIONAL, Purpose.CONSENT):
        return False
    if purpose == Purpose.MARKETING_EMAIL and not consent.marketing_email:
        return True
    if purpose == Purpose.MARKETING_SMS and not consent.marketing_sms:
        return True
    return not consent.analytics


# Provider events that are not transactional records (the rest of a listed provider's are).
_PROVIDER_EVENTS: dict[str, dict[str, Purpose]] = {
    "sendgrid": {
        "email_opened": Purpose.MARKETING_EMAIL,
        "email_clicked": Purpose.MARKETING_EMAIL,
        "email_unsubscribed": Purpose.CONSENT,
        "email_spam_reported": Purpose.CONSENT,
    },
    "twilio": {"sms_opt_out": Purpose.CONSENT, "sms_opt_in": Purpose.CONSENT},
    "pixel": {"email_opened": Purpose.MARKETING_EMAIL},
}
# Providers whose other events are transactional records: payments, bookings, messages and receipts.
_TRANSACTIONAL_PROVIDERS = frozenset(("stripe", "calendly", "twilio", "sendgrid", "clarm"))


def provider_event_purpose(*, provider: str, event: str, account_signal: bool = False) -> Purpose:
    """The purpose of an event a verified provider webhook (or Clarm itself) records. An event that is
    a payment or a booking (`account_signal`) is transactional whoever sends it; anything else of a
    provider not known here (the generic webhook, tracked links) is analytics."""
    named = _PROVIDER_EVENTS.get(provider, {}).get(event)
    if named is not None:
        return named
    if account_signal or provider in _TRANSACTIONAL_PROVIDERS:
        return Purpose.TRANSACTIONAL
    return Purpose.ANALYTICS
