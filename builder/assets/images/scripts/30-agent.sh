#!/usr/bin/env bash
# The first-boot agent: the firstboot package (uploaded by Packer to the contract's package_dir),
# its systemd units from firstboot/systemd/, enabled but not started (it runs on each droplet made
# from the snapshot, after cloud-init). Idempotent.
set -euo pipefail
# The droplet's paths: the contract's paths file, which travels inside the agent package Packer
# uploaded (rendered from firstboot/contract/layout.py; ODL_PATHS_ENV points elsewhere for a test).
paths_env=${ODL_PATHS_ENV:-/opt/odoo-droplet/firstboot/contract/paths.env}
# shellcheck source=/dev/null
. "$paths_env"
install_dir=$ODL_PATH_INSTALL_DIR
package_dir=$ODL_PATH_PACKAGE_DIR
units=$package_dir/systemd
main_unit=odoo-droplet-firstboot.service

if [ ! -f "$units/$main_unit" ]; then
  echo "30-agent: $units/$main_unit is missing: the firstboot package must ship its unit" >&2
  exit 1
fi
# Bytecode from the operator's machine is not wanted; Python writes its own on the droplet.
find "$package_dir" -name __pycache__ -type d -prune -exec rm -rf {} +
chown -R root:root "$package_dir"
chmod -R u=rwX,go=rX "$package_dir"
# Standard library only on the droplet: importing the package with Debian's python3 proves it.
PYTHONPATH=$install_dir python3 -c 'import firstboot.config, firstboot.contract.layout'

for unit in "$units"/*.service "$units"/*.timer; do
  [ -e "$unit" ] || continue
  install -m 0644 -o root -g root "$unit" /etc/systemd/system/
done
systemctl daemon-reload
systemctl enable "$main_unit"
# Timers (e.g. the proofs upload retry) are meant to run on every droplet.
for timer in "$units"/*.timer; do
  [ -e "$timer" ] || continue
  systemctl enable "$(basename "$timer")"
done

# The login message (firstboot/motd.sh): names the generated-credentials file on a droplet made without
# user-data (DESIGN.md section 3) and shows how the first boot went. Prints no secret.
if [ -d /etc/update-motd.d ]; then
  install -m 0755 -o root -g root "$package_dir/motd.sh" /etc/update-motd.d/90-odoo-droplet
fi

# The agent's own directories, root's alone; the baked settings (no secret in them) readable by root
# only, like what cloud-init writes.
install -d -m 0700 -o root -g root "$ODL_PATH_ETC" "$ODL_PATH_VAR"
for f in "$ODL_PATH_DEPLOY_JSON" "$ODL_PATH_BAKED_JSON"; do
  [ -f "$f" ] || { echo "30-agent: $f was not uploaded" >&2; exit 1; }
  chown root:root "$f"
  chmod 0600 "$f"
done
echo "30-agent: $(systemctl is-enabled "$main_unit") $main_unit"
