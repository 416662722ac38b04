"""`/static/clarm.js` is served on a fresh data folder under every documented way of running: the
embedded default (`make run`) and the production settings behind their TLS proxy. Each case runs
what `scripts/run.sh` runs before serving (collectstatic into a new, empty data folder), then asks
the WSGI app, as gunicorn does, in a fresh interpreter (settings are read once per process)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SNIPPET = (ROOT / "static" / "clarm.js").read_bytes()
PROBE = """
import json, sys, django
django.setup()
from django.test import Client
secure = sys.argv[1] == "https"
extra = {"HTTP_X_FORWARDED_PROTO": "https"} if secure else {}
plain = Client().get("/static/clarm.js", HTTP_HOST="127.0.0.1")
answer = Client().get("/static/clarm.js", HTTP_HOST="127.0.0.1", **extra)
body = b"".join(answer.streaming_content) if answer.status_code == 200 else b""
print(json.dumps({"plain": plain.status_code, "status": answer.status_code,
                  "type": answer.get("Content-Type", ""), "cache": answer.get("Cache-Control", ""),
                  "body": body.decode()}))
"""


@pytest.mark.parametrize(
    ("settings_module", "scheme"),
    [("clarm.settings", "http"), ("clarm.settings.production", "https")],
    ids=["make run", "production"],
)
def test_the_snippet_is_served_after_what_make_run_does(tmp_path, settings_module, scheme):
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "PORT", "CLARM_PUBLIC_URL"}}
    env.update(DJANGO_SETTINGS_MODULE=settings_module, CLARM_VAR_DIR=str(tmp_path / "var"))
    if settings_module.endswith("production"):
        env.update(DJANGO_SECRET_KEY="test-" + "k" * 50)
    run = {"cwd": ROOT, "env": env, "capture_output": True, "text": True, "timeout": 120, "check": True}
    subprocess.run([sys.executable, "manage.py", "collectstatic", "--noinput"], **run)  # type: ignore[call-overload]
    out = subprocess.run([sys.executable, "-c", PROBE, scheme], **run)  # type: ignore[call-overload]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["status"] == 200, got["status"]
    assert got["type"].startswith("text/javascript")
    assert "max-age=300" in got["cache"]  # a fixed URL: revalidated every 5 minutes
    assert got["body"].encode() == SNIPPET
    if scheme == "https":
        assert got["plain"] == 301  # production answers plain HTTP with a redirect to HTTPS
