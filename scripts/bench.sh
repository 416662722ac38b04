#!/usr/bin/env bash
# Runs the benchmarks in bench/ against PostgreSQL + Redis (figures go in docs/benchmarks.md).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/venv.sh
bash scripts/services.sh
if ! command -v wrk >/dev/null; then
  apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
fi
for b in ${BENCHES:-ingest}; do
  echo "== bench/$b.py"
  .venv/bin/python "bench/$b.py"
done
