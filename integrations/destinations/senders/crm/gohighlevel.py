"""GoHighLevel, private integration token and `Version: 2021-07-28`, base URL
`CLARM_GOHIGHLEVEL_API_URL`.

- Clarm's fields are location custom fields of the contact model named "Clarm rung", "Clarm customer
  number" (`NUMERICAL`), "Clarm first-touch source" and "Clarm first-touch campaign" (`TEXT`):
  `GET /locations/<location>/customFields?model=contact` finds them by name, `POST
  /locations/<location>/customFields` creates the missing ones; their ids are kept per destination for
  10 minutes, and the upsert carries `customFields: [{"id", "field_value"}]`.
- Upsert: `POST /contacts/upsert` (by email within the location), tags `clarm`, `clarm-rung-N`, and
  for a person who opted out `dndSettings` with `status: "active"` on `Email` (marketing email) or
  `SMS`, `WhatsApp` and `Call` (marketing SMS).
- Note: `POST /contacts/<id>/notes`. Opt-out: `PUT /contacts/<id>` with those `dndSettings`.
  Erasure: `DELETE /contacts/<id>`."""

from typing import Any
from urllib.parse import quote

import httpx
from django.conf import settings

from integrations.destinations.base import Answer, answer_from_response, response_json
from integrations.destinations.models import Destination
from integrations.destinations.senders.crm.base import ClarmField, Contact, CrmSender, FieldsByName

DND_CHANNELS = {"marketing_email": ("Email",), "marketing_sms": ("SMS", "WhatsApp", "Call")}


def dnd_settings(purposes: list[str] | frozenset[str]) -> dict[str, dict[str, str]]:
    return {
        channel: {"status": "active", "message": "Opted out in Clarm"}
        for purpose in sorted(purposes)
        for channel in DND_CHANNELS.get(purpose, ())
    }


class GoHighLevel(FieldsByName, CrmSender):
    name = "gohighlevel"
    optout_purposes = tuple(DND_CHANNELS)

    def _url(self, path: str) -> str:
        return settings.CLARM_GOHIGHLEVEL_API_URL.rstrip("/") + path

    def _headers(self, config: dict[str, Any]) -> dict[str, str]:
        return {"Authorization": f"Bearer {config['token']}", "Version": "2021-07-28", "Accept": "application/json"}

    def _fields_path(self, config: dict[str, Any]) -> str:
        return self._url(f"/locations/{quote(config['location_id'])}/customFields")

    def fields_list(self, client: httpx.Client, config: dict[str, Any]) -> httpx.Response:
        return client.get(self._fields_path(config), params={"model": "contact"}, headers=self._headers(config))

    def fields_by_label(self, listed: dict[str, Any]) -> dict[str, str]:
        return {str(f.get("name")): str(f.get("id")) for f in listed.get("customFields") or []}

    def field_create(self, client: httpx.Client, config: dict[str, Any], clarm_field: ClarmField) -> httpx.Response:
        body = {
            "name": clarm_field.label,
            "dataType": "NUMERICAL" if clarm_field.number else "TEXT",
            "model": "contact",
        }
        return client.post(self._fields_path(config), json=body, headers=self._headers(config))

    def field_created_id(self, created: dict[str, Any]) -> str:
        return str((created.get("customField") or {}).get("id") or "")

    def upsert(
        self, client: httpx.Client, destination: Destination, config: dict[str, Any], contact: Contact
    ) -> Answer:
        ids = self.clarm_field_ids(client, destination, config)
        if isinstance(ids, Answer):
            return ids
        body: dict[str, Any] = {
            "locationId": config["location_id"],
            "email": contact.email,
            "firstName": contact.first_name,
            "lastName": contact.last_name,
            "name": contact.name,
            "tags": ["clarm", f"clarm-rung-{contact.rung}"],
            "customFields": [{"id": ids[k], "field_value": v} for k, v in contact.clarm_values().items()],
        }
        if contact.phone:
            body["phone"] = contact.phone
        if contact.company:
            body["companyName"] = contact.company
        if contact.source:
            body["source"] = contact.source
        if contact.opted_out:
            body["dndSettings"] = dnd_settings(contact.opted_out)
        response = client.post(self._url("/contacts/upsert"), json=body, headers=self._headers(config))
        contact_data = response_json(response).get("contact") or {}
        return answer_from_response(response, remote_id=str(contact_data.get("id") or ""))

    def note(self, client: httpx.Client, config: dict[str, Any], remote_id: str, text: str) -> Answer:
        response = client.post(
            self._url(f"/contacts/{quote(remote_id)}/notes"), json={"body": text}, headers=self._headers(config)
        )
        return answer_from_response(response)

    def opt_out(
        self, client: httpx.Client, config: dict[str, Any], remote_id: str, contact: Contact, purposes: list[str]
    ) -> Answer:
        response = client.put(
            self._url(f"/contacts/{quote(remote_id)}"),
            json={"dndSettings": dnd_settings(purposes)},
            headers=self._headers(config),
        )
        return answer_from_response(response, remote_id=remote_id)

    def erase(self, client: httpx.Client, config: dict[str, Any], remote_id: str) -> Answer:
        response = client.delete(self._url(f"/contacts/{quote(remote_id)}"), headers=self._headers(config))
        return answer_from_response(response, remote_id=remote_id)


GOHIGHLEVEL = GoHighLevel()
