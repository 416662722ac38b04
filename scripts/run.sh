#!/usr/bin/env bash
# The product on its embedded defaults: SQLite under ./var, a stitcher (events → customers), a Celery
# worker + beat on the filesystem transport (nothing to install), a demo workspace with a login and,
# on the first start, its sample business written through the pipeline (docs/demo.md), served on
# 127.0.0.1:$PORT (8000).
# With DATABASE_URL and REDIS_URL set, the same script runs the production shape.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/venv.sh
mkdir -p var/queue var/queue-processed
export DJANGO_SETTINGS_MODULE=${DJANGO_SETTINGS_MODULE:-clarm.settings}
export ACCOUNT_EMAIL_VERIFICATION=${ACCOUNT_EMAIL_VERIFICATION:-optional}
# Exported: without CLARM_PUBLIC_URL, the settings of every process here (web, worker, the demo
# command) put this port in the snippet, webhook URLs and the links we send.
export PORT=${PORT:-8000}
PY=.venv/bin/python
$PY manage.py migrate --noinput >/dev/null
[ -n "${REDIS_URL:-}" ] || $PY manage.py createcachetable >/dev/null
$PY manage.py collectstatic --noinput >/dev/null
$PY manage.py demo --base-url "http://127.0.0.1:${PORT}"

.venv/bin/celery -A clarm worker --beat --pool=solo --loglevel=warning \
  --schedule var/celerybeat-schedule &
WORKER=$!
$PY manage.py stitch &
STITCHER=$!
trap 'kill $WORKER $STITCHER 2>/dev/null || true' EXIT INT TERM
echo "Serving Clarm on http://127.0.0.1:${PORT}/ (Ctrl-C stops)"
.venv/bin/gunicorn -c clarm/gunicorn_conf.py clarm.wsgi:application --bind "127.0.0.1:${PORT}" --workers 2 --threads 4 \
  --log-level warning
