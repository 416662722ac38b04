"""Test settings for the embedded default: what `make run` uses with nothing configured (SQLite and
Django's database cache, no Redis), so the second pass of `make test` proves what a newcomer meets.

Each pytest-xdist worker gets its own SQLite file (pytest-django adds the worker's suffix to the
test database NAME), under CLARM_TEST_SQLITE_DIR (default: the data folder's `test/`).
"""

from pathlib import Path

from clarm.settings.test_common import *  # noqa: F403
from clarm.settings.test_common import VAR_DIR, database_config, env

_test_dir = Path(env.str("CLARM_TEST_SQLITE_DIR", default=str(VAR_DIR / "test")))
_test_dir.mkdir(parents=True, exist_ok=True)
# A file, not pytest-django's in-memory default: the live-server (browser) tests read the database
# from another thread, as gunicorn's threads do.
DATABASES = {"default": database_config(f"sqlite:///{_test_dir / 'clarm.sqlite3'}")}
DATABASES["default"]["CONN_MAX_AGE"] = 0
DATABASES["default"]["TEST"] = {"NAME": str(_test_dir / "test_clarm.sqlite3")}
REDIS_URL = ""
CACHES = {"default": {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "clarm_cache"}}
