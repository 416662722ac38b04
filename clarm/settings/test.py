"""Test settings: the production shape (PostgreSQL + Redis) with fast hashing and captured mail."""

from clarm.settings.test_common import *  # noqa: F403
from clarm.settings.test_common import XDIST_WORKER_INDEX, env

DATABASES["default"]["CONN_MAX_AGE"] = 0  # noqa: F405
if not env.str("DATABASE_URL", default="").startswith("postgres"):
    raise RuntimeError(
        "clarm.settings.test runs against PostgreSQL: set DATABASE_URL (make test does), "
        "or use clarm.settings.test_sqlite for the embedded default."
    )
if not REDIS_URL:  # noqa: F405
    raise RuntimeError("clarm.settings.test runs against Redis: set REDIS_URL (make test does).")
# Eager tasks ignore the countdown: a long window keeps the rollup processor out of the measured
# requests of hot-path tests (the first ingest of a workspace in a test still runs it).
CLARM_ROLLUPS_DEBOUNCE_SECONDS = 60

# Each pytest-xdist worker gets its own Redis database, so flushing the cache between tests in one
# worker never touches another's rate-limit counters.
_redis_db_base = env.int("CLARM_TEST_REDIS_DB_BASE", default=1)
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": f"{REDIS_URL.rsplit('/', 1)[0]}/{_redis_db_base + XDIST_WORKER_INDEX}",  # noqa: F405
        "OPTIONS": CACHES["default"]["OPTIONS"],  # noqa: F405
    }
}
