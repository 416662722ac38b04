#!/usr/bin/env bash
# The whole test suite against real PostgreSQL and Redis (started here if they are stopped).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/venv.sh
bash scripts/services.sh
bash scripts/system-deps.sh
bash scripts/node-deps.sh
export DATABASE_URL=${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/clarm}
export REDIS_URL=${TEST_REDIS_URL:-redis://127.0.0.1:6379/0}
export DJANGO_SETTINGS_MODULE=clarm.settings.test
exec .venv/bin/pytest -n "${TEST_WORKERS:-2}" --create-db "$@"
