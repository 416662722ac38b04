"""Settings from the environment, with embedded defaults for a one-machine start.

With no configuration the app runs on SQLite under ./var and runs its background work through a
Celery worker on kombu's filesystem transport (no server to install).  With DATABASE_URL and
REDIS_URL it uses PostgreSQL, Redis and Celery worker + beat: the production shape.
"""

from pathlib import Path
from typing import Any

import dj_database_url
import environ
from celery.schedules import crontab
from csp.constants import NONCE, NONE, SELF
from kombu import Exchange, Queue

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = Path(environ.Env().str("CLARM_VAR_DIR", default=str(BASE_DIR / "var")))

env = environ.Env()

DEBUG = env.bool("DJANGO_DEBUG", default=False)
# True under clarm.settings.production: turns on the checks that refuse an unsafe start.
CLARM_PRODUCTION = False


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
# How long consent records are kept as proof (docs/privacy.md, "Retention").
CLARM_CONSENT_PROOF_MONTHS = env.int("CLARM_CONSENT_PROOF_MONTHS", default=60)
# Public base URL used in links we send (emails, SMS, webhook URLs to paste) and in the snippet.
# Without CLARM_PUBLIC_URL it is where `make run` serves: 127.0.0.1 on $PORT (8000 by default).
CLARM_PUBLIC_URL = env.str("CLARM_PUBLIC_URL", default=f"http://127.0.0.1:{env.int('PORT', default=8000)}").rstrip("/")
# Ingest: how many reverse proxies in front of us append to X-Forwarded-For (0 = use REMOTE_ADDR),
# and requests per minute allowed per write key and client (hashed) IP.
CLARM_TRUSTED_PROXY_COUNT = env.int("CLARM_TRUSTED_PROXY_COUNT", default=0)
CLARM_RATE_LIMIT_PER_MINUTE = env.int("CLARM_RATE_LIMIT_PER_MINUTE", default=6000)
# The event pipeline (identity.stitching.stitcher, docs/ingest.md). Partitions: the unit one stitcher
# claims (workspace id modulo this); batch: pending events per stitch transaction; inline: stitch in
# the process that appended, right after its commit (the tests; a deployment runs `manage.py stitch`).
CLARM_STITCH_PARTITIONS = env.int("CLARM_STITCH_PARTITIONS", default=16)
CLARM_STITCH_BATCH = env.int("CLARM_STITCH_BATCH", default=1000)
CLARM_STITCH_MAX_ATTEMPTS = env.int("CLARM_STITCH_MAX_ATTEMPTS", default=5)
CLARM_STITCH_INLINE = env.bool("CLARM_STITCH_INLINE", default=False)
# Stored events on PostgreSQL are partitioned by month (tracking.partitions, docs/ingest.md "Storage"):
# the daily beat task keeps the current month and this many after it created ahead.
CLARM_EVENT_MONTHS_AHEAD = env.int("CLARM_EVENT_MONTHS_AHEAD", default=3)
# The bearer token of the Prometheus endpoint /metrics; without one /metrics answers 404.
CLARM_METRICS_TOKEN = env.str("CLARM_METRICS_TOKEN", default="")
# Inbound and messaging providers (docs/integrations.md, docs/agents.md): each SDK's API base URL,
# so tests and benchmarks point at local servers.
CLARM_TWILIO_API_URL = env.str("CLARM_TWILIO_API_URL", default="https://api.twilio.com")
CLARM_SENDGRID_API_URL = env.str("CLARM_SENDGRID_API_URL", default="https://api.sendgrid.com")
CLARM_STRIPE_API_URL = env.str("CLARM_STRIPE_API_URL", default="https://api.stripe.com")
CLARM_CALENDLY_API_URL = env.str("CLARM_CALENDLY_API_URL", default="https://api.calendly.com")
# Destinations (docs/destinations.md): each provider's API base URL, so tests and benchmarks point
# at local servers; owner-set URLs may reach private/loopback addresses only when this is on.
CLARM_META_API_URL = env.str("CLARM_META_API_URL", default="https://graph.facebook.com")
CLARM_GOOGLE_DATAMANAGER_API_URL = env.str(
    "CLARM_GOOGLE_DATAMANAGER_API_URL", default="https://datamanager.googleapis.com"
)
CLARM_GOOGLE_OAUTH_TOKEN_URL = env.str("CLARM_GOOGLE_OAUTH_TOKEN_URL", default="https://oauth2.googleapis.com/token")
CLARM_SLACK_API_URL = env.str("CLARM_SLACK_API_URL", default="https://slack.com")
CLARM_HUBSPOT_API_URL = env.str("CLARM_HUBSPOT_API_URL", default="https://api.hubapi.com")
CLARM_PIPEDRIVE_API_URL = env.str("CLARM_PIPEDRIVE_API_URL", default="https://api.pipedrive.com")
CLARM_SALESFORCE_API_URL = env.str("CLARM_SALESFORCE_API_URL", default="https://login.salesforce.com")
CLARM_GOHIGHLEVEL_API_URL = env.str("CLARM_GOHIGHLEVEL_API_URL", default="https://services.leadconnectorhq.com")
CLARM_ALLOW_PRIVATE_DESTINATIONS = env.bool("CLARM_ALLOW_PRIVATE_DESTINATIONS", default=False)
# A workspace's own model endpoint (docs/agents.md): how long Clarm waits for its answer before the
# message is handed to a person instead.
CLARM_AGENT_MODEL_TIMEOUT_SECONDS = env.float("CLARM_AGENT_MODEL_TIMEOUT_SECONDS", default=5.0)
# Enrichment (docs/enrichment.md): provider base URLs, and the deployment's own company provider
# and key, whose answers fill the cache shared by every workspace (default: offline, no key).
CLARM_IPINFO_API_URL = env.str("CLARM_IPINFO_API_URL", default="https://ipinfo.io")
CLARM_PDL_API_URL = env.str("CLARM_PDL_API_URL", default="https://api.peopledatalabs.com")
CLARM_SNITCHER_API_URL = env.str("CLARM_SNITCHER_API_URL", default="https://api.snitcher.com")
CLARM_DEALFRONT_API_URL = env.str("CLARM_DEALFRONT_API_URL", default="https://api.lf-discover.com")
CLARM_ENRICHMENT_PROVIDER = env.str("CLARM_ENRICHMENT_PROVIDER", default="offline")
CLARM_ENRICHMENT_API_KEY = env.str("CLARM_ENRICHMENT_API_KEY", default="")
# The dashboard's rollup processor runs at most once per workspace per this many seconds after
# ingest (it counts everything committed by then); 0 runs it after every ingest call.
CLARM_ROLLUPS_DEBOUNCE_SECONDS = env.int("CLARM_ROLLUPS_DEBOUNCE_SECONDS", default=2)
# People of the demo workspace's sample business besides its two journeys (clarm.demo; `make run`).
CLARM_DEMO_PEOPLE = env.int("CLARM_DEMO_PEOPLE", default=500)

