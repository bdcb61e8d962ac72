"""Snapshots: a droplet's disk as a new image, its inner Docker engine's data included.

An inner dockerd cannot run overlay2 on the container's own overlay root (an overlay mount on it fails here)
and vfs would copy every layer in full, so /var/lib/docker is a named volume per droplet,
`odl-droplet-<id>-docker`, on the host's ext4, where the inner engine uses overlay2. `docker commit` leaves
volumes out, so `take_snapshot()` does two things: commits the stopped container to
`odl/snapshot-<name>:<droplet id>-<stamp>` with a label `odl.docker_volume=<volume>`, and copies the droplet's
volume into that per-image volume (`odl-image-<hash>-docker`; `cp -a` in a helper container with
CAP_SYS_ADMIN, so overlay's whiteouts and trusted.* xattrs survive). A droplet created from an image with that
label first gets the image's volume copied into its own (`seed_volume`). So images pulled inside a droplet
during a Packer build are in every droplet made from the snapshot, and deleting the snapshot
(`delete_snapshot`) removes its volume too.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from localcloud.backend import BackendError, SnapshotResult
from localcloud.docker_backend.engine import docker, exists, image_labels
from localcloud.docker_backend.names import (
    BASE_IMAGE,
    BASE_SLUG,
    LABEL_ID,
    LABEL_VOLUME,
    ROOTFS_IMAGE,
    image_volume_name,
    snapshot_ref,
    volume_name,
)


def copy_volume(src: str, dst: str) -> None:
    # cp -a keeps owners, modes, device nodes (overlay whiteouts) and xattrs (trusted.* needs SYS_ADMIN).
    docker(
        "run",
        "--rm",
        "--network",
        "none",
        "--cap-add",
        "SYS_ADMIN",
        "-v",
        f"{src}:/from:ro",
        "-v",
        f"{dst}:/to",
        ROOTFS_IMAGE,
        "cp",
        "-a",
        "/from/.",
        "/to/",
        timeout=1800,
    )


def volume_bytes(volume: str) -> int:
    proc = docker("volume", "inspect", "-f", "{{.Mountpoint}}", volume, check=False, timeout=30)
    root = Path(proc.stdout.strip())
    if proc.returncode != 0 or not root.is_dir():
        return 0
    du = subprocess.run(["du", "-sb", str(root)], capture_output=True, text=True, timeout=300)
    return int(du.stdout.split()[0]) if du.returncode == 0 and du.stdout else 0


def seed_volume(droplet_id: int, image: str) -> str:
    """Create the droplet's /var/lib/docker volume, filled from the image's when it is a snapshot's."""
    volume = volume_name(droplet_id)
    docker("volume", "create", "--label", f"{LABEL_ID}={droplet_id}", volume, timeout=60)
    source_volume = image_labels(image).get(LABEL_VOLUME)
    if source_volume and exists("volume", source_volume):
        copy_volume(source_volume, volume)
    return volume


def take_snapshot(container: str, droplet_id: int, name: str) -> SnapshotResult:
    ref = snapshot_ref(name, droplet_id, int(time.time() * 1000))
    image_volume = image_volume_name(ref)
    docker("volume", "create", "--label", f"odl.image_ref={ref}", image_volume, timeout=60)
    try:
        copy_volume(volume_name(droplet_id), image_volume)
        docker(
            "commit",
            "--change",
            f"LABEL {LABEL_VOLUME}={image_volume}",
            "--change",
            f"LABEL odl.snapshot_of={droplet_id}",
            container,
            ref,
            timeout=1800,
        )
    except BackendError:
        docker("volume", "rm", "-f", image_volume, check=False, timeout=60)
        raise
    size = int(docker("image", "inspect", "-f", "{{.Size}}", ref, timeout=30).stdout.strip() or 0)
    size += volume_bytes(image_volume)
    return SnapshotResult(ref, round(max(size, 1) / 1e9, 2))


def delete_snapshot(ref: str) -> None:
    if ref in (BASE_IMAGE, ROOTFS_IMAGE, BASE_SLUG):
        raise BackendError(f"{ref} is a distribution image, not a snapshot")
    volume = image_labels(ref).get(LABEL_VOLUME)
    # -f: droplets made from the snapshot keep running (as on DO); their layers stay until they go.
    proc = docker("rmi", "-f", ref, check=False, timeout=300)
    if proc.returncode != 0 and "No such image" not in proc.stderr:
        raise BackendError(f"docker rmi {ref}: {proc.stderr.strip()}")
    if volume:
        docker("volume", "rm", "-f", volume, check=False, timeout=60)
