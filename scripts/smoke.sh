#!/usr/bin/env bash
# Boots the embedded default (`make run` on SQLite, fresh data dir, on SMOKE_PORT so the public URL
# follows it), then logs in as the demo user in headless Chromium and opens every page a member can
# reach in the demo workspace (scripts/smoke_pages.py); fails on any 4xx/5xx or console error.
set -euo pipefail
cd "$(dirname "$0")/.."
export CLARM_VAR_DIR
CLARM_VAR_DIR=$(mktemp -d)
export PORT=${SMOKE_PORT:-8765}
unset DATABASE_URL REDIS_URL DJANGO_SETTINGS_MODULE
log="$CLARM_VAR_DIR/run.log"
setsid bash scripts/run.sh >"$log" 2>&1 &
pid=$!
cleanup() { kill -- -"$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$CLARM_VAR_DIR"; }
trap cleanup EXIT
# The first start writes the demo business before serving (docs/demo.md: up to a minute on a busy machine).
for _ in $(seq 1 240); do
  curl -fsS -o /dev/null "http://127.0.0.1:$PORT/" 2>/dev/null && break
  kill -0 "$pid" 2>/dev/null || { echo "smoke: make run exited early:"; cat "$log"; exit 1; }
  sleep 1
done
for path in / /accounts/login/ /static/clarm.js /api/schema/; do
  code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT$path")
  [ "$code" = 200 ] || { echo "smoke: GET $path answered $code"; cat "$log"; exit 1; }
done
# The pipeline on the embedded default: an event answered 202 reaches its customer through the
# stitcher `make run` started.
key=$(grep -o 'Write key: [^ ]*' "$log" | head -1 | cut -d' ' -f3)
curl -fsS -o /dev/null -X POST "http://127.0.0.1:$PORT/api/track" -H "X-Clarm-Key: $key" -H 'Content-Type: application/json' \
  -d '{"event":"identify","visitor_id":"smoke-device","email":"smoke@example.com","message_id":"smoke-1"}'
stitched=""
for _ in $(seq 1 20); do
  if .venv/bin/python manage.py shell -c "from tracking.models import Event; import sys; \
sys.exit(0 if Event.objects.filter(message_id='smoke-1', customer__email='smoke@example.com').exists() else 1)"; then
    stitched=yes; break
  fi
  sleep 0.5
done
[ -n "$stitched" ] || { echo "smoke: an event answered 202 was not stitched within 10 s"; tail -50 "$log"; exit 1; }
bash scripts/system-deps.sh
DJANGO_SETTINGS_MODULE=clarm.settings .venv/bin/python scripts/smoke_pages.py "http://127.0.0.1:$PORT" || {
  echo "smoke: server log:"; tail -50 "$log"; exit 1; }
echo "smoke: the embedded default served /, login, the snippet, the API schema and every workspace page on SQLite, and stitched an event"
