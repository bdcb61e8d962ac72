"""The local cloud's droplets on the local Docker engine (implements localcloud.backend.Backend).

One module per concern:

- names.py: what things are called (containers, volumes, labels, image tags). Pure.
- droplets.py: a droplet as a container: host numbers, seeds, limits, `docker create` arguments (pure), the
  watcher that restarts a droplet that rebooted itself, `droplet_exec`.
- networks.py: the `odl-cloud` and `odl-metadata` Docker networks.
- images.py: the droplet image (`debian-12-x64`): the debootstrap rootfs plus trusted CAs.
- metadata.py: DigitalOcean's metadata documents and the container that serves them.
- snapshots.py: commits plus the copy of the droplet's inner-Docker volume.
- backend.py: `DockerBackend`, which ties them together.
- engine.py: the one `docker` runner.

Addresses come from a `localcloud.network.Network`, paths from a `localcloud.home.Home`.
"""

from localcloud.backend import DropletRuntime
from localcloud.docker_backend.backend import DockerBackend
from localcloud.docker_backend.droplets import (
    SYSTEMD_FLAGS,
    RebootWatcher,
    clamp_limits,
    create_args,
    droplet_exec,
    pick_host,
    reboot_requested,
    render_meta_data,
    render_user_data,
)
from localcloud.docker_backend.engine import exists, image_labels
from localcloud.docker_backend.images import (
    ensure_droplet_image,
    ensure_rootfs_image,
    host_nameservers,
    inner_daemon_json,
)
from localcloud.docker_backend.metadata import (
    METADATA_IP,
    ensure_metadata_service,
    metadata_document,
    with_reserved_ip,
)
from localcloud.docker_backend.names import (
    BASE_IMAGE,
    BASE_SLUG,
    LABEL_HOST,
    LABEL_ID,
    LABEL_VOLUME,
    METADATA_CONTAINER,
    ROOTFS_IMAGE,
    container_name,
    hostname_for,
    image_volume_name,
    snapshot_ref,
    volume_name,
)
from localcloud.docker_backend.networks import ensure_networks

__all__ = [
    "BASE_IMAGE",
    "BASE_SLUG",
    "LABEL_HOST",
    "LABEL_ID",
    "LABEL_VOLUME",
    "METADATA_CONTAINER",
    "METADATA_IP",
    "ROOTFS_IMAGE",
    "SYSTEMD_FLAGS",
    "DockerBackend",
    "DropletRuntime",
    "RebootWatcher",
    "clamp_limits",
    "container_name",
    "create_args",
    "droplet_exec",
    "ensure_droplet_image",
    "ensure_metadata_service",
    "ensure_networks",
    "ensure_rootfs_image",
    "exists",
    "host_nameservers",
    "hostname_for",
    "image_labels",
    "image_volume_name",
    "inner_daemon_json",
    "metadata_document",
    "pick_host",
    "reboot_requested",
    "render_meta_data",
    "render_user_data",
    "snapshot_ref",
    "volume_name",
    "with_reserved_ip",
]
