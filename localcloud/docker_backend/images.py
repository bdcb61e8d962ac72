"""The droplet image: DigitalOcean's `debian-12-x64` for the local cloud.

`ensure_rootfs_image()` debootstraps a Debian 12 rootfs (a minute or two, once per machine);
`ensure_droplet_image()` adds the CAs droplets trust (the local CA and the host's local additions) and the
inner Docker engine's daemon.json: the systemd cgroup driver keeps its containers inside the droplet's cgroup
(so the size's limits hold), and the host's resolvers keep their DNS off Docker's 8.8.8.8 fallback.
The image has no SSH host keys; cloud-init makes them at first boot of each instance id.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import threading
from pathlib import Path

from localcloud.backend import BackendError
from localcloud.ca import ensure_ca
from localcloud.docker_backend.engine import docker, image_id, image_labels, read_text
from localcloud.docker_backend.names import BASE_IMAGE, LABEL_CA, ROOTFS_IMAGE
from localcloud.home import Home

BASE_DIR = Path(__file__).resolve().parents[1] / "images" / "base"
HOST_LOCAL_CAS = Path("/usr/local/share/ca-certificates")

_rootfs_lock = threading.Lock()


def host_nameservers(resolv_conf: str) -> list[str]:
    """The host's resolvers a droplet can reach (loopback ones are the host's own, not reachable from it)."""
    servers = []
    for line in resolv_conf.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] == "nameserver" and not parts[1].startswith(("127.", "::1")):
            servers.append(parts[1])
    return servers


def inner_daemon_json(template: str, resolv_conf: str) -> str:
    """The inner engine's daemon.json: the template plus the host's resolvers.

    A droplet's /etc/resolv.conf names Docker's embedded resolver (127.0.0.11); an inner engine skips
    loopback resolvers and would fall back to 8.8.8.8 for its containers. Naming the host's resolvers keeps
    their lookups where the host's go."""
    config = json.loads(template)
    servers = host_nameservers(resolv_conf)
    if servers:
        config["dns"] = servers
    return json.dumps(config, indent=2) + "\n"


def ensure_rootfs_image() -> str:
    """The debootstrap rootfs (a minute or two, once per machine; the script skips a current image)."""
    with _rootfs_lock:
        proc = subprocess.run(
            ["bash", str(BASE_DIR / "build-rootfs.sh"), ROOTFS_IMAGE], timeout=1800, capture_output=True, text=True
        )
        if proc.returncode != 0:
            raise BackendError(f"build-rootfs.sh failed: {proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    return ROOTFS_IMAGE


def trusted_certs(home: Home) -> dict[str, bytes]:
    certs = {"odl-localcloud-ca.crt": ensure_ca(home).ca_cert.read_bytes()}
    # The host's local additions (e.g. an egress proxy's CA): without them HTTPS from droplets fails here.
    if HOST_LOCAL_CAS.is_dir():
        for p in sorted(HOST_LOCAL_CAS.glob("*.crt")):
            certs.setdefault(f"host-{p.name}", p.read_bytes())
    return certs


def ensure_droplet_image(home: Home | Path) -> str:
    """`odl/debian-12-x64:latest`: the rootfs plus the trusted CAs and the inner engine's daemon.json.

    Skipped when the tag exists with the same inputs (rootfs, CAs, files; label odl.ca_sha256): seconds."""
    home = Home.of(home)
    certs = trusted_certs(home)
    ensure_rootfs_image()
    rootfs_id = image_id(ROOTFS_IMAGE)
    layer_files = {
        "Dockerfile": (BASE_DIR / "Dockerfile").read_bytes(),
        "docker-daemon.json": inner_daemon_json(
            (BASE_DIR / "docker-daemon.json").read_text(), read_text(Path("/etc/resolv.conf"))
        ).encode(),
    }
    inputs = sorted({**certs, **layer_files, "rootfs": rootfs_id.encode()}.items())
    digest = hashlib.sha256(b"".join(k.encode() + v for k, v in inputs)).hexdigest()
    if image_labels(BASE_IMAGE).get(LABEL_CA) == digest:
        return BASE_IMAGE
    ctx = home.build / "base"
    shutil.rmtree(ctx, ignore_errors=True)
    (ctx / "certs").mkdir(parents=True)
    for name, data in layer_files.items():
        (ctx / name).write_bytes(data)
    for name, data in certs.items():
        (ctx / "certs" / name).write_bytes(data)
    docker(
        "build",
        "-q",
        "--build-arg",
        f"ROOTFS={ROOTFS_IMAGE}",
        "--label",
        f"{LABEL_CA}={digest}",
        "-t",
        BASE_IMAGE,
        str(ctx),
        timeout=600,
    )
    return BASE_IMAGE
