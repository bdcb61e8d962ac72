#!/usr/bin/env bash
# Builds the Debian 12 root filesystem of the local cloud's `debian-12-x64` image with debootstrap and imports
# it as ${ROOTFS_TAG}. This is the slow part (a few minutes on 2 cores); the local CA is layered on top
# separately (Dockerfile next to this script) so a new CA does not cost a new debootstrap.
# Usage: build-rootfs.sh [TAG]   (skips the build when TAG exists and was built from these same files;
# FORCE=1 rebuilds)
set -euo pipefail
ROOTFS_TAG=${1:-odl/debian-12-rootfs:bookworm}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
SECURITY_MIRROR=${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
here=$(cd "$(dirname "$0")" && pwd)
# The image records what it was built from, so an edited package list or cloud-init config rebuilds it.
inputs=$(cat "$here/build-rootfs.sh" "$here"/cloud.cfg.d/* | sha256sum | cut -c1-16)
built_from=$(docker image inspect -f '{{index .Config.Labels "odl.rootfs_inputs"}}' "$ROOTFS_TAG" 2>/dev/null || true)
if [ "${FORCE:-0}" != 1 ] && [ "$built_from" = "$inputs" ]; then
  echo "build-rootfs: $ROOTFS_TAG is current, skipping"; exit 0
fi
work=$(mktemp -d /var/tmp/odl-rootfs.XXXXXX)
trap '[ "${KEEP:-0}" = 1 ] || rm -rf "$work"' EXIT
root="$work/rootfs"

# What DigitalOcean's stock Debian 12 image offers to cloud-init and to an operator, plus what systemd needs to
# boot in a container (dbus for hostnamectl, which cloud-init calls). No Docker engine: as on DO, a Packer
# template or user-data installs docker.io from the Debian mirror. python3-cffi-backend is named because
# debootstrap does not resolve the virtual package python3-cryptography (cloud-init) depends on.
PACKAGES=systemd,systemd-sysv,dbus,openssh-server,openssh-client,cloud-init,locales,python3,ca-certificates,\
iproute2,iputils-ping,curl,sudo,procps,less,netbase,gnupg,apt-transport-https,iptables,kmod,\
ifupdown,isc-dhcp-client,lsb-release,tzdata,python3-cffi-backend

debootstrap --variant=minbase --include="$PACKAGES" bookworm "$root" "$MIRROR"

# Apt sources as on a stock droplet (deb822), security updates included.
rm -f "$root/etc/apt/sources.list"
cat >"$root/etc/apt/sources.list.d/debian.sources" <<SRC
Types: deb
URIs: $MIRROR
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $SECURITY_MIRROR
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC

# Locales: C.UTF-8 by default, en_US.UTF-8 generated (what most tools and PostgreSQL expect).
sed -i 's/^# *en_US.UTF-8/en_US.UTF-8/' "$root/etc/locale.gen"
chroot "$root" locale-gen >/dev/null
echo 'LANG=C.UTF-8' >"$root/etc/default/locale"

# cloud-init: NoCloud seed (written by the local cloud), nothing else probed; Docker owns the network.
install -m 0644 "$here/cloud.cfg.d/90-odl-localcloud.cfg" "$root/etc/cloud/cloud.cfg.d/90-odl-localcloud.cfg"

# systemd in a container: units that need real hardware or a console would only fail.
for unit in getty@tty1.service serial-getty@.service systemd-udevd.service systemd-udev-trigger.service \
  systemd-remount-fs.service sys-kernel-config.mount sys-kernel-debug.mount sys-kernel-tracing.mount \
  systemd-modules-load.service networking.service ifup@.service e2scrub_reap.service \
  systemd-networkd-wait-online.service; do
  ln -sf /dev/null "$root/etc/systemd/system/$unit"
done
# Marketplace image rules (DESIGN.md 5): no host keys (regenerated per droplet), no passwords, no machine id,
# no logs, no apt lists.
rm -f "$root"/etc/ssh/ssh_host_*
chroot "$root" passwd -l root >/dev/null
: >"$root/etc/machine-id"
rm -f "$root/var/lib/dbus/machine-id"
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb
find "$root/var/log" -type f -exec truncate -s0 {} +
echo localhost >"$root/etc/hostname"

# Import with the settings systemd needs as PID 1 (`container=docker` tells it, and cloud-init,
# that it runs in a container). Its stop signal, SIGRTMIN+3, is set by the Dockerfile layer and the backend.
tar -C "$root" --numeric-owner --xattrs -c . | docker import \
  --change 'CMD ["/sbin/init"]' \
  --change 'ENV container=docker' \
  --change "LABEL odl.rootfs_inputs=$inputs" \
  --change 'LABEL org.opencontainers.image.description="odoo-droplet local cloud: Debian 12 rootfs (debootstrap)"' \
  - "$ROOTFS_TAG"
echo "build-rootfs: built $ROOTFS_TAG"
