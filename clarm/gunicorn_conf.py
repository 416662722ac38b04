"""gunicorn settings for scripts/run.sh (`gunicorn -c clarm/gunicorn_conf.py`): the access log
records no client address, no query string (`?email=…` lookups, `?key=` beacons), no referrer and
no user agent, and every gunicorn log line passes clarm.logredact's filter (tokens in paths)."""

accesslog = "-"
# time, method, path without the query string, status, bytes, duration in ms
access_log_format = '%(t)s "%(m)s %(U)s" %(s)s %(B)s %(M)sms'
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact": {"()": "clarm.logredact.RedactFilter"}},
    "formatters": {"plain": {"format": "%(message)s"}},
    "handlers": {
        "access": {
            "class": "logging.StreamHandler",
            "filters": ["redact"],
            "formatter": "plain",
            "stream": "ext://sys.stdout",
        },
        "error": {"class": "logging.StreamHandler", "filters": ["redact"], "stream": "ext://sys.stderr"},
        # gunicorn's default root logger names this handler
        "console": {"class": "logging.StreamHandler", "filters": ["redact"], "stream": "ext://sys.stderr"},
    },
    "loggers": {
        "gunicorn.access": {"handlers": ["access"], "level": "INFO", "propagate": False},
        "gunicorn.error": {"handlers": ["error"], "level": "WARNING", "propagate": False},
    },
}
