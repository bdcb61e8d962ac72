"""What the Docker backing calls things: containers, volumes, labels, image tags. Pure."""

from __future__ import annotations

import hashlib
import re

ROOTFS_IMAGE = "odl/debian-12-rootfs:bookworm"  # debootstrap's rootfs, what the droplet image builds on
BASE_IMAGE = "odl/debian-12-x64:latest"  # the droplet image (DigitalOcean's debian-12-x64)
BASE_SLUG = "debian-12-x64"
METADATA_CONTAINER = "odl-metadata"

LABEL_ID = "odl.droplet_id"
LABEL_HOST = "odl.host"
LABEL_VOLUME = "odl.docker_volume"
LABEL_CA = "odl.ca_sha256"


def container_name(droplet_id: int) -> str:
    return f"odl-droplet-{droplet_id}"


def volume_name(droplet_id: int) -> str:
    """The droplet's /var/lib/docker (a named volume: see localcloud.docker_backend.snapshots)."""
    return f"odl-droplet-{droplet_id}-docker"


def image_volume_name(image_ref: str) -> str:
    return f"odl-image-{hashlib.sha256(image_ref.encode()).hexdigest()[:16]}-docker"


def snapshot_ref(name: str, droplet_id: int, stamp: int) -> str:
    repo = re.sub(r"[^a-z0-9._-]+", "-", name.lower()).strip("-._")[:100] or "snapshot"
    return f"odl/snapshot-{repo}:{droplet_id}-{stamp}"


def hostname_for(name: str) -> str:
    """A valid hostname label from a droplet name (DO uses the name as the hostname)."""
    label = re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")[:63].strip("-")
    return label or "droplet"
