"""Test settings: the production shape (PostgreSQL + Redis) with fast hashing and captured mail."""

from clarm.settings.base import *  # noqa: F403
from clarm.settings.base import env

DATABASES["default"]["CONN_MAX_AGE"] = 0  # noqa: F405
if not env.str("DATABASE_URL", default="").startswith("postgres"):
    raise RuntimeError("The tests run against PostgreSQL: set DATABASE_URL (make test does).")
if not REDIS_URL:  # noqa: F405
    raise RuntimeError("The tests run against Redis: set REDIS_URL (make test does).")
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
CELERY_TASK_ALWAYS_EAGER = True
# Eager tasks ignore the countdown: a long window keeps the rollup processor out of the measured
# requests of hot-path tests (the first ingest of a workspace in a test still runs it).
CLARM_ROLLUPS_DEBOUNCE_SECONDS = 60
ALLOWED_HOSTS = ["*"]

# Each pytest-xdist worker gets its own Redis database, so flushing the cache between tests in one
# worker never touches another's rate-limit counters.
_worker = env.str("PYTEST_XDIST_WORKER", default="gw0")
_worker_index = int(_worker[2:]) if _worker[2:].isdigit() else 0
_redis_db_base = env.int("CLARM_TEST_REDIS_DB_BASE", default=1)
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": f"{REDIS_URL.rsplit('/', 1)[0]}/{_redis_db_base + _worker_index}",  # noqa: F405
    }
}

# Serve static files (the snippet) from the source folders, as `runserver` does; no collectstatic.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
