"""Provider API base URLs are settings read from the environment as CLARM_<PROVIDER>_API_URL (DESIGN)."""

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
NAMES = ("TWILIO", "SENDGRID", "STRIPE", "CALENDLY")


def test_messaging_and_booking_provider_urls_come_from_the_environment():
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "clarm.settings.base"}
    env.update({f"CLARM_{name}_API_URL": f"http://127.0.0.1:9/{name.lower()}" for name in NAMES})
    code = (
        "import json, django; django.setup(); from django.conf import settings; "
        f"print(json.dumps([getattr(settings, 'CLARM_' + n + '_API_URL') for n in {NAMES!r}]))"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=REPO, capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == [f"http://127.0.0.1:9/{n.lower()}" for n in NAMES]
