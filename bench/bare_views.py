"""The baseline: a bare Django view that parses the JSON and does one INSERT into the same events table.

No key check, no validation, no identity: what any ingest endpoint costs at the least. A batch body
(`{"batch": [...]}`) becomes one multi-row INSERT.
"""

import json
from typing import Any

from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

_COLUMNS = (
    "workspace_id, event, source, occurred_at, received_at, rung, session_id, device_hash, message_id, "
    "properties, context, is_bot"
)


@csrf_exempt
def bare_insert(request: HttpRequest) -> HttpResponse:
    body = json.loads(request.body)
    events = body.get("batch", [body])
    workspace_id = int(request.GET["ws"])
    now = timezone.now()
    rows = []
    params: list[Any] = []
    for e in events:
        rows.append("(%s, %s, 'web', %s, %s, 0, %s, '', %s, %s, %s, false)")
        params += [
            workspace_id,
            e["event"],
            e.get("timestamp") or now,
            now,
            e.get("session_id", ""),
            e.get("message_id"),
            json.dumps(e.get("properties", {})),
            json.dumps({"url": e.get("url", "")}),
        ]
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO tracking_event ({_COLUMNS}) VALUES {', '.join(rows)}", params)
    return JsonResponse({"accepted": len(events), "duplicates": 0}, status=202)
