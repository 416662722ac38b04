"""Without CLARM_PUBLIC_URL, the public URL follows the port `make run` serves on (PORT): the snippet,
webhook URLs and emailed links of `PORT=8101 make run` point at 8101, not 8000.

Settings are read once per process, so each case starts a fresh interpreter on the embedded
default's settings (`clarm.settings`), as `scripts/run.sh` starts gunicorn and the worker."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROBE = """
import json, django
django.setup()
from django.conf import settings
from identity.models import Customer
from identity.privacy.tokens import UNSUBSCRIBE_PURPOSES, unsubscribe_url
from integrations.selectors import webhook_url
from workspaces.emails import invitation_url
from workspaces.models import Workspace
from workspaces.snippet import snippet_code
print(json.dumps({
    "public_url": settings.CLARM_PUBLIC_URL,
    "snippet": snippet_code(write_key="wk_probe"),
    "webhook": webhook_url(workspace=Workspace(slug="acme"), provider="stripe"),
    "invitation": invitation_url("tok"),
    "unsubscribe": unsubscribe_url(Customer(pk=1, workspace_id=1), UNSUBSCRIBE_PURPOSES[0]),
}))
"""


def _urls(tmp_path: Path, **env: str) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if k not in {"PORT", "CLARM_PUBLIC_URL", "DATABASE_URL", "REDIS_URL"}}
    clean.update(DJANGO_SETTINGS_MODULE="clarm.settings", CLARM_VAR_DIR=str(tmp_path), **env)
    out = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=60, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(
    ("env", "base"),
    [
        ({"PORT": "8101"}, "http://127.0.0.1:8101"),
        ({}, "http://127.0.0.1:8000"),
        ({"PORT": "8101", "CLARM_PUBLIC_URL": "https://clarm.example.com/"}, "https://clarm.example.com"),
    ],
)
def test_snippet_webhook_and_emailed_links_use_the_public_url(tmp_path, env, base):
    urls = _urls(tmp_path, **env)
    assert urls["public_url"] == base
    assert f'src="{base}/static/clarm.js"' in urls["snippet"]
    assert f'data-host="{base}"' in urls["snippet"]
    assert urls["webhook"] == f"{base}/hooks/stripe/acme/"
    assert urls["invitation"].startswith(f"{base}/")  # emailed
    assert urls["unsubscribe"].startswith(f"{base}/")  # emailed and texted
    other = "8000" if base.endswith("8101") else "8101"
    assert all(other not in value for value in urls.values())
