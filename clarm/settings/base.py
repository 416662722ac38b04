"""Settings from the environment, with embedded defaults for a one-machine start.

With no configuration the app runs on SQLite under ./var and runs its background work through a
Celery worker on kombu's filesystem transport (no server to install).  With DATABASE_URL and
REDIS_URL it uses PostgreSQL, Redis and Celery worker + beat: the production shape.
"""

from pathlib import Path

import dj_database_url
import environ
from celery.schedules import crontab

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = Path(environ.Env().str("CLARM_VAR_DIR", default=str(BASE_DIR / "var")))

env = environ.Env()

DEBUG = env.bool("DJANGO_DEBUG", default=False)


def _install_secret_key() -> str:
    """Without DJANGO_SECRET_KEY (the embedded one-machine start), a random key made once for this
    install and kept in the data folder: never a constant that is public in the repository, since it
    signs unsubscribe, preferences and data-request links and derives the credentials key.
    `clarm.settings.production` refuses to start without DJANGO_SECRET_KEY instead."""
    import os
    import secrets
    import time

    path = VAR_DIR / "secret_key"
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(50))
    for _ in range(50):  # another process may be between creating and writing the file
        key = path.read_text().strip()
        if key:
            return key
        time.sleep(0.01)
    raise RuntimeError(f"{path} is empty: delete it, or set DJANGO_SECRET_KEY.")


SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="") or _install_secret_key()
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

# The deployment's region: a workspace's data lives only in its region's database.
CLARM_REGION = env.str("CLARM_REGION", default="eu")
CLARM_REGIONS = ("eu", "us", "uk", "au")
# Public base URL used in links we send (emails, SMS, webhook URLs to paste).
CLARM_PUBLIC_URL = env.str("CLARM_PUBLIC_URL", default="http://127.0.0.1:8000").rstrip("/")
# Ingest: how many reverse proxies in front of us append to X-Forwarded-For (0 = use REMOTE_ADDR),
# and requests per minute allowed per write key and client (hashed) IP.
CLARM_TRUSTED_PROXY_COUNT = env.int("CLARM_TRUSTED_PROXY_COUNT", default=0)
CLARM_RATE_LIMIT_PER_MINUTE = env.int("CLARM_RATE_LIMIT_PER_MINUTE", default=6000)
# The dashboard's rollup processor runs at most once per workspace per this many seconds after
# ingest (it counts everything committed by then); 0 runs it after every ingest call.
CLARM_ROLLUPS_DEBOUNCE_SECONDS = env.int("CLARM_ROLLUPS_DEBOUNCE_SECONDS", default=2)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django.contrib.sites",
    "rest_framework",
    "drf_spectacular",
    "allauth",
    "allauth.account",
    "workspaces",
    "identity",
    "tracking",
    "agents",
    "integrations",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "clarm.middleware.RejectNulMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "workspaces.middleware.CurrentWorkspaceMiddleware",
]

ROOT_URLCONF = "clarm.urls"
WSGI_APPLICATION = "clarm.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "workspaces.context_processors.workspace",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        env.str("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'clarm.sqlite3'}"),
        conn_max_age=env.int("DATABASE_CONN_MAX_AGE", default=60),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Django turns psycopg's prepared statements off; with this threshold psycopg prepares only the
    # statements the code asks it to (tracking.eventwrite.prepared_fetchall: the ingest's hot
    # statement). Django's own queries bind client-side and are never prepared. Behind a pooler in
    # transaction mode this needs PgBouncer >= 1.21 with max_prepared_statements set.
    DATABASES["default"].setdefault("OPTIONS", {})["prepare_threshold"] = 2**31 - 1
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.db.DatabaseCache",
            "LOCATION": "clarm_cache",
        }
    }

# Celery: Redis in production; kombu's filesystem transport for the embedded default, so the
# worker and beat run with nothing to install.
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    CELERY_BROKER_TRANSPORT_OPTIONS: dict = {}
else:
    CELERY_BROKER_URL = "filesystem://"
    _queue_dir = VAR_DIR / "queue"
    # The transport lists these folders when a task is sent; create them so any process can send.
    for _folder in (_queue_dir, VAR_DIR / "queue-processed"):
        _folder.mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_queue_dir),
        "data_folder_out": str(_queue_dir),
        "processed_folder": str(VAR_DIR / "queue-processed"),
        "store_processed": False,
    }
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE: dict = {
    # Runs every 15 minutes and sends to each workspace whose local time has just passed
    # Friday 17:00 (see agents.tasks.weekly_summaries_due).
    "weekly-summaries": {"task": "agents.weekly_summaries_due", "schedule": crontab(minute="*/15")},
    "retention-purge": {"task": "identity.retention_purge_all", "schedule": crontab(hour=3, minute=10)},
    "rotate-ip-salts": {"task": "tracking.ip_salts_rotate", "schedule": crontab(hour=0, minute=5)},
    "webhook-deliveries-resume": {"task": "integrations.deliveries_resume", "schedule": crontab(minute="*/10")},
    # The dashboard's rollups: recount the last two days (events committed out of id order).
    "rollups-rebuild-recent": {"task": "identity.rollups_rebuild_recent", "schedule": crontab(hour=2, minute=20)},
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
SITE_ID = 1
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "workspaces:home"
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_EMAIL_VERIFICATION = env.str("ACCOUNT_EMAIL_VERIFICATION", default="mandatory")
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = True
ACCOUNT_LOGOUT_ON_GET = False
ACCOUNT_EMAIL_SUBJECT_PREFIX = "[Clarm] "
ACCOUNT_DEFAULT_HTTP_PROTOCOL = env.str("ACCOUNT_DEFAULT_HTTP_PROTOCOL", default="http")

EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Clarm <no-reply@clarm.localhost>")

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "staticfiles"
# The snippet is loaded by a fixed URL (no content hash), so browsers revalidate it every 5 minutes.
WHITENOISE_MAX_AGE = 300
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = "/media/"
MEDIA_ROOT = VAR_DIR / "media"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

REST_FRAMEWORK: dict[str, object] = {
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": [],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": None,
    "EXCEPTION_HANDLER": "clarm.api.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Clarm API",
    "DESCRIPTION": "Ingest and read API of Clarm, first-party customer tracking.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="WARNING")},
}
