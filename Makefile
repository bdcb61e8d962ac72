# odoo-droplet: the operator's interface. Every target that exists works.
#
# Against DigitalOcean: set DIGITALOCEAN_TOKEN (and the other secrets) and run `make image droplet`.
# Against the local cloud: `make local-cloud`, then `eval "$(.venv/bin/odoo-droplet local env)"` in your shell.
SHELL := /bin/bash
PY := .venv/bin/python
CLI := .venv/bin/odoo-droplet
CONFIG ?= $(if $(wildcard deploy.yaml),deploy.yaml,examples/deploy.yaml)
PYTEST_ARGS ?=
MYPY := $(PY) -m mypy
ARGS ?=

.PHONY: bootstrap test test-fast lint typecheck demo image droplet verify status destroy doctor logs backup backups restore local-cloud local-down check-config render bench

bootstrap:
	@bash scripts/bootstrap.sh

# Every layer: unit (seconds), integration (real nginx, PostgreSQL, Docker), e2e (the local cloud).
test: bootstrap
	$(PY) -m ruff check .
	$(MYPY)
	$(PY) -m pytest $(PYTEST_ARGS)

# The unit layer only: no Docker, seconds.
test-fast:
	$(PY) -m pytest tests/unit -q $(PYTEST_ARGS)

lint:
	$(PY) -m ruff check .
	$(MYPY)

# mypy over builder/, firstboot/ and localcloud/ (settings in pyproject.toml); also part of lint and test.
typecheck:
	$(MYPY)

# The whole flow on the local cloud, from nothing: snapshot, deploy, a broken deploy rolled back.
demo: bootstrap
	@bash scripts/demo.sh

local-cloud: bootstrap
	$(CLI) local up
	@echo 'now: eval "$$($(CLI) local env)"'

local-down:
	$(CLI) local down

image:
	$(CLI) image --config $(CONFIG) $(ARGS)

droplet:
	$(CLI) droplet --config $(CONFIG) $(ARGS)

verify:
	$(CLI) verify --config $(CONFIG) $(ARGS)

status:
	$(CLI) status --config $(CONFIG) $(ARGS)

# make destroy ARGS="<droplet id> [--force]"
destroy:
	$(CLI) destroy --config $(CONFIG) $(ARGS)

# When it answers 502: read the droplet (the reserved IP's holder, or ARGS="--droplet ID"), change nothing,
# name the probable cause. Exit 0 healthy, 1 a cause found. make doctor ARGS="--json"
doctor:
	$(CLI) doctor --config $(CONFIG) $(ARGS)

# A manual backup now on the droplet holding the reserved IP (ARGS="--droplet ID" for another), uploaded to
# Spaces: exit 0 uploaded, 1 failed or waiting for Spaces on the droplet, 2 no backups there. ARGS="--json"
backup:
	$(CLI) backup-now --config $(CONFIG) $(ARGS)

# The backups in Spaces, newest first (kind, size, Odoo version, last verified). ARGS="--json"
backups:
	$(CLI) backups --config $(CONFIG) $(ARGS)

# Restore a backup in place of the database: make restore ARGS="BACKUP [--droplet ID] [--json]" (BACKUP: an id
# from make backups, or latest). A safety backup first; put back if a gate fails. Exit 0 restored, 1 failed or
# put back, 2 refused (nothing changed)
restore:
	$(CLI) restore --config $(CONFIG) $(ARGS)

# make logs ARGS="--service nginx --since 10m" (odoo, db, redis, nginx, agent; --follow)
logs:
	$(CLI) logs --config $(CONFIG) $(ARGS)

# Figures, not assertions: the local cloud's timings and the first boot against the PRD's runbook.
bench: bootstrap
	$(PY) bench/localcloud_bench.py
	$(PY) bench/firstboot_bench.py

check-config:
	$(CLI) check-config $(CONFIG)

render:
	$(CLI) render --config $(CONFIG) --out out/render
