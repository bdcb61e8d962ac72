#!/usr/bin/env bash
# The droplet's own hardening (DESIGN.md section 8):
#   - no login-capable default user: cloud-init makes none on the droplets (users: []), root keeps logging
#     in with the account's keys (disable_root: false), and a user the base image or the build droplet's
#     cloud-init made (Debian's `debian`, with passwordless sudo) is deleted with its sudoers entry;
#   - unattended-upgrades on, for Debian's security updates (its default origins are the security ones);
#   - sshd: no forwarding of any kind, root by key only, no passwords (a drop-in: the package's
#     sshd_config stays untouched, so its upgrades apply cleanly);
#   - /proc with hidepid=2: a user sees their own processes only (root sees all). Remounted by a unit early
#     at boot, which works in a container too (where systemd-remount-fs does not run).
# Idempotent.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
apt_opts=(-y -q -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)

# ---- cloud-init: no default user on the droplets made from this snapshot.
install -d -m 0755 /etc/cloud/cloud.cfg.d
cat >/etc/cloud/cloud.cfg.d/80-odoo-droplet-users.cfg <<'CFG'
# odoo-droplet: no default login user (Debian's `debian`, with passwordless sudo). Root logs in with the
# account's SSH keys (DigitalOcean's public-keys), and with nothing else.
users: []
disable_root: false
ssh_pwauth: false
CFG
chmod 0644 /etc/cloud/cloud.cfg.d/80-odoo-droplet-users.cfg
for user in debian admin; do
  if id -u "$user" >/dev/null 2>&1 && [ "$(id -u "$user")" -ge 1000 ]; then
    pkill -KILL -u "$user" 2>/dev/null || true
    userdel --remove "$user" 2>/dev/null || userdel "$user"
    echo "55-hardening: removed the default user $user"
  fi
done
rm -f /etc/sudoers.d/90-cloud-init-users
# No sudo rule without a password is left for anyone but root.
if grep -rlE '^[^#]*NOPASSWD' /etc/sudoers /etc/sudoers.d 2>/dev/null | grep -q .; then
  grep -rnE '^[^#]*NOPASSWD' /etc/sudoers /etc/sudoers.d >&2
  echo "55-hardening: a passwordless sudo rule is left" >&2
  exit 1
fi

# ---- security updates, unattended.
apt-get "${apt_opts[@]}" install --no-install-recommends unattended-upgrades
cat >/etc/apt/apt.conf.d/20auto-upgrades <<'APT'
// odoo-droplet: refresh the package lists and install security updates every day (Debian's default
// origins for unattended-upgrades are the security archive's: see 50unattended-upgrades).
APT::Periodic::Update-Package-Lists "1";
APT::Periodic::Unattended-Upgrade "1";
APT
systemctl enable unattended-upgrades.service apt-daily.timer apt-daily-upgrade.timer >/dev/null 2>&1 || true

# ---- sshd: first value wins, and Debian's sshd_config includes sshd_config.d/*.conf at its top.
install -d -m 0755 /etc/ssh/sshd_config.d
cat >/etc/ssh/sshd_config.d/50-odoo-droplet.conf <<'SSHD'
# odoo-droplet: root by key only, no passwords, no forwarding.
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
X11Forwarding no
AllowTcpForwarding no
AllowAgentForwarding no
AllowStreamLocalForwarding no
PermitTunnel no
SSHD
chmod 0644 /etc/ssh/sshd_config.d/50-odoo-droplet.conf
# The configuration is valid (sshd -t needs host keys: a throwaway one, removed with the others in 90-cleanup).
install -d -m 0755 /run/sshd
probe_key=$(mktemp -u /tmp/odl-sshd-probe.XXXXXX)
ssh-keygen -q -t ed25519 -N '' -f "$probe_key"
sshd -t -h "$probe_key"
rm -f "$probe_key" "$probe_key.pub"

# ---- /proc: other users' processes hidden (hidepid=2), from early boot on.
cat >/etc/systemd/system/odoo-droplet-hidepid.service <<'UNIT'
[Unit]
Description=odoo-droplet: hide other users' processes (/proc hidepid=2)
DefaultDependencies=no
After=systemd-remount-fs.service
Before=sysinit.target cloud-init-local.service

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/mount -o remount,hidepid=2 /proc

[Install]
WantedBy=sysinit.target
UNIT
chmod 0644 /etc/systemd/system/odoo-droplet-hidepid.service
systemctl daemon-reload
systemctl enable odoo-droplet-hidepid.service
echo "55-hardening: no default user, unattended-upgrades on, sshd drop-in, /proc hidepid=2 at boot"