INSTALLED_APPS = [
    "clarm.apps.ClarmConfig",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "csp",
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
    "enrichment",
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
    "csp.middleware.CSPMiddleware",
    "clarm.middleware.NoStoreMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "workspaces.middleware.CurrentWorkspaceMiddleware",
]

# Content-Security-Policy on every answer (django-csp): scripts and <style> blocks only from our own
# origin or carrying the request's nonce (`nonce="{{ request.csp_nonce }}"`); no inline handlers, no
# eval, no plugins, no framing, forms post only to us. `style="…"` attributes stay allowed
# (style-src-attr): many templates use them, and CSS in an attribute cannot run script.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF, NONCE],
        "style-src-attr": ["'unsafe-inline'"],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [NONE],
        "frame-ancestors": [NONE],
        "form-action": [SELF],
    }
}

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


def database_config(url: str) -> dict[str, Any]:
    """The Django database settings for `url`, with what each engine needs here. The SQLite test
    settings (clarm.settings.test_sqlite) build theirs with this too, so they test what `make run` runs."""
    config: dict[str, Any] = dict(dj_database_url.parse(url, conn_max_age=env.int("DATABASE_CONN_MAX_AGE", default=60)))
    options = config.setdefault("OPTIONS", {})
    if config["ENGINE"] == "django.db.backends.sqlite3":
        # The embedded default is written by gunicorn's threads and the Celery worker at once.
        # Write-ahead logging lets readers go on during a write; IMMEDIATE transactions take the
        # write lock at BEGIN, so writers queue instead of failing on a lock upgrade; a writer waits
        # up to 20 s for the lock. Without these, 8 concurrent senders got 503 "Storage is busy"
        # on more than half their requests (tests/tracking/test_concurrent_batches.py on SQLite).
        options.update(
            transaction_mode="IMMEDIATE",
            timeout=20,
            init_command="PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        )
    elif config["ENGINE"] == "django.db.backends.postgresql" and env.bool("DATABASE_PREPARED_STATEMENTS", default=True):
        # Statements sent through `clarm.rowsinsert.bound_cursor` (server-side binding: the edge's
        # append, the stitcher's batch statements) are prepared on their connection the first time;
        # Django's own cursors bind on the client and never prepare, whatever this says. Unprepared,
        # PostgreSQL parsed and planned the append on every request (0.40 ms of its CPU per single
        # event against 0.25 ms prepared; docs/benchmarks.md §14). Off behind a pooler that cannot
        # keep prepared statements.
        options.setdefault("prepare_threshold", 0)
    return config


DATABASES = {"default": database_config(env.str("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'clarm.sqlite3'}"))}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env.str("REDIS_URL", default="")
REDIS_SOCKET_TIMEOUT = 0.25
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            # A Redis that hangs costs a request a quarter of a second per call, not forever.
            "OPTIONS": {"socket_timeout": REDIS_SOCKET_TIMEOUT, "socket_connect_timeout": REDIS_SOCKET_TIMEOUT},
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.db.DatabaseCache",
            "LOCATION": "clarm_cache",
        }
    }

