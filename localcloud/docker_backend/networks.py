"""The two Docker networks droplets live on: `odl-cloud` (their public IPv4s; the host is its gateway) and
`odl-metadata` (internal; the metadata service answers at 169.254.169.254 by source address)."""

from __future__ import annotations

import json

from localcloud.backend import BackendError
from localcloud.docker_backend.engine import docker
from localcloud.network import NETWORK, Network


def network_specs(net: Network) -> tuple[tuple[str, str, str, str, bool], ...]:
    """(name, subnet, gateway, dynamic range, internal) of each network."""
    return (
        (net.cloud_net, net.cloud_subnet, net.gateway, net.cloud_dynamic_range, False),
        (net.metadata_net, net.metadata_subnet, net.metadata_gateway, net.metadata_dynamic_range, True),
    )


def ensure_networks(net: Network = NETWORK) -> None:
    """Create `odl-cloud` and `odl-metadata` if missing (idempotent; a mismatched subnet is an error)."""
    for name, subnet, gateway, dynamic, internal in network_specs(net):
        proc = docker("network", "inspect", "-f", "{{json .IPAM.Config}}", name, check=False, timeout=30)
        if proc.returncode == 0:
            subnets = {c.get("Subnet") for c in json.loads(proc.stdout or "[]") or []}
            if subnet not in subnets:
                raise BackendError(f"network {name} exists with subnets {subnets}, expected {subnet}")
            continue
        args = [
            "network",
            "create",
            "--driver",
            "bridge",
            "--subnet",
            subnet,
            "--gateway",
            gateway,
            "--ip-range",
            dynamic,
            "-o",
            f"com.docker.network.bridge.name={name}",
            "--label",
            "odl=1",
        ]
        # Internal: no default route through it, so droplets' traffic leaves by odl-cloud only.
        if internal:
            args.append("--internal")
        proc = docker(*args, name, check=False, timeout=60)
        if proc.returncode != 0 and "already exists" not in proc.stderr:
            raise BackendError(f"docker network create {name}: {proc.stderr.strip()}")
