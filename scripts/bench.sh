#!/usr/bin/env bash
# Runs the benchmarks in bench/ against PostgreSQL + Redis; figures go in docs/benchmarks.md.
#   make bench                                   # all of them (about 12 minutes)
#   BENCHES="ingest pages stitch_move" bash scripts/bench.sh
#   BENCH_ARGS_ingest="--seconds 5 --rounds 2" BENCHES=ingest bash scripts/bench.sh
# Each bench makes its own databases (clarm_bench_*) and uses Redis dbs 11-13; output is kept in
# bench/results/<name>.log (tables: bench/results/<name>.md).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/venv.sh
bash scripts/services.sh
if ! command -v wrk >/dev/null; then
  apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
fi
mkdir -p bench/results
export PYTHONWARNINGS=ignore
for b in ${BENCHES:-ingest pages stitch_move optout_latency}; do  # also: soak (bench/soak.py, about 3 minutes)
  echo "== bench/$b.py"
  args_var="BENCH_ARGS_$b"
  # shellcheck disable=SC2086
  .venv/bin/python "bench/$b.py" ${!args_var:-} 2>"bench/results/$b.err" | tee "bench/results/$b.log"
done
