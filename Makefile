# The two commands a newcomer needs: `make run` and `make test`.
.PHONY: run test lint

run:
	./scripts/run.sh

test:
	./scripts/test.sh

lint:
	.venv/bin/ruff check . && .venv/bin/ruff format --check . && .venv/bin/lint-imports --no-cache
