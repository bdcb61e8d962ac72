#!/usr/bin/env bash
# Security updates and the packages every droplet runs. Idempotent: apt installs what is missing only.
# Debian's own sources are used as they are (plain-HTTP mirrors); no source is added.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
apt_opts=(-y -q -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)

# cloud-init on the build droplet may still hold the apt lock when Packer connects: wait (bounded).
if command -v cloud-init >/dev/null; then
  timeout 600 cloud-init status --wait >/dev/null || echo "10-base: cloud-init status --wait gave up; continuing"
fi

apt-get update -q
# DigitalOcean's marketplace rules: no pending security updates in the image. --with-new-pkgs lets an
# update that needs a new package (a kernel ABI bump) through instead of holding it back.
apt-get "${apt_opts[@]}" upgrade --with-new-pkgs

# docker.io: Debian's engine; Compose v2 comes from PyPI (20-compose.sh). python3-venv for that venv.
# python3-boto3: the agent's Spaces uploads. ufw: the firewall (50-firewall.sh).
apt-get "${apt_opts[@]}" install --no-install-recommends \
  docker.io nginx certbot python3-boto3 python3-venv ufw \
  ca-certificates curl openssl cloud-init openssh-server

# The agent renders the only nginx site; Debian's welcome page must not answer meanwhile.
rm -f /etc/nginx/sites-enabled/default

# Where Packer uploads next (the agent package, the baked settings): these two must exist before the
# upload, and the contract's paths file travels inside that upload, so this is the one place a script
# names them itself (tests/unit/test_layout_contract.py holds them equal to firstboot/contract/layout.py).
# Every other path comes from the contract's paths file, in 30-agent.sh and after.
install -d -m 0755 -o root -g root /opt/odoo-droplet
install -d -m 0700 -o root -g root /etc/odoo-droplet

systemctl enable docker.service nginx.service
systemctl start docker.service
# dockerd answers a few seconds after start: poll (bounded) rather than guess.
for _ in $(seq 1 60); do
  docker info >/dev/null 2>&1 && break
  sleep 1
done
docker info >/dev/null
echo "10-base: $(docker version --format 'docker {{.Server.Version}}'), $(nginx -v 2>&1), $(certbot --version 2>&1)"
