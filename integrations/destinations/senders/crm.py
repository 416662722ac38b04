"""CRMs: HubSpot, Pipedrive, Salesforce, GoHighLevel. Each delivery upserts the person as a contact
keyed by email (name, email, phone, rung, customer number, first-touch source/campaign), then, for an
event or a moment, adds a note/activity saying what happened with a link to the timeline. The
answer carries the remote contact id, which the framework keeps as an external identifier
(`hubspot:123`) so the CRM's own webhooks stitch back. An erasure delivery deletes the contact.

Every base URL is a setting (`CLARM_HUBSPOT_API_URL`, `CLARM_PIPEDRIVE_API_URL`,
`CLARM_SALESFORCE_API_URL` for the OAuth login host, `CLARM_GOHIGHLEVEL_API_URL`); requests follow
each provider's documented HTTP API (docs/destinations.md)."""

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
from django.conf import settings
from django.utils import timezone

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
from integrations.destinations.ssrf import DestinationUrlRefused, url_check


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

    def summary(self) -> str:
        parts = [f"Clarm rung {self.rung} ({RUNG_NAMES.get(self.rung, '')})"]
        if self.customer_number:
            parts.append(f"customer #{self.customer_number}")
        if self.source or self.campaign:
            parts.append(f"first touch: {self.source or '—'} / {self.campaign or '—'}")
        return ", ".join(parts)


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
    )


NO_EMAIL = Answer(
    status_code=None, body="Skipped: CRM contacts are keyed by email and this person has none.", final=True
)


class CrmSender(ABC):
    batch_size = 1
    name = ""

    def send(self, *, destination: Destination, config: dict[str, Any], items: list[Item]) -> list[Answer]:
        with httpx.Client(timeout=TIMEOUT_SECONDS) as client:
            return [self._one(client, destination, config, item) for item in items]

    def _one(self, client: httpx.Client, destination: Destination, config: dict[str, Any], item: Item) -> Answer:
        try:
            if item.delivery.kind == DeliveryKind.ERASURE:
                return self.erase(client, config, str(item.delivery.data.get("remote_id") or ""))
            contact = contact_of(item)
            if contact is None:
                return NO_EMAIL
            upserted = self.upsert(client, config, contact)
            if not upserted.ok:
                return upserted
            text, _ = message(item, link=timeline_url(destination.workspace, item.customer))
            noted = self.note(
                client,
                config,
                upserted.remote_id,
                f"{text}\n{contact.summary()}\n{timeline_url(destination.workspace, item.customer)}",
            )
            noted.remote_id = upserted.remote_id
            return noted
        except httpx.HTTPError as exc:
            return answer_from_error(exc)
        except DestinationUrlRefused as exc:
            return Answer(status_code=None, body=str(exc), final=True)

    @abstractmethod
    def upsert(self, client: httpx.Client, config: dict[str, Any], contact: Contact) -> Answer: ...

    @abstractmethod
    def note(self, client: httpx.Client, config: dict[str, Any], remote_id: str, text: str) -> Answer: ...

    @abstractmethod
    def erase(self, client: httpx.Client, config: dict[str, Any], remote_id: str) -> Answer: ...


class HubSpot(CrmSender):
    """Private app token. Upsert: `POST /crm/v3/objects/contacts/batch/upsert` with `idProperty:
    email`; note: `POST /crm/v3/objects/notes` associated to the contact (type 202); erasure:
    `POST /crm/v3/objects/contacts/gdpr-delete`."""

    name = "hubspot"

    def _url(self, path: str) -> str:
        return settings.CLARM_HUBSPOT_API_URL.rstrip("/") + path

    def _headers(self, config: dict[str, Any]) -> dict[str, str]:
        return {"Authorization": f"Bearer {config['token']}", "Content-Type": "application/json"}

    def upsert(self, client: httpx.Client, config: dict[str, Any], contact: Contact) -> Answer:
        properties = {"email": contact.email, "firstname": contact.first_name, "lastname": contact.last_name}
        if contact.phone:
            properties["phone"] = contact.phone
        body = {"inputs": [{"idProperty": "email", "id": contact.email, "properties": properties}]}
        response = client.post(
            self._url("/crm/v3/objects/contacts/batch/upsert"), json=body, headers=self._headers(config)
        )
        results = response_json(response).get("results") or [{}]
        return answer_from_response(response, remote_id=str(results[0].get("id") or ""))

    def note(self, client: httpx.Client, config: dict[str, Any], remote_id: str, text: str) -> Answer:
        body = {
            "properties": {"hs_timestamp": timezone.now().isoformat(), "hs_note_body": text},
            "associations": [
                {
                    "to": {"id": remote_id},
                    "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 202}],
                }
            ],
        }
        return answer_from_response(
            client.post(self._url("/crm/v3/objects/notes"), json=body, headers=self._headers(config))
        )

    def erase(self, client: httpx.Client, config: dict[str, Any], remote_id: str) -> Answer:
        response = client.post(
            self._url("/crm/v3/objects/contacts/gdpr-delete"),
            json={"objectId": remote_id},
            headers=self._headers(config),
        )
        return answer_from_response(response, remote_id=remote_id)


