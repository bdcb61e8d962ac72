#!/usr/bin/env bash
# Firewall on (DigitalOcean's marketplace rules): SSH, HTTP and HTTPS in, everything else refused.
# Odoo's ports bind 127.0.0.1 and PostgreSQL/Redis are never published, so nothing else is needed.
# Idempotent: ufw skips rules it already has.
set -euo pipefail
ufw default deny incoming
ufw default allow outgoing
ufw allow 22/tcp
ufw allow 80/tcp
ufw allow 443/tcp
# SSH is allowed before enabling, so Packer's own session survives.
ufw --force enable
systemctl enable ufw.service
ufw status verbose
ufw status | grep -q '^Status: active'
