#!/usr/bin/env bash
# Leave nothing of the build in the image, per DigitalOcean's marketplace image rules: no pending
# security updates, no passwords, no authorized_keys, private keys or shell history, no SSH host keys
# (cloud-init makes new ones on each droplet), no logs, no cloud-init state (so every droplet is a new
# instance), no caches, an empty /tmp. Idempotent: everything here is "make it absent".
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
# The droplet's paths: the contract's paths file, which travels inside the agent package Packer
# uploaded (rendered from firstboot/contract/layout.py; ODL_PATHS_ENV points elsewhere for a test).
paths_env=${ODL_PATHS_ENV:-/opt/odoo-droplet/firstboot/contract/paths.env}
# shellcheck source=/dev/null
. "$paths_env"

# Pending updates would fail DigitalOcean's image check: refuse to snapshot rather than ship them.
pending=$(apt-get -s upgrade --with-new-pkgs | grep -c '^Inst ' || true)
if [ "$pending" != 0 ]; then
  apt-get -s upgrade --with-new-pkgs | grep '^Inst ' >&2
  echo "90-cleanup: $pending package updates still pending" >&2
  exit 1
fi
apt-get -y -q autoremove --purge
apt-get -y -q clean

# No password for root (`*`: no password can match; SSH keys from DigitalOcean still work).
usermod -p '*' root

# Keys: SSH host keys, every authorized_keys, private keys, known hosts, registry logins.
rm -f /etc/ssh/ssh_host_*_key /etc/ssh/ssh_host_*_key.pub
for home in /root /home/*; do
  [ -d "$home" ] || continue
  rm -f "$home"/.ssh/authorized_keys "$home"/.ssh/authorized_keys2 "$home"/.ssh/known_hosts \
    "$home"/.ssh/id_*
  rm -rf "$home"/.docker
  rm -f "$home"/.bash_history "$home"/.python_history "$home"/.lesshst "$home"/.viminfo \
    "$home"/.wget-hsts "$home"/.sudo_as_admin_successful
  rm -rf "$home"/.cache
done
# Per-droplet material the agent creates at first boot must never be shared between droplets.
rm -rf "$ODL_PATH_TLS_DIR" "$ODL_PATH_STACK_DIR" "$ODL_PATH_SECRETS_ENV" "$ODL_PATH_CREDENTIALS"
find "$ODL_PATH_VAR" -mindepth 1 -delete
rm -f /etc/ssl/private/ssl-cert-snakeoil.key /etc/ssl/certs/ssl-cert-snakeoil.pem
unset HISTFILE
history -c || true

# cloud-init: forget this instance (its user-data included) and its logs, and reset machine-id so each
# droplet gets its own. Not --seed: DigitalOcean has no seed directory, and the local cloud mounts each
# droplet's NoCloud seed read-only there (not part of the image); clean --seed fails on that mount and
# stops before removing the instance state.
cloud-init clean --logs --machine-id
# cloud-init 22.4 deletes the file. An empty one is what machine-id(5) asks of a generic image: systemd
# makes a new id at boot and commits it. ("uninitialized" or a missing file would also mean "first boot":
# systemd-firstboot's prompts on the console and presets re-applied to every unit.)
: >/etc/machine-id

# Logs. wtmp gets a record when systemd-update-utmp stops, i.e. at the power-off that precedes the
# snapshot: stop it now (its record is written here and emptied below; the unit runs again at each boot).
systemctl stop systemd-update-utmp.service 2>/dev/null || true
# Journal files are binary (truncating one corrupts it): journald is told to leave /var (it logs to
# /run until power-off), then the files go. Each droplet's journald makes its own, under its new machine-id.
journalctl --relinquish-var >/dev/null 2>&1 || journalctl --rotate >/dev/null 2>&1 || true
find /var/log/journal -mindepth 1 -delete 2>/dev/null || true
find /var/log -type f \( -name '*.gz' -o -name '*.[0-9]' -o -name '*.old' -o -name '*-[0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9]' \) -delete
find /var/log -type f -exec truncate -s 0 {} +

# Temporary files (this script's own copy is open, so deleting it is harmless).
find /tmp /var/tmp -mindepth 1 -maxdepth 1 -exec rm -rf {} +
sync
echo "90-cleanup: done"
