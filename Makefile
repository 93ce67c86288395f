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

pytest: $(VENV)/.synced system-deps
	@bash scripts/npm-oracles.sh
	$(VENV)/bin/pytest -q -p no:cacheprovider $(PYTEST_ARGS)

test: lint typecheck pytest

clean:
	rm -rf $(VENV) $(BOOT) .pytest_cache .mypy_cache
