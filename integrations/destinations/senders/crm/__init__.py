"""CRMs: HubSpot, Pipedrive, Salesforce, GoHighLevel, one module each on a shared flow (`base`).
Each delivery upserts the person as a contact keyed by email (name, email, phone, Clarm's fields:
rung, customer number, first-touch source and campaign; the person's marketing opt-outs), then, for an
event or a moment, adds a note/activity saying what happened with a link to the timeline. The answer
carries the remote contact id, which the framework keeps as an external identifier (`hubspot:123`) so
the CRM's own webhooks stitch back. An `optout` delivery records an opt-out on that contact; an
`erasure` delivery deletes it. Requests follow each provider's documented HTTP API
(docs/destinations.md); every base URL is a setting."""

from integrations.destinations.senders.crm.base import CrmSender
from integrations.destinations.senders.crm.gohighlevel import GOHIGHLEVEL
from integrations.destinations.senders.crm.hubspot import HUBSPOT
from integrations.destinations.senders.crm.pipedrive import PIPEDRIVE
from integrations.destinations.senders.crm.salesforce import SALESFORCE

__all__ = ["GOHIGHLEVEL", "HUBSPOT", "PIPEDRIVE", "SALESFORCE", "CrmSender"]
