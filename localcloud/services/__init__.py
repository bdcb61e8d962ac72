"""The local cloud's host services, one module per thing it runs:

- procs.py: supervision of host processes (start in their own session, pid and log files under the state
  folder, bounded waits, stop with the process group).
- registry.py: the registry (GHCR's stand-in), TLS from the local CA, on loopback and the gateway.
- spaces.py: Spaces (the S3 stand-in): moto behind socat fronts; spaces_moto.py is the script moto runs as.
- standins.py: the stand-in postgres/redis/odoo images, built on a Debian minbase and pushed to the registry.

Both services listen on the odl-cloud gateway (so droplets reach them at the same URL as the host does) and
on 127.0.0.1. Commands and configuration are built by pure functions; the rest runs them. Every function that
acts takes the state folder (`Home`) and, where it needs addresses, the `Network`. This module adds what
spans them: `status`, `stop_all`, and `HostServices`, the fault knobs' handle for the API server.
"""

from __future__ import annotations

from dataclasses import dataclass

from localcloud.home import Home
from localcloud.network import NETWORK, Network
from localcloud.services.procs import ServiceError, Supervisor, gateway_up, tcp_open
from localcloud.services.registry import (
    DEFAULT_REGISTRY,
    LOOPBACK_REGISTRY,
    ensure_registry,
    push_ref,
    stop_registry,
)
from localcloud.services.spaces import (
    SPACES_SCRIPT,
    ensure_spaces,
    spaces_credentials,
    stop_moto,
    stop_spaces,
)
from localcloud.services.standins import (
    MINBASE_IMAGE,
    POSTGRES_TAG,
    REDIS_TAG,
    build_standin_images,
    ensure_minbase_image,
    ensure_standin_images,
    image_exists,
    standin_builds,
)

__all__ = [
    "DEFAULT_REGISTRY",
    "LOOPBACK_REGISTRY",
    "POSTGRES_TAG",
    "REDIS_TAG",
    "HostServices",
    "ServiceError",
    "build_standin_images",
    "ensure_minbase_image",
    "ensure_registry",
    "ensure_spaces",
    "ensure_standin_images",
    "gateway_up",
    "image_exists",
    "push_ref",
    "spaces_credentials",
    "status",
    "stop_all",
    "stop_registry",
    "stop_spaces",
]


def stop_all(home: Home) -> None:
    """Stop every host service of the local cloud, moto included (its in-memory objects go with it)."""
    stop_spaces(home)
    stop_registry(home)
    stop_moto(home)


def status(home: Home, net: Network = NETWORK) -> dict[str, object]:
    """What runs, where it answers, and which stand-in images exist locally (no secrets)."""
    sup = Supervisor(home)
    reg_reach = {a: tcp_open(a.split(":")[0], net.registry_port) for a in (net.loopback_registry, net.registry)}
    sp_reach = {f"http://{h}:{net.spaces_port}": tcp_open(h, net.spaces_port) for h in (net.loopback, net.gateway)}
    return {
        "gateway_up": gateway_up(net),
        "registry": {
            "process": sup.info("registry", "docker-registry"),
            "gateway_forward": sup.info("registry-gw", "socat"),
            "reachable": reg_reach,
        },
        "spaces": {
            "backend": sup.info("spaces-moto", SPACES_SCRIPT.name),
            "fronts": {n: sup.info(n, "socat") for n in ("spaces-lo", "spaces-gw")},
            "reachable": sp_reach,
            "credentials_file": str(home.spaces_credentials),
        },
        "images": {ref: image_exists(ref) for ref, _, _ in standin_builds(net.registry)},
        "base_image": {MINBASE_IMAGE: image_exists(MINBASE_IMAGE)},
    }


@dataclass(frozen=True)
class HostServices:
    """The fault knobs' handle on the services of one state folder (localcloud.api.server.ServiceControl):
    "stopped" closes a service's endpoints, "running" opens them again."""

    home: Home
    net: Network = NETWORK

    def set_state(self, service: str, running: bool) -> None:
        if service not in ("spaces", "registry"):
            raise ServiceError(f"no service {service!r}")
        if service == "spaces" and running:
            # Spaces on ports of its own belongs to an API-only cloud: loopback only, as `up` started it.
            ensure_spaces(self.home, self.net, gateway=None if self.net == NETWORK else False)
        elif service == "spaces":
            stop_spaces(self.home)
        elif running:
            ensure_registry(self.home, self.net)
        else:
            stop_registry(self.home)
