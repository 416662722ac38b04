"""Pipedrive, API token in the `x-api-token` header, base URL `CLARM_PIPEDRIVE_API_URL`.

- Clarm's fields are person custom fields named "Clarm rung", "Clarm customer number" (`double`),
  "Clarm first-touch source" and "Clarm first-touch campaign" (`varchar`). Pipedrive addresses them by
  a generated key: `GET /v1/personFields` finds them by name, `POST /v1/personFields` creates the
  missing ones; the keys are kept per destination for 10 minutes.
- Upsert: `GET /v1/persons/search?term=<email>&fields=email&exact_match=true`, then
  `PUT /v1/persons/<id>` or `POST /v1/persons` with the custom field keys and, for a person who opted
  out of marketing email, `marketing_status: "unsubscribed"` (Pipedrive Campaigns).
- Note: a done activity `POST /v1/activities`. Opt-out: `PUT /v1/persons/<id>` with
  `marketing_status: "unsubscribed"` (Pipedrive has no SMS subscription field). Erasure:
  `DELETE /v1/persons/<id>`."""

from typing import Any
from urllib.parse import quote

import httpx
from django.conf import settings

from integrations.destinations.base import Answer, answer_from_response, response_json
from integrations.destinations.models import Destination
from integrations.destinations.senders.crm.base import ClarmField, Contact, CrmSender, FieldsByName


class Pipedrive(FieldsByName, CrmSender):
    name = "pipedrive"
    field_noun = "person field"
    optout_purposes = ("marketing_email",)

    def _url(self, path: str) -> str:
        return settings.CLARM_PIPEDRIVE_API_URL.rstrip("/") + path

    def _headers(self, config: dict[str, Any]) -> dict[str, str]:
        return {"x-api-token": config["api_token"], "Accept": "application/json"}

    def fields_list(self, client: httpx.Client, config: dict[str, Any]) -> httpx.Response:
        return client.get(
            self._url("/v1/personFields"), params={"start": 0, "limit": 500}, headers=self._headers(config)
        )

    def fields_by_label(self, listed: dict[str, Any]) -> dict[str, str]:
        return {str(f.get("name")): str(f.get("key")) for f in listed.get("data") or []}

    def field_create(self, client: httpx.Client, config: dict[str, Any], clarm_field: ClarmField) -> httpx.Response:
        body = {"name": clarm_field.label, "field_type": "double" if clarm_field.number else "varchar"}
        return client.post(self._url("/v1/personFields"), json=body, headers=self._headers(config))

    def field_created_id(self, created: dict[str, Any]) -> str:
        return str((created.get("data") or {}).get("key") or "")

    def upsert(
        self, client: httpx.Client, destination: Destination, config: dict[str, Any], contact: Contact
    ) -> Answer:
        keys = self.clarm_field_ids(client, destination, config)
        if isinstance(keys, Answer):
            return keys
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
        body.update({keys[k]: v for k, v in contact.clarm_values().items()})
        if "marketing_email" in contact.opted_out:
            body["marketing_status"] = "unsubscribed"
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

    def opt_out(
        self, client: httpx.Client, config: dict[str, Any], remote_id: str, contact: Contact, purposes: list[str]
    ) -> Answer:
        response = client.put(
            self._url(f"/v1/persons/{quote(remote_id)}"),
            json={"marketing_status": "unsubscribed"},
            headers=self._headers(config),
        )
        return answer_from_response(response, remote_id=remote_id)

    def erase(self, client: httpx.Client, config: dict[str, Any], remote_id: str) -> Answer:
        response = client.delete(self._url(f"/v1/persons/{quote(remote_id)}"), headers=self._headers(config))
        return answer_from_response(response, remote_id=remote_id)


PIPEDRIVE = Pipedrive()
