"""What the four CRM senders share: the contact as Clarm describes it, the flow of one delivery
(upsert then note; an opt-out; an erasure), and a per-process memo of the CRM's custom field ids.

Every CRM gets, besides name, email and phone:
- Clarm's own fields (`CLARM_FIELDS`): rung, customer number, first-touch source and campaign, as
  custom properties/fields of the contact (HubSpot and Pipedrive and GoHighLevel create them on first
  use; Salesforce writes the fields the destination's config names);
- the person's marketing opt-outs (`OPTOUT_PURPOSES`), on every upsert and, when the person opts out,
  as an `optout` delivery to every CRM record Clarm created or updated."""

import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

import httpx

from identity.timeline import RUNG_NAMES
from integrations.destinations.base import (
    TIMEOUT_SECONDS,
    Answer,
    Item,
    answer_from_error,
    answer_from_response,
    name_split,
    response_json,
)
from integrations.destinations.models import DeliveryKind, Destination
from integrations.destinations.payloads import timeline_url
from integrations.destinations.senders.slack import message
from integrations.destinations.ssrf import DestinationUrlRefused

# Clarm preference name → Customer field (True = allowed): the opt-outs a CRM can record.
OPTOUT_PURPOSES = {"marketing_email": "allow_marketing_email", "marketing_sms": "allow_marketing_sms"}


@dataclass(frozen=True)
class ClarmField:
    """One of Clarm's fields on a CRM contact: `key` in Clarm, `label` (the CRM field's name), `number`."""

    key: str
    label: str
    number: bool


CLARM_FIELDS = (
    ClarmField("rung", "Clarm rung", number=True),
    ClarmField("customer_number", "Clarm customer number", number=True),
    ClarmField("first_touch_source", "Clarm first-touch source", number=False),
    ClarmField("first_touch_campaign", "Clarm first-touch campaign", number=False),
)


@dataclass
class Contact:
    email: str
    first_name: str
    last_name: str
    name: str
    company: str
    phone: str
    rung: int
    customer_number: int | None
    source: str
    campaign: str
    # Marketing purposes the person opted out of (keys of OPTOUT_PURPOSES).
    opted_out: frozenset[str] = field(default_factory=frozenset)

    def summary(self) -> str:
        parts = [f"Clarm rung {self.rung} ({RUNG_NAMES.get(self.rung, '')})"]
        if self.customer_number:
            parts.append(f"customer #{self.customer_number}")
        if self.source or self.campaign:
            parts.append(f"first touch: {self.source or '—'} / {self.campaign or '—'}")
        return ", ".join(parts)

    def clarm_values(self) -> dict[str, int | str]:
        """Clarm's fields that have a value (`CLARM_FIELDS` keys)."""
        values: dict[str, int | str | None] = {
            "rung": self.rung,
            "customer_number": self.customer_number,
            "first_touch_source": self.source,
            "first_touch_campaign": self.campaign,
        }
        return {k: v for k, v in values.items() if v is not None and v != ""}


def contact_of(item: Item) -> Contact | None:
    customer = item.customer
    if customer is None or not customer.email:
        return None
    first, last = name_split(customer.name)
    touch = item.first_touch
    return Contact(
        email=customer.email,
        first_name=first,
        last_name=last,
        name=customer.name or customer.email,
        company=customer.company,
        phone=customer.phone,
        rung=customer.rung,
        customer_number=customer.customer_number if customer.rung >= 4 else None,
        source=str(touch.get("utm_source") or touch.get("referrer_host") or ""),
        campaign=str(touch.get("utm_campaign") or ""),
        opted_out=frozenset(p for p, allow in OPTOUT_PURPOSES.items() if not getattr(customer, allow)),
    )


NO_EMAIL = Answer(
    status_code=None, body="Skipped: CRM contacts are keyed by email and this person has none.", final=True
)

# --- the CRM's ids of Clarm's custom fields, per destination, for a few minutes -----------------------

FIELD_IDS_SECONDS = 600.0
_field_ids: dict[tuple[str, int], tuple[float, dict[str, str]]] = {}


def field_ids_get(provider: str, destination_id: int) -> dict[str, str] | None:
    hit = _field_ids.get((provider, destination_id))
    if hit is None or hit[0] < time.monotonic():
        return None
    return hit[1]


