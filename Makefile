# Pitboss developer commands. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV := .venv
STAMP := $(VENV)/.installed

# Passed through to scripts/test.sh, e.g. make test PYTEST_ARGS='-x -k wallet'
export PYTEST_ARGS

.PHONY: help venv services stop status run test soak lint format bench

help:
	@echo 'make run       migrate, seed demo data, run web + Celery worker + beat (Ctrl-C stops all)'
	@echo 'make test      run the tests (PYTEST_ARGS="..." for extra pytest arguments)'
	@echo 'make soak      seeded money simulation: SEEDS=1-200 MINUTES=0.1 (or STEPS=60) WORKERS=4'
	@echo 'make bench     benchmark suite, table in bench-results/latest.md (QUICK=1: short mode)'
	@echo 'make lint      ruff check and ruff format --check'
	@echo 'make format    ruff format and ruff check --fix'
	@echo 'make services  start the private PostgreSQL and Redis; prints their URLs as exports'
	@echo 'make status    say whether the private servers run'
	@echo 'make stop      stop the private PostgreSQL and Redis'
	@echo 'make venv      create .venv and install the project (done by run/test/lint)'

venv: $(STAMP)
	@:

$(STAMP): pyproject.toml
	@bash scripts/venv.sh

services:
	@bash scripts/services.sh start

stop:
	@bash scripts/services.sh stop

status:
	@bash scripts/services.sh status

run: venv
	@bash scripts/run.sh

test: venv
	@bash scripts/test.sh

# The seeded money simulation (simulator/soak.py, docs/simulation.md).
export SEEDS MINUTES STEPS WORKERS
soak: venv
	@bash scripts/soak.sh

# Benchmark (bench/run.py): full mode takes minutes; QUICK=1 is the short CI mode.
export QUICK
bench: venv
	@bash scripts/bench.sh

# Both checks run even when the first fails; either failing fails the target.
lint: venv
	@rc=0; $(VENV)/bin/ruff check . || rc=1; $(VENV)/bin/ruff format --check . || rc=1; exit $$rc

format: venv
	@$(VENV)/bin/ruff format .
	@$(VENV)/bin/ruff check --fix .