class Pipedrive(CrmSender):
    """API token in the `x-api-token` header. Person found by `GET /v1/persons/search?term=<email>
    &fields=email&exact_match=true`, then `PUT /v1/persons/<id>` or `POST /v1/persons`; the event as
    a done activity `POST /v1/activities`; erasure `DELETE /v1/persons/<id>`."""

    name = "pipedrive"

    def _url(self, path: str) -> str:
        return settings.CLARM_PIPEDRIVE_API_URL.rstrip("/") + path

    def _headers(self, config: dict[str, Any]) -> dict[str, str]:
        return {"x-api-token": config["api_token"], "Accept": "application/json"}

    def upsert(self, client: httpx.Client, config: dict[str, Any], contact: Contact) -> Answer:
        found = client.get(
            self._url("/v1/persons/search"),
            params={"term": contact.email, "fields": "email", "exact_match": "true"},
            headers=self._headers(config),
        )
        if found.status_code != 200:
            return answer_from_response(found)
        items = (response_json(found).get("data") or {}).get("items") or []
        body: dict[str, Any] = {"name": contact.name, "email": [{"value": contact.email, "primary": True}]}
        if contact.phone:
            body["phone"] = [{"value": contact.phone, "primary": True}]
        if items:
            person_id = str(items[0]["item"]["id"])
            response = client.put(self._url(f"/v1/persons/{person_id}"), json=body, headers=self._headers(config))
        else:
            response = client.post(self._url("/v1/persons"), json=body, headers=self._headers(config))
        data = response_json(response).get("data") or {}
        return answer_from_response(response, remote_id=str(data.get("id") or ""))

    def note(self, client: httpx.Client, config: dict[str, Any], remote_id: str, text: str) -> Answer:
        subject, _, note = text.partition("\n")
        body = {"subject": subject[:255], "type": "task", "done": 1, "person_id": int(remote_id), "note": note}
        return answer_from_response(client.post(self._url("/v1/activities"), json=body, headers=self._headers(config)))

    def erase(self, client: httpx.Client, config: dict[str, Any], remote_id: str) -> Answer:
        response = client.delete(self._url(f"/v1/persons/{quote(remote_id)}"), headers=self._headers(config))
        return answer_from_response(response, remote_id=remote_id)


