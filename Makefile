# Two commands on a fresh clone: `make run` serves, `make test` runs every gate.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
STAMP := $(VENV)/.installed

.PHONY: install run test lint typecheck pytest bench bench-load demo openapi clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/skillproof serve --port $(PORT)

lint: $(STAMP)
	$(BIN)/ruff check .

typecheck: $(STAMP)
	$(BIN)/mypy app

pytest: $(STAMP)
	$(BIN)/pytest -q

test: lint typecheck pytest

bench: $(STAMP)
	$(BIN)/python -m bench.run_all

# Whole attempts and submit p99 at 64 learners (SQLite, PostgreSQL; 1 and 2 workers). Uses wrk if installed
# (Debian: apt-get install -y wrk) to show the /health ceiling, and taskset to pin server and client apart.
bench-load: $(STAMP)
	$(BIN)/python -m bench.attempts_load

demo: $(STAMP)
	$(BIN)/skillproof demo --url http://127.0.0.1:$(PORT)

openapi: $(STAMP)
	$(BIN)/python -m app.openapi_export > openapi/openapi.json

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
