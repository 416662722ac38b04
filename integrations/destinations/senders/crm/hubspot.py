"""HubSpot, with a private app token (`Authorization: Bearer`), base URL `CLARM_HUBSPOT_API_URL`.

- Upsert: `POST /crm/v3/objects/contacts/batch/upsert` with `idProperty: email`; Clarm's fields are
  the contact properties `clarm_rung`, `clarm_customer_number` (numbers), `clarm_first_touch_source`
  and `clarm_first_touch_campaign` (text). When HubSpot answers that a property does not exist, they
  are created once (`POST /crm/v3/properties/contacts/batch/create`, group `contactinformation`) and
  the upsert is sent again.
- Note: `POST /crm/v3/objects/notes` associated with the contact (association type 202).
- Opt-out of marketing email: `POST /communication-preferences/v4/statuses/<email>/unsubscribe-all
  ?channel=EMAIL` (the contact leaves every email subscription), also after an upsert of a person who
  opted out. HubSpot's SMS subscriptions are not written.
- Erasure: `POST /crm/v3/objects/contacts/gdpr-delete`."""

from typing import Any
from urllib.parse import quote

import httpx
from django.conf import settings
from django.utils import timezone

from integrations.destinations.base import Answer, answer_from_response, response_json
from integrations.destinations.models import Destination
from integrations.destinations.senders.crm.base import CLARM_FIELDS, Contact, CrmSender

PROPERTY_GROUP = "contactinformation"


def property_name(key: str) -> str:
    return f"clarm_{key}"


class HubSpot(CrmSender):
    name = "hubspot"
    optout_purposes = ("marketing_email",)

    def _url(self, path: str) -> str:
        return settings.CLARM_HUBSPOT_API_URL.rstrip("/") + path

    def _headers(self, config: dict[str, Any]) -> dict[str, str]:
        return {"Authorization": f"Bearer {config['token']}", "Content-Type": "application/json"}

    def _upsert_once(self, client: httpx.Client, config: dict[str, Any], contact: Contact) -> httpx.Response:
        properties: dict[str, Any] = {
            "email": contact.email,
            "firstname": contact.first_name,
            "lastname": contact.last_name,
        }
        if contact.phone:
            properties["phone"] = contact.phone
        properties.update({property_name(k): v for k, v in contact.clarm_values().items()})
        body = {"inputs": [{"idProperty": "email", "id": contact.email, "properties": properties}]}
        return client.post(self._url("/crm/v3/objects/contacts/batch/upsert"), json=body, headers=self._headers(config))

    def _properties_create(self, client: httpx.Client, config: dict[str, Any]) -> httpx.Response:
        inputs = [
            {
                "name": property_name(f.key),
                "label": f.label,
                "type": "number" if f.number else "string",
                "fieldType": "number" if f.number else "text",
                "groupName": PROPERTY_GROUP,
            }
            for f in CLARM_FIELDS
        ]
        return client.post(
            self._url("/crm/v3/properties/contacts/batch/create"),
            json={"inputs": inputs},
            headers=self._headers(config),
        )

    def upsert(
        self, client: httpx.Client, destination: Destination, config: dict[str, Any], contact: Contact
    ) -> Answer:
        response = self._upsert_once(client, config, contact)
        if response.status_code == 400 and "PROPERTY_DOESNT_EXIST" in response.text:
            created = self._properties_create(client, config)
            if created.status_code not in (200, 201, 207, 409):  # 207/409: some existed already
                answer = answer_from_response(created)
                answer.body = "Creating the clarm_* contact properties: " + answer.body
                return answer
            response = self._upsert_once(client, config, contact)
        results = response_json(response).get("results") or [{}]
        answer = answer_from_response(response, remote_id=str(results[0].get("id") or ""))
        if answer.ok and "marketing_email" in contact.opted_out:
            unsubscribed = self.opt_out(client, config, answer.remote_id, contact, ["marketing_email"])
            if not unsubscribed.ok:
                return unsubscribed
        return answer

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

    def opt_out(
        self, client: httpx.Client, config: dict[str, Any], remote_id: str, contact: Contact, purposes: list[str]
    ) -> Answer:
        response = client.post(
            self._url(f"/communication-preferences/v4/statuses/{quote(contact.email, safe='@')}/unsubscribe-all"),
            params={"channel": "EMAIL"},
            headers=self._headers(config),
        )
        return answer_from_response(response, remote_id=remote_id)

    def erase(self, client: httpx.Client, config: dict[str, Any], remote_id: str) -> Answer:
        response = client.post(
            self._url("/crm/v3/objects/contacts/gdpr-delete"),
            json={"objectId": remote_id},
            headers=self._headers(config),
        )
        return answer_from_response(response, remote_id=remote_id)


HUBSPOT = HubSpot()
