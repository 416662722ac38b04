"""`POST /hooks/<provider>/<workspace slug>/`: verify, store raw, answer, then process.

Order matters: the signature is checked before anything is stored; the request's events are committed
in one transaction before we answer 2xx (a failed write answers 503 so the provider retries);
processing runs after commit through one Celery task and never changes the answer. A verified body
we cannot use is stored as rejected (the owner sees the reason) and answered 400 naming it."""

import logging

from django.conf import settings
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from clarm.errors import RETRY_AFTER_SECONDS
from integrations.crypto import CredentialsUnreadable
from integrations.inbound import WebhookRejected, headers_filtered, provider_module
from integrations.models import Connection, ConnectionStatus
from integrations.providers import PROVIDERS
from integrations.services import deliveries_store
from workspaces.models import Workspace

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 1024 * 1024
UNKNOWN = "Unknown webhook endpoint: check the URL on the workspace's Integrations page."
TWIML_EMPTY = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


def _error(status: int, message: str) -> JsonResponse:
    return JsonResponse({"error": message}, status=status)


@csrf_exempt
@require_POST
def webhook_receive(request: HttpRequest, provider: str, ws: str) -> HttpResponse:
    if provider not in PROVIDERS:
        return _error(404, UNKNOWN)
    workspace = Workspace.objects.filter(slug=ws).first()
    if workspace is None:
        return _error(404, UNKNOWN)
    if workspace.region != settings.CLARM_REGION:
        return _error(
            403, f"This workspace's data lives in region {workspace.region}; send its webhooks to that region."
        )
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > MAX_BODY_BYTES:
        return _error(413, f"Body larger than {MAX_BODY_BYTES // 1024} KB.")
    connection = Connection.objects.filter(workspace=workspace, provider=provider).first()
    if connection is None or connection.status == ConnectionStatus.DISCONNECTED:
        return _error(404, UNKNOWN)
    module = provider_module(provider)
    try:
        inbound = module.verify(request=request, connection=connection)
    except WebhookRejected as exc:
        return _error(exc.status, exc.message)
    except CredentialsUnreadable as exc:
        logger.error("credentials of %s/%s unreadable", provider, workspace.pk)
        return _error(503, str(exc))
    headers = headers_filtered(request, module.KEEP_HEADERS)
    try:
        receipt = deliveries_store(workspace=workspace, provider=provider, inbound=inbound, headers=headers)
    except DatabaseError:
        logger.exception("could not store a %s delivery", provider)
        response = _error(503, "Could not store the delivery; please retry.")
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response
    if inbound and len(receipt.rejected) == len(inbound):
        # Verified but unusable: stored as rejected (the owner sees why); a retry would not help.
        first = receipt.rejected[0]["error"]
        return JsonResponse({"error": first, "rejected": receipt.rejected}, status=400)
    if provider == "twilio":
        return HttpResponse(TWIML_EMPTY, content_type="text/xml")
    stored = len(receipt.new_ids)
    status = "duplicate" if receipt.duplicates and not stored else "stored"
    answer: dict[str, object] = {"status": status, "stored": stored, "duplicates": receipt.duplicates}
    if receipt.rejected:
        answer["rejected"] = receipt.rejected
    return JsonResponse(answer)
