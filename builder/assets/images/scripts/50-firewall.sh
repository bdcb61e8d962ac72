#!/usr/bin/env bash
# Firewall on (DigitalOcean's marketplace rules): SSH, HTTP and HTTPS in, everything else refused.
# Odoo's ports bind 127.0.0.1 and PostgreSQL/Redis are never published, so nothing else is needed.
#
# The metadata service (169.254.169.254) serves the user-data, secrets included: root alone may reach it
# (cloud-init and the agent run as root). Two rules, kept in ufw's own before.rules so ufw.service loads
# them at every boot, before the network is up and so long before cloud-init's final stage:
#   OUTPUT (ufw-before-output): a packet to it from any process whose uid is not 0 is rejected;
#   DOCKER-USER (what Docker forwards from containers): every container is refused, whatever user it runs
#   as. dockerd keeps an existing DOCKER-USER chain and only adds its jump to it (and a final RETURN).
# Idempotent: ufw skips rules it already has; the before.rules block is added once (a marker line).
set -euo pipefail
metadata=169.254.169.254/32
marker="# odoo-droplet: the metadata service, root only"
before=${ODL_UFW_BEFORE_RULES:-/etc/ufw/before.rules}  # another path for a test only

if ! grep -qxF "$marker" "$before"; then
  grep -qx '# End required lines' "$before" || { echo "50-firewall: $before has no '# End required lines'" >&2; exit 1; }
  block=$(mktemp)
  cat >"$block" <<RULES
$marker
:DOCKER-USER - [0:0]
-A ufw-before-output -d $metadata -m owner ! --uid-owner 0 -j REJECT
-A DOCKER-USER -d $metadata -j REJECT
# odoo-droplet: end
RULES
  sed -i "/^# End required lines\$/r $block" "$before"
  rm -f "$block"
fi

ufw default deny incoming
ufw default allow outgoing
ufw allow 22/tcp
ufw allow 80/tcp
ufw allow 443/tcp
# SSH is allowed before enabling, so Packer's own session survives.
ufw --force enable
# Loaded now too (enable on an already active ufw does not re-read before.rules).
ufw reload
systemctl enable ufw.service
ufw status verbose
ufw status | grep -q '^Status: active'
# The rules are live, not only written.
iptables -C ufw-before-output -d "$metadata" -m owner ! --uid-owner 0 -j REJECT
iptables -C DOCKER-USER -d "$metadata" -j REJECT
echo "50-firewall: metadata service reachable by root only"
