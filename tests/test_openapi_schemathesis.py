"""The served OpenAPI schema (/api/schema/) against the app, driven by schemathesis through WSGI.

Every documented operation (ingest: /api/track, /api/consent, /v1/*; the chat widget's /api/widget*;
/api/links, /api/status and the rest of the read API) is called with generated requests, valid and
invalid, with real keys of a real workspace (PostgreSQL, Redis; its chat widget on, a chat started so
its token can be polled): no answer may be a server error, every answer must be documented (status, content type,
headers, body schema), and a request the schema calls invalid must be refused (4xx). Bounded and
deterministic: a fixed number of examples per operation, derandomized (the same cases every run),
no example database."""

import base64
import os

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from agents.webchat import widget_message_receive, widget_save
from clarm.wsgi import application as APP  # as served: ingest paths through their own stack
from tests.factories import make_workspace
from tracking.writekeys import write_keys_forget

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("wsgi_keeps_connection")]
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
]
# Per operation (39 of them). CLARM_SCHEMATHESIS_EXAMPLES=200 looks harder; the cases stay deterministic.
MAX_EXAMPLES = int(os.environ.get("CLARM_SCHEMATHESIS_EXAMPLES", "12"))


# Loaded as served, at collection (the schema view reads no database).
CONFIG = schemathesis.Config.from_dict(
    {"checks": {"negative_data_rejection": {"expected-statuses": [400, 401, 403, 404, 413, 415, 422]}}}
)
schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", APP, config=CONFIG)


@pytest.fixture
def keys(db) -> dict[str, str]:
    """Credentials of one workspace, per kind of endpoint; the workspace's chat widget is on and
    one chat is started (its token)."""
    write_keys_forget()
    workspace, _, write_key, secret_key = make_workspace("Schema Probe")
    widget_save(workspace=workspace, enabled=True, color="#1a4fd6", greeting="Hello")
    chat = widget_message_receive(
        workspace=workspace,
        session=None,
        visitor_id="schema-visitor",
        session_id=None,
        message_id="schema-message-1",
        body="Hello?",
    )
    return {
        "write": write_key,
        "basic": "Basic " + base64.b64encode(f"{write_key}:".encode()).decode(),
        "bearer": f"Bearer {secret_key}",
        "chat": chat.token or "",
    }


def _auth(path: str, keys: dict[str, str]) -> dict[str, str]:
    if path.startswith("/v1/"):
        return {"Authorization": keys["basic"]}
    if path in ("/api/track", "/api/consent") or path.startswith("/api/widget"):
        return {"X-Clarm-Key": keys["write"]}
    return {"Authorization": keys["bearer"]}


# analytics.js' one-letter paths (/v1/t, …) are the same view and schema as /v1/track, …: not run twice.
@schema.exclude(path_regex=r"^/v1/[a-z]$").parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
def test_every_documented_operation_answers_as_documented(case, keys):
    headers = {**_auth(case.path, keys), **(case.headers or {})}
    if case.path == "/api/widget/poll" and isinstance(case.body, dict) and isinstance(case.body.get("token"), str):
        case.body["token"] = keys["chat"]  # a generated token is always unknown (401): poll a real chat
    case.call_and_validate(headers=headers, checks=CHECKS)
