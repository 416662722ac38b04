#!/usr/bin/env bash
# The whole test suite, twice: on the embedded default (SQLite + the database cache, what `make run`
# uses with nothing configured; tests marked postgres_only are deselected) and on the production
# shape (real PostgreSQL + Redis, started here if they are stopped). A failing pass stops here with
# its exit code, so pytest's summary is always the last line and either pass fails `make test`.
# TEST_DATABASES=sqlite or =postgres runs one pass; arguments go to pytest in both.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/venv.sh
bash scripts/system-deps.sh
bash scripts/node-deps.sh
passes=${TEST_DATABASES:-sqlite postgres}
workers=${TEST_WORKERS:-2}

if [[ " $passes " == *" sqlite "* ]]; then
  echo "== tests on the embedded default (SQLite, database cache)"
  dir=$(mktemp -d)
  rc=0
  env -u DATABASE_URL -u REDIS_URL DJANGO_SETTINGS_MODULE=clarm.settings.test_sqlite CLARM_TEST_SQLITE_DIR="$dir" \
    .venv/bin/pytest -n "$workers" --create-db "$@" || rc=$?
  rm -rf "$dir"
  # 5: every test asked for is postgres_only (deselected here), which is no failure.
  [ "$rc" = 0 ] || [ "$rc" = 5 ] || exit "$rc"
fi

if [[ " $passes " == *" postgres "* ]]; then
  echo "== tests on PostgreSQL and Redis"
  bash scripts/services.sh
  export DATABASE_URL=${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/clarm}
  export REDIS_URL=${TEST_REDIS_URL:-redis://127.0.0.1:6379/0}
  export DJANGO_SETTINGS_MODULE=clarm.settings.test
  exec .venv/bin/pytest -n "$workers" --create-db "$@"
fi
