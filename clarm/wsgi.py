import os

from django.conf import settings
from django.core import checks
from django.core.management.base import SystemCheckError
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clarm.settings")
full_application = get_wsgi_application()

from clarm.ingeststack import ingest_routed  # noqa: E402 (after Django is set up)

application = ingest_routed(full_application)

if settings.CLARM_PRODUCTION:
    # A production web process refuses to start on an error-level system check (such as a mail
    # backend that prints password-reset links to the log, clarm.E001), as `manage.py` commands do.
    errors = [m for m in checks.run_checks() if m.level >= checks.ERROR and not m.is_silenced()]
    if errors:
        raise SystemCheckError("\n".join(str(e) for e in errors))