# Celery: Redis in production; kombu's filesystem transport for the embedded default, so the
# worker and beat run with nothing to install.
CELERY_VISIBILITY_TIMEOUT = 40
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    # kombu's Redis transport, but a worker's prefetch slot survives an ack Redis did not answer.
    CELERY_BROKER_TRANSPORT = "clarm.broker:Transport"
    CELERY_BROKER_TRANSPORT_OPTIONS: dict = {
        # A publish waits at most this long on a broker that does not answer (the default is forever).
        "socket_connect_timeout": 1.0,
        "socket_timeout": 1.0,
        "max_retries": 0,
        # A task whose worker died (kill -9, OOM, lost host) is put back on the queue once it has
        # been unacknowledged this long. Live workers call kombu's restore every second and it acts
        # on every tenth call, so the task runs again within about 50 s. No task may be held or run
        # longer than this: countdowns hop (clarm.tasks_base), long tasks ack early (clarm.tasks_retry).
        "visibility_timeout": CELERY_VISIBILITY_TIMEOUT,
        "unacked_restore_interval": 1,
    }
else:
    CELERY_BROKER_URL = "filesystem://"
    _queue_dir = VAR_DIR / "queue"
    # The transport lists these folders when a task is sent; create them so any process can send.
    for _folder in (_queue_dir, VAR_DIR / "queue-processed", VAR_DIR / "queue-control"):
        _folder.mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_queue_dir),
        "data_folder_out": str(_queue_dir),
        "processed_folder": str(VAR_DIR / "queue-processed"),
        # The exchange-to-queue tables (one file per queue's exchange); kombu's default is ./control.
        "control_folder": str(VAR_DIR / "queue-control"),
        "store_processed": False,
    }
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TASK_EAGER_PROPAGATES = True
# A task is acknowledged after it ran, so a worker that dies mid-task loses nothing; a pool child
# killed mid-task is requeued at once; each worker process reserves one task at a time (so the
# tasks a dead worker held are few, and none waits behind a long one).
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A plain `.delay()` (pages, beat) retries a failed publish once: with the socket timeouts above a
# sick broker costs it about 2 s, not Celery's default of 4 tries. Requests from providers and
# ingest clients do not retry at all (clarm.publish.task_publish).
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.2}
CELERY_TIMEZONE = "UTC"
# Processors on queues of their own, so a slow one never holds back another's latency (a score
# never waits behind a rollup batch). A worker started without -Q consumes every queue here (make
# run, the benches); production runs workers per queue, e.g. `celery -A clarm worker -Q enrichment`
# (docs/ingest.md, "Operation"). Each queue has its own direct exchange: a message reaches one queue.
_celery_queues = ("celery", "enrichment", "rollups")
CELERY_TASK_QUEUES = tuple(Queue(name, Exchange(name), routing_key=name) for name in _celery_queues)
CELERY_TASK_DEFAULT_QUEUE = "celery"
CELERY_TASK_ROUTES = {"enrichment.*": {"queue": "enrichment"}, "identity.rollups_*": {"queue": "rollups"}}
CELERY_BEAT_SCHEDULE: dict = {
    # Runs every 15 minutes and sends to each workspace whose local time has just passed
    # Friday 17:00 (see agents.tasks.weekly_summaries_due).
    "weekly-summaries": {"task": "agents.weekly_summaries_due", "schedule": crontab(minute="*/15")},
    # The built-in agents: plan from new bookings/messages and send what is due (agents.tick).
    "agents-tick": {"task": "agents.tick", "schedule": crontab(minute="*")},
    "retention-purge": {"task": "identity.retention_purge_all", "schedule": crontab(hour=3, minute=10)},
    # Event months created ahead (tracking.partitions), well before the month turns.
    "event-months-ahead": {"task": "tracking.event_months_ahead", "schedule": crontab(hour=1, minute=35)},
    "workspace-exports-expire": {"task": "identity.workspace_exports_expire", "schedule": crontab(hour=3, minute=40)},
    "rotate-ip-salts": {"task": "tracking.ip_salts_rotate", "schedule": crontab(hour=0, minute=5)},
    "webhook-deliveries-resume": {"task": "integrations.deliveries_resume", "schedule": crontab(minute="*/10")},
    "consent-records-resume": {"task": "identity.consent_records_resume", "schedule": crontab(minute="*/10")},
    "destinations-sweep": {"task": "integrations.destinations_sweep", "schedule": crontab(minute="*")},
    # Picks up enrichment entries left queued when a drain message was lost (enrichment.queue).
    "enrichment-drain-sweep": {"task": "enrichment.events_drain", "schedule": crontab(minute="*")},
    # Intent scores fade between a person's events: rescore those computed more than 6 h ago.
    "enrichment-intent-decay": {"task": "enrichment.intent_decay", "schedule": crontab(minute=17)},
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
# Its rate limits (login failures, password resets, sign-ups; the admin login uses them too) count
# per client address by clarm.clientip.client_ip, the trusted-proxy rule of ingest.
ACCOUNT_ADAPTER = "workspaces.adapter.AccountAdapter"
LOGIN_REDIRECT_URL = "workspaces:home"
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_EMAIL_VERIFICATION = env.str("ACCOUNT_EMAIL_VERIFICATION", default="mandatory")
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = True
ACCOUNT_LOGOUT_ON_GET = False
ACCOUNT_EMAIL_SUBJECT_PREFIX = "[Clarm] "
ACCOUNT_DEFAULT_HTTP_PROTOCOL = env.str("ACCOUNT_DEFAULT_HTTP_PROTOCOL", default="http")

# The console backend (the one-machine default) prints messages, links included, to the terminal;
# clarm.settings.production refuses to start with it (clarm.checks).
EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = env.str("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=587)
EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=True)
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=10)
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
    # The ingest and chat widget endpoints are plain Django views: tracking.openapi and
    # agents.openapi describe them.
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "tracking.openapi.ingest_paths_add",
        "agents.openapi.widget_paths_add",
    ],
}

# Every line passes clarm.logredact.RedactFilter: no email, phone, IP, key or link token in logs.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact": {"()": "clarm.logredact.RedactFilter"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "filters": ["redact"]}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="WARNING")},
}
# The worker logs through LOGGING above (and its filter) instead of Celery's own root handler.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
