# odoo-droplet: the operator's interface. Every target that exists works.
SHELL := /bin/bash
PY := .venv/bin/python
CLI := .venv/bin/odoo-droplet
CONFIG ?= $(if $(wildcard deploy.yaml),deploy.yaml,examples/deploy.yaml)
PYTEST_ARGS ?=

.PHONY: bootstrap test test-fast lint render check-config

bootstrap:
	@bash scripts/bootstrap.sh

# Every layer: unit (seconds), integration (real nginx, PostgreSQL, Docker), e2e (the local cloud).
test: bootstrap
	$(PY) -m ruff check .
	$(PY) -m pytest $(PYTEST_ARGS)

# The unit layer only: no Docker, seconds.
test-fast:
	$(PY) -m pytest tests/unit -q $(PYTEST_ARGS)

lint:
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

check-config:
	$(CLI) check-config $(CONFIG)

render:
	$(CLI) render --config $(CONFIG) --out out/render
