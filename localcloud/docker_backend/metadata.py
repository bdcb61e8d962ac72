"""DigitalOcean's metadata service for local droplets: the documents (pure), the container that serves them
(localcloud/metadata/server.py at 169.254.169.254 on `odl-metadata`), and the reserved-IP updates.

Each droplet's document is a file in `Home.metadata_records`, named by the droplet's odl-metadata address;
the server reads it on every request, so a reserved-IP move is visible at once.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from localcloud.backend import DropletSpec
from localcloud.docker_backend.engine import docker, image_id, private_dir, write_private
from localcloud.docker_backend.images import ensure_rootfs_image
from localcloud.docker_backend.names import METADATA_CONTAINER
from localcloud.docker_backend.networks import ensure_networks
from localcloud.home import Home
from localcloud.network import NETWORK, Network

METADATA_IP = NETWORK.metadata_ip
SERVER_DIR = Path(__file__).resolve().parents[1] / "metadata"

MetadataDoc = dict[str, Any]


# ---------------------------------------------------------------- pure


def metadata_document(spec: DropletSpec, ipv4: str, reserved_ip: str | None = None,
                      net: Network = NETWORK) -> MetadataDoc:
    """The droplet's `/metadata/v1.json`, with DigitalOcean's field names."""
    doc: MetadataDoc = {
        "droplet_id": spec.id,
        "hostname": spec.name,
        "vendor_data": "#cloud-config\n{}\n",
        "public_keys": list(spec.ssh_public_keys),
        "region": spec.region,
        "interfaces": {
            "public": [
                {
                    "ipv4": {"ip_address": ipv4, "netmask": "255.255.255.0", "gateway": net.gateway},
                    "type": "public",
                }
            ],
        },
        "floating_ip": {"ipv4": {"active": False}},
        "reserved_ip": {"ipv4": {"active": False}},
        "dns": {"nameservers": [net.gateway]},
        "tags": list(spec.tags),
        "features": {"dhcp_enabled": False},
    }
    if spec.user_data:
        doc["user_data"] = spec.user_data
    return with_reserved_ip(doc, reserved_ip)


def with_reserved_ip(doc: MetadataDoc, reserved_ip: str | None) -> MetadataDoc:
    state = {"active": True, "ip_address": reserved_ip} if reserved_ip else {"active": False}
    # DO kept the old name as an alias when floating IPs became reserved IPs.
    return {**doc, "reserved_ip": {"ipv4": dict(state)}, "floating_ip": {"ipv4": dict(state)}}


def moved_reserved_ip(doc: MetadataDoc, ip: str, target: str | None) -> MetadataDoc | None:
    """The document after reserved `ip` moved to `target` (a droplet address, or None): None if unchanged."""
    public = doc["interfaces"]["public"][0]["ipv4"]["ip_address"]
    current = doc.get("reserved_ip", {}).get("ipv4", {}).get("ip_address")
    if public == target:
        return with_reserved_ip(doc, ip)
    if current == ip:
        return with_reserved_ip(doc, None)
    return None


# ---------------------------------------------------------------- shell


def record_path(records: Path, host: int, net: Network = NETWORK) -> Path:
    return records / f"{net.metadata_address(host)}.json"


def write_record(records: Path, host: int, doc: MetadataDoc, net: Network = NETWORK) -> None:
    write_private(record_path(records, host, net), json.dumps(doc))


def move_reserved_ip(records: Path, ip: str, target: str | None) -> None:
    """Update every droplet's document for reserved `ip` now pointing at `target` (or nowhere)."""
    for path in records.glob("*.json"):
        try:
            doc = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        new = moved_reserved_ip(doc, ip, target)
        if new is not None:
            write_private(path, json.dumps(new))


def ensure_metadata_service(home: Home | Path, net: Network = NETWORK) -> str:
    """Run the metadata server container at 169.254.169.254 (idempotent). Returns its address."""
    records = private_dir(Home.of(home).metadata_records)
    ensure_networks(net)
    image = ensure_rootfs_image()
    # Recreated when what it runs changes: the image, the record dir, the server's code.
    code = (SERVER_DIR / "server.py").read_bytes()
    config = hashlib.sha256(f"{image_id(image)}|{records}|{SERVER_DIR}|".encode() + code).hexdigest()[:16]
    proc = docker(
        "inspect",
        "-f",
        '{{.State.Running}} {{index .Config.Labels "odl.config"}}',
        METADATA_CONTAINER,
        check=False,
        timeout=30,
    )
    if proc.returncode == 0:
        running, _, label = proc.stdout.strip().partition(" ")
        if label == config:
            if running != "true":
                docker("start", METADATA_CONTAINER, timeout=60)
            return net.metadata_ip
        docker("rm", "-f", METADATA_CONTAINER, timeout=60)
    docker(
        "run",
        "-d",
        "--name",
        METADATA_CONTAINER,
        "--label",
        f"odl.config={config}",
        "--restart",
        "unless-stopped",
        "--network",
        net.metadata_net,
        "--ip",
        net.metadata_ip,
        "-v",
        f"{SERVER_DIR}:/srv/odl-metadata:ro",
        "-v",
        f"{records}:/srv/metadata:ro",
        "-e",
        "ODL_METADATA_DIR=/srv/metadata",
        "-e",
        "PYTHONDONTWRITEBYTECODE=1",
        image,
        "python3",
        "/srv/odl-metadata/server.py",
        timeout=120,
    )
    return net.metadata_ip
