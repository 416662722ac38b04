"""Settings for benchmark runs: the production settings shape plus the bare baseline views."""

import warnings

from clarm.settings.base import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
DEBUG = False
ALLOWED_HOSTS = ["*"]
LOGGING = {"version": 1, "disable_existing_loggers": False}

# whitenoise warns on every process start when collectstatic has not run; the benches serve no files.
warnings.filterwarnings("ignore", message="No directory at", module="whitenoise.base")
