# The two commands: `make run` (the product on its embedded defaults) and `make test` (the suite on
# the embedded default, SQLite, then on real PostgreSQL and Redis). Everything else is what CI adds.
.PHONY: run test lint typecheck ci venv bench

run:
	bash scripts/run.sh

test:
	bash scripts/test.sh

lint:
	bash scripts/venv.sh && .venv/bin/ruff check . && .venv/bin/ruff format --check . && .venv/bin/lint-imports --no-cache

typecheck:
	bash scripts/venv.sh && .venv/bin/mypy .

bench:
	bash scripts/bench.sh
