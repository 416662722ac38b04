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
from integrations.destinations.senders.crm.base import (
    CLARM_FIELDS,
    Contact,
    CrmSender,
    field_ids_get,
    field_ids_keep,
)


class Pipedrive(CrmSender):
    name = "pipedrive"
    optout_purposes = ("marketing_email",)

    def _url(self, path: str) -> str:
        return settings.CLARM_PIPEDRIVE_API_URL.rstrip("/") + path

    def _headers(self, config: dict[str, Any]) -> dict[str, str]:
        return {"x-api-token": config["api_token"], "Accept": "application/json"}

    def _field_keys(
        self, client: httpx.Client, destination: Destination, config: dict[str, Any]
    ) -> dict[str, str] | Answer:
        """Clarm field key → the Pipedrive person field's key, creating the fields that are missing."""
        known = field_ids_get(self.name, destination.pk)
        if known is not None:
            return known
        listed = client.get(
            self._url("/v1/personFields"), params={"start": 0, "limit": 500}, headers=self._headers(config)
        )
        if listed.status_code != 200:
            return answer_from_response(listed)
        by_name = {str(f.get("name")): str(f.get("key")) for f in response_json(listed).get("data") or []}
        keys: dict[str, str] = {}
        for f in CLARM_FIELDS:
            if f.label in by_name:
                keys[f.key] = by_name[f.label]
                continue
            created = client.post(
                self._url("/v1/personFields"),
                json={"name": f.label, "field_type": "double" if f.number else "varchar"},
                headers=self._headers(config),
            )
            key = (response_json(created).get("data") or {}).get("key")
            if not created.is_success or not key:
                answer = answer_from_response(created)
                answer.body = f'Creating the person field "{f.label}": ' + answer.body
                return answer
            keys[f.key] = str(key)
        field_ids_keep(self.name, destination.pk, keys)
        return keys

    def upsert(
        self, client: httpx.Client, destination: Destination, config: dict[str, Any], contact: Contact
    ) -> Answer:
        keys = self._field_keys(client, destination, config)
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
