"""The served OpenAPI schema (/api/schema/) against the app, driven by schemathesis through WSGI.

Every documented operation (ingest: /api/track, /api/consent, /v1/*; /api/links; the read API) is
called with generated requests, valid and invalid, with real keys of a real workspace (PostgreSQL,
Redis): no answer may be a server error, every answer must be documented (status, content type,
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
# Per operation (22 of them). CLARM_SCHEMATHESIS_EXAMPLES=200 looks harder; the cases stay deterministic.
MAX_EXAMPLES = int(os.environ.get("CLARM_SCHEMATHESIS_EXAMPLES", "12"))


# Loaded as served, at collection (the schema view reads no database).
CONFIG = schemathesis.Config.from_dict(
    {"checks": {"negative_data_rejection": {"expected-statuses": [400, 401, 403, 404, 413, 415, 422]}}}
)
schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", APP, config=CONFIG)


@pytest.fixture
def keys(db) -> dict[str, str]:
    """Credentials of one workspace, per kind of endpoint."""
    write_keys_forget()
    _, _, write_key, secret_key = make_workspace("Schema Probe")
    return {
        "write": write_key,
        "basic": "Basic " + base64.b64encode(f"{write_key}:".encode()).decode(),
        "bearer": f"Bearer {secret_key}",
    }


def _auth(path: str, keys: dict[str, str]) -> dict[str, str]:
    if path.startswith("/v1/"):
        return {"Authorization": keys["basic"]}
    if path in ("/api/track", "/api/consent"):
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
    case.call_and_validate(headers=headers, checks=CHECKS)