class Salesforce(CrmSender):
    """Connected app: `POST {CLARM_SALESFORCE_API_URL}/services/oauth2/token` (refresh token, else
    client credentials) gives `access_token` and `instance_url` (which passes the SSRF guard). The
    Lead (or Contact) is found by email with SOQL, then `PATCH`ed or created; the event is a completed
    Task (`WhoId`); erasure deletes the record."""

    name = "salesforce"
    api = "/services/data/v61.0"

    def _session(self, client: httpx.Client, config: dict[str, Any]) -> tuple[str, str] | Answer:
        form = {"client_id": config["client_id"], "client_secret": config["client_secret"]}
        if config.get("refresh_token"):
            form.update(grant_type="refresh_token", refresh_token=config["refresh_token"])
        else:
            form["grant_type"] = "client_credentials"
        response = client.post(settings.CLARM_SALESFORCE_API_URL.rstrip("/") + "/services/oauth2/token", data=form)
        data = response_json(response)
        if response.status_code != 200 or not data.get("access_token") or not data.get("instance_url"):
            answer = answer_from_response(response)
            answer.body = "OAuth token endpoint: " + answer.body
            return answer
        url_check(str(data["instance_url"]))
        return str(data["instance_url"]).rstrip("/"), str(data["access_token"])

    def _object(self, config: dict[str, Any]) -> str:
        return "Contact" if str(config.get("object") or "").lower() == "contact" else "Lead"

    def _call(
        self, client: httpx.Client, config: dict[str, Any], method: str, path: str, **kw: Any
    ) -> httpx.Response | Answer:
        session = self._session(client, config)
        if isinstance(session, Answer):
            return session
        base, token = session
        return client.request(method, base + self.api + path, headers={"Authorization": f"Bearer {token}"}, **kw)

    def upsert(self, client: httpx.Client, config: dict[str, Any], contact: Contact) -> Answer:
        obj = self._object(config)
        escaped = contact.email.replace("\\", "\\\\").replace("'", "\\'")
        found = self._call(
            client,
            config,
            "GET",
            "/query",
            params={"q": f"SELECT Id FROM {obj} WHERE Email = '{escaped}'"},  # noqa: S608 (SOQL, escaped)
        )
        if isinstance(found, Answer):
            return found
        if found.status_code != 200:
            return answer_from_response(found)
        fields: dict[str, Any] = {
            "Email": contact.email,
            "FirstName": contact.first_name,
            "LastName": contact.last_name or contact.email,
            "Phone": contact.phone or None,
        }
        if obj == "Lead":
            fields["Company"] = contact.company or "[not provided]"  # required on a Lead
            if contact.source:
                fields["LeadSource"] = contact.source[:40]
        records = response_json(found).get("records") or []
        if records:
            record_id = str(records[0]["Id"])
            done = self._call(client, config, "PATCH", f"/sobjects/{obj}/{record_id}", json=fields)
            if isinstance(done, Answer):
                return done
            return answer_from_response(done, remote_id=record_id)
        created = self._call(client, config, "POST", f"/sobjects/{obj}", json=fields)
        if isinstance(created, Answer):
            return created
        return answer_from_response(created, remote_id=str(response_json(created).get("id") or ""))

    def note(self, client: httpx.Client, config: dict[str, Any], remote_id: str, text: str) -> Answer:
        subject, _, description = text.partition("\n")
        body = {"WhoId": remote_id, "Subject": subject[:255], "Status": "Completed", "Description": description}
        done = self._call(client, config, "POST", "/sobjects/Task", json=body)
        return done if isinstance(done, Answer) else answer_from_response(done)

    def erase(self, client: httpx.Client, config: dict[str, Any], remote_id: str) -> Answer:
        done = self._call(client, config, "DELETE", f"/sobjects/{self._object(config)}/{quote(remote_id)}")
        return done if isinstance(done, Answer) else answer_from_response(done, remote_id=remote_id)


class GoHighLevel(CrmSender):
    """Private integration token, `Version: 2021-07-28`. `POST /contacts/upsert` (by email within
    the location), `POST /contacts/<id>/notes`, erasure `DELETE /contacts/<id>`."""

    name = "gohighlevel"

    def _url(self, path: str) -> str:
        return settings.CLARM_GOHIGHLEVEL_API_URL.rstrip("/") + path

    def _headers(self, config: dict[str, Any]) -> dict[str, str]:
        return {"Authorization": f"Bearer {config['token']}", "Version": "2021-07-28", "Accept": "application/json"}

    def upsert(self, client: httpx.Client, config: dict[str, Any], contact: Contact) -> Answer:
        body: dict[str, Any] = {
            "locationId": config["location_id"],
            "email": contact.email,
            "firstName": contact.first_name,
            "lastName": contact.last_name,
            "name": contact.name,
            "tags": ["clarm", f"clarm-rung-{contact.rung}"],
        }
        if contact.phone:
            body["phone"] = contact.phone
        if contact.company:
            body["companyName"] = contact.company
        if contact.source:
            body["source"] = contact.source
        response = client.post(self._url("/contacts/upsert"), json=body, headers=self._headers(config))
        contact_data = response_json(response).get("contact") or {}
        return answer_from_response(response, remote_id=str(contact_data.get("id") or ""))

    def note(self, client: httpx.Client, config: dict[str, Any], remote_id: str, text: str) -> Answer:
        response = client.post(
            self._url(f"/contacts/{quote(remote_id)}/notes"), json={"body": text}, headers=self._headers(config)
        )
        return answer_from_response(response)

    def erase(self, client: httpx.Client, config: dict[str, Any], remote_id: str) -> Answer:
        response = client.delete(self._url(f"/contacts/{quote(remote_id)}"), headers=self._headers(config))
        return answer_from_response(response, remote_id=remote_id)


HUBSPOT = HubSpot()
PIPEDRIVE = Pipedrive()
SALESFORCE = Salesforce()
GOHIGHLEVEL = GoHighLevel()

__all__ = ["GOHIGHLEVEL", "HUBSPOT", "PIPEDRIVE", "SALESFORCE"]
