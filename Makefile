# ClawTrace Lakehouse — `make help` lists the targets.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.8
export DO_NOT_TRACK := 1
export DAGSTER_DISABLE_TELEMETRY := 1
# Never let uv fetch a Python build: use the machine's 3.11.
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)
# Write every package's bytecode at install: uv skips it by default, and an environment with
# PYTHONDONTWRITEBYTECODE=1 (or a read-only venv) then compiles Dagster and dbt from source in every process,
# about 6-8 s of CPU per cold `clawtrace tick` and per run the Dagster daemon launches.
export UV_COMPILE_BYTECODE := 1
DAGSTER_HOME ?= $(CURDIR)/.dagster_home
LAKE ?= $(CURDIR)/.clawtrace
PORT ?= 3000
API_PORT ?= 8000

.PHONY: help install demo test test-unit lint fmt bench clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

$(BIN)/clawtrace: pyproject.toml uv.lock
	@command -v uv >/dev/null 2>&1 || $(PYTHON) -m uv --version >/dev/null 2>&1 \
		|| $(PYTHON) -m pip install -q "uv==$(UV_VERSION)" \
		|| $(PYTHON) -m pip install -q --break-system-packages "uv==$(UV_VERSION)"
	@if command -v uv >/dev/null 2>&1; then uv sync --frozen --python 3.11; else $(PYTHON) -m uv sync --frozen --python 3.11; fi
	@touch $@

WEB := clawtrace_api/web
# The web UI's one npm dependency (ECharts) from its lock file; without npm the UI still works, minus charts.
$(WEB)/node_modules/.package-lock.json: $(WEB)/package.json $(WEB)/package-lock.json
	@if command -v npm >/dev/null 2>&1; then npm ci --prefix $(WEB) --ignore-scripts --no-audit --no-fund --loglevel=error; \
		else echo "npm not found: the web UI will draw no charts (install Node.js and run make install)"; fi

install: $(BIN)/clawtrace $(WEB)/node_modules/.package-lock.json ## Create .venv from uv.lock (uv sync --frozen), the UI's node_modules from its npm lock

demo: install ## API + simulated agents sending through its ingest + one tick, then the Dagster UI on 127.0.0.1:$(PORT)
	@mkdir -p $(DAGSTER_HOME) && cp dagster-instance.yaml $(DAGSTER_HOME)/dagster.yaml
	DAGSTER_HOME=$(DAGSTER_HOME) CLAWTRACE_LAKE=$(LAKE) $(BIN)/clawtrace demo --port $(PORT) --api-port $(API_PORT)

test: install ## Run the whole test suite (installs PostgreSQL and Chromium from Debian when absent)
	@bash scripts/system-packages.sh
	$(BIN)/pytest -q -n 2 --dist loadfile

test-unit: install ## Run the unit tests only
	$(BIN)/pytest -q tests/unit

lint: install ## ruff check, format check, mypy --strict on the kernel
	$(BIN)/ruff check . && $(BIN)/ruff format --check . && $(BIN)/mypy --strict clawtrace_pipelines/core

fmt: install ## Format the code
	$(BIN)/ruff format . && $(BIN)/ruff check --fix .

bench: install ## Run the benchmarks (prints one JSON line each)
	$(BIN)/python bench/bronze.py

clean: ## Remove the venv, the local lake and the Dagster home
	rm -rf $(VENV) .clawtrace .dagster_home .pytest_cache .ruff_cache
