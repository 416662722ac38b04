"""Salesforce, through a connected app: `POST {CLARM_SALESFORCE_API_URL}/services/oauth2/token`
(refresh token, else client credentials) gives `access_token` and `instance_url` (which passes the
SSRF guard).

- Upsert: the Lead (or Contact) found by email with SOQL, then `PATCH`ed or created. Clarm's fields
  go to the custom fields the destination's config names (`rung_field`, `customer_number_field`,
  `first_touch_source_field`, `first_touch_campaign_field`, e.g. `Clarm_Rung__c`): Salesforce custom
  fields are created by an admin (with field-level security for the integration user), so Clarm only
  writes those it is told about. `LeadSource` takes the first-touch source on a Lead.
- Opt-outs: `HasOptedOutOfEmail` (marketing email) and `DoNotCall` (marketing SMS, WhatsApp and
  calls), set on every upsert of a person who opted out and by an opt-out `PATCH`.
- Note: a completed Task (`WhoId`). Erasure: `DELETE` of the record."""

from typing import Any
from urllib.parse import quote

import httpx
from django.conf import settings

from integrations.destinations.base import Answer, answer_from_response, response_json
from integrations.destinations.models import Destination
from integrations.destinations.senders.crm.base import CLARM_FIELDS, Contact, CrmSender
from integrations.destinations.ssrf import url_check

OPTOUT_FIELDS = {"marketing_email": "HasOptedOutOfEmail", "marketing_sms": "DoNotCall"}


def config_field(key: str) -> str:
    """The destination config key naming the Salesforce field of a Clarm field."""
    return f"{key}_field"


class Salesforce(CrmSender):
    name = "salesforce"
    api = "/services/data/v61.0"
    optout_purposes = tuple(OPTOUT_FIELDS)

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

    def _fields(self, config: dict[str, Any], contact: Contact) -> dict[str, Any]:
        obj = self._object(config)
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
        values = contact.clarm_values()
        for f in CLARM_FIELDS:
            target = config.get(config_field(f.key))
            if target and f.key in values:
                fields[target] = values[f.key]
        # Only ever set (never cleared): Clarm does not undo an opt-out recorded in the CRM.
        fields.update({OPTOUT_FIELDS[p]: True for p in sorted(contact.opted_out) if p in OPTOUT_FIELDS})
        return fields

    def upsert(
        self, client: httpx.Client, destination: Destination, config: dict[str, Any], contact: Contact
    ) -> Answer:
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
        fields = self._fields(config, contact)
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

    def opt_out(
        self, client: httpx.Client, config: dict[str, Any], remote_id: str, contact: Contact, purposes: list[str]
    ) -> Answer:
        fields = {OPTOUT_FIELDS[p]: True for p in purposes if p in OPTOUT_FIELDS}
        path = f"/sobjects/{self._object(config)}/{quote(remote_id)}"
        done = self._call(client, config, "PATCH", path, json=fields)
        return done if isinstance(done, Answer) else answer_from_response(done, remote_id=remote_id)

    def erase(self, client: httpx.Client, config: dict[str, Any], remote_id: str) -> Answer:
        done = self._call(client, config, "DELETE", f"/sobjects/{self._object(config)}/{quote(remote_id)}")
        return done if isinstance(done, Answer) else answer_from_response(done, remote_id=remote_id)


SALESFORCE = Salesforce()