def field_ids_keep(provider: str, destination_id: int, ids: dict[str, str]) -> None:
    _field_ids[(provider, destination_id)] = (time.monotonic() + FIELD_IDS_SECONDS, ids)


def field_ids_forget() -> None:
    _field_ids.clear()


class FieldsByName(ABC):
    """For a CRM that addresses custom fields by a generated id (Pipedrive, GoHighLevel): Clarm's
    fields are found by their label, and the missing ones created, once per destination and memo."""

    name = ""
    field_noun = "custom field"

    @abstractmethod
    def fields_list(self, client: httpx.Client, config: dict[str, Any]) -> httpx.Response: ...

    @abstractmethod
    def fields_by_label(self, listed: dict[str, Any]) -> dict[str, str]:
        """Label → id of the fields in a listing's JSON."""

    @abstractmethod
    def field_create(self, client: httpx.Client, config: dict[str, Any], clarm_field: ClarmField) -> httpx.Response: ...

    @abstractmethod
    def field_created_id(self, created: dict[str, Any]) -> str: ...

    def clarm_field_ids(
        self, client: httpx.Client, destination: Destination, config: dict[str, Any]
    ) -> dict[str, str] | Answer:
        """Clarm field key → the CRM field's id, or the CRM's answer when listing or creating failed."""
        known = field_ids_get(self.name, destination.pk)
        if known is not None:
            return known
        listed = self.fields_list(client, config)
        if listed.status_code != 200:
            return answer_from_response(listed)
        by_label = self.fields_by_label(response_json(listed))
        ids: dict[str, str] = {}
        for f in CLARM_FIELDS:
            if f.label in by_label:
                ids[f.key] = by_label[f.label]
                continue
            created = self.field_create(client, config, f)
            field_id = self.field_created_id(response_json(created))
            if not created.is_success or not field_id:
                answer = answer_from_response(created)
                answer.body = f'Creating the {self.field_noun} "{f.label}": ' + answer.body
                return answer
            ids[f.key] = field_id
        field_ids_keep(self.name, destination.pk, ids)
        return ids


class CrmSender(ABC):
    batch_size = 1
    name = ""
    # The opt-outs this CRM can record (keys of OPTOUT_PURPOSES); an opt-out of another is not sent.
    optout_purposes: tuple[str, ...] = ()

    def send(self, *, destination: Destination, config: dict[str, Any], items: list[Item]) -> list[Answer]:
        with httpx.Client(timeout=TIMEOUT_SECONDS) as client:
            return [self._one(client, destination, config, item) for item in items]

    def _one(self, client: httpx.Client, destination: Destination, config: dict[str, Any], item: Item) -> Answer:
        remote_id = str(item.delivery.data.get("remote_id") or "")
        try:
            if item.delivery.kind == DeliveryKind.ERASURE:
                return self.erase(client, config, remote_id)
            contact = contact_of(item)
            if contact is None:
                return NO_EMAIL
            if item.delivery.kind == DeliveryKind.OPTOUT:
                purposes = sorted(contact.opted_out & set(item.delivery.data.get("opted_out") or ()))
                return self.opt_out(client, config, remote_id, contact, purposes)
            upserted = self.upsert(client, destination, config, contact)
            if not upserted.ok:
                return upserted
            link = timeline_url(destination.workspace, item.customer)
            text, _ = message(item, link=link)
            noted = self.note(client, config, upserted.remote_id, f"{text}\n{contact.summary()}\n{link}")
            noted.remote_id = upserted.remote_id
            return noted
        except httpx.HTTPError as exc:
            return answer_from_error(exc)
        except DestinationUrlRefused as exc:
            return Answer(status_code=None, body=str(exc), final=True)

    @abstractmethod
    def upsert(
        self, client: httpx.Client, destination: Destination, config: dict[str, Any], contact: Contact
    ) -> Answer:
        """Create or update the contact (Clarm's fields and opt-outs included); the answer carries its id."""

    @abstractmethod
    def note(self, client: httpx.Client, config: dict[str, Any], remote_id: str, text: str) -> Answer: ...

    @abstractmethod
    def opt_out(
        self, client: httpx.Client, config: dict[str, Any], remote_id: str, contact: Contact, purposes: list[str]
    ) -> Answer:
        """Record at the CRM that the person opted out of these marketing purposes."""

    @abstractmethod
    def erase(self, client: httpx.Client, config: dict[str, Any], remote_id: str) -> Answer: ...
