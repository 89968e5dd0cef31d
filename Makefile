# Two commands matter: `make demo` runs the pipeline end to end on local defaults,
# `make test` runs every check. Both set up the virtualenv first if it is missing or stale.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo backfill-demo up test lint unit bench install clean prerequisites

# The pinned requirements, then franz-ivan itself as an editable install (its pyproject.toml): the
# package is found the way a deployment finds it, and nothing puts plugins/ on a path.
$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	$(BIN)/pip install --quiet --no-deps --editable .
	touch $(STAMP)

install: $(STAMP)

## Start Tansu, use the local PostgreSQL and price API, run both DAGs once, print the rows stored.
demo: $(STAMP)
	$(BIN)/python -m devtools.demo

## Offline: fill an hour from the local price API's candle history, print the rows and the gap finder's view.
backfill-demo: $(STAMP)
	$(BIN)/python -m devtools.backfill_demo

## Run the real Airflow services (scheduler, triggerer, dag-processor, api-server) on local defaults
## with both DAGs unpaused; prints the UI address and login. Ctrl-C stops everything.
## EXECUTOR=celery: the CeleryExecutor on the local Redis with WORKERS workers of CONCURRENCY slots.
EXECUTOR ?= local
WORKERS ?= 2
CONCURRENCY ?= 2
up: $(STAMP)
	$(BIN)/python -m devtools.up --executor $(EXECUTOR) --workers $(WORKERS) --concurrency $(CONCURRENCY)

## Lint, type-check, then the whole test suite (unit, DAG integrity, integration, end to end).
## First the machine: socat, chromium and a running PostgreSQL (installed/started as root, else named).
## The suite mostly waits on services, so it runs on TEST_WORKERS pytest-xdist workers (each with its
## own broker, Airflow home, databases and topics), a module at a time per worker (module fixtures
## start once); the tests marked `alone` run after, one at a time.
TEST_WORKERS ?= 4
TEST_ARGS ?= --durations=20
test: prerequisites lint
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadscope --no-loadscope-reorder -m "not alone" $(TEST_ARGS)
	$(BIN)/python -m pytest -m alone $(TEST_ARGS) || test $$? -eq 5  # 5: none marked

prerequisites:
	devtools/test_prerequisites.sh

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/mypy

## Fast tier only: pure logic, DAG integrity and the deployment files, no services.
unit: $(STAMP)
	$(BIN)/python -m pytest tests/unit tests/dags tests/deploy -m "not integration"

## Benchmarks (drain throughput, scale-out, DAG parse cost, producer fan-out); figures in BENCHMARKS.md.
bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .airflow-local .pytest_cache .mypy_cache .ruff_cache test-artifacts
