"""What both test settings share: fast hashing, captured mail, eager Celery, the snippet served from
the source folders. `clarm.settings.test` adds PostgreSQL + Redis (the production shape),
`clarm.settings.test_sqlite` the embedded default (SQLite + the database cache, as `make run`)."""

from clarm.settings.base import *  # noqa: F403
from clarm.settings.base import env

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
CELERY_TASK_ALWAYS_EAGER = True
# The stitcher runs in the test's process right after each append commits (as Celery runs eagerly);
# tests of the stitcher itself turn it off (tests/tracking/test_pipeline.py).
CLARM_STITCH_INLINE = True
ALLOWED_HOSTS = ["*"]

# The pytest-xdist worker this process is ("gw0", "gw1", …): each gets its own Redis database or
# SQLite file, so workers never see each other's data.
XDIST_WORKER = env.str("PYTEST_XDIST_WORKER", default="gw0")
XDIST_WORKER_INDEX = int(XDIST_WORKER[2:]) if XDIST_WORKER[2:].isdigit() else 0

# Serve static files (the snippet) from the source folders, as `runserver` does; no collectstatic.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
