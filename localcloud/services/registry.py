"""The registry (GHCR's stand-in): Debian's `docker-registry` (the CNCF distribution registry) with TLS from
the local CA (`localcloud.ca`), bound to 127.0.0.1:5000; a `socat` forwarder carries gateway:5000 to it once
the odl-cloud bridge exists (the registry itself takes one listen address). The blobs live on disk
(`Home.registry_storage`), so stopping the registry (the "registry unreachable" fault knob) loses nothing.
"""

from __future__ import annotations

from pathlib import Path

from localcloud import ca
from localcloud.home import Home
from localcloud.network import NETWORK, Network
from localcloud.services.procs import Proc, Supervisor, forward_proc, gateway_up, write_if_changed

DOCKER_CERTS_D = Path("/etc/docker/certs.d")
DEFAULT_REGISTRY = NETWORK.registry  # as droplets name it (images are tagged with it)
LOOPBACK_REGISTRY = NETWORK.loopback_registry


# ------------------------------------------------------------------------------------------------ pure


def registry_config(storage_dir: Path, cert: Path, key: Path, addr: str = NETWORK.loopback_registry) -> str:
    """docker-registry's config.yml: filesystem storage, TLS, deletes allowed (tests clean up after themselves)."""
    return (
        "version: 0.1\n"
        "log:\n  level: info\n  fields:\n    service: odl-registry\n"
        "storage:\n"
        f"  filesystem:\n    rootdirectory: {storage_dir}\n"
        "  delete:\n    enabled: true\n"
        "  cache:\n    blobdescriptor: inmemory\n"
        "http:\n"
        f"  addr: {addr}\n"
        "  tls:\n"
        f"    certificate: {cert}\n"
        f"    key: {key}\n"
        "  headers:\n    X-Content-Type-Options: [nosniff]\n"
    )


def registry_procs(config_path: Path, gateway_up: bool, net: Network = NETWORK) -> list[Proc]:
    procs = [Proc("registry", ("docker-registry", "serve", str(config_path)), ((net.loopback, net.registry_port),))]
    if gateway_up:
        procs.append(forward_proc("registry-gw", net.gateway, net.registry_port, net.registry_port))
    return procs


def registry_addresses(gateway: bool, net: Network = NETWORK) -> list[str]:
    return [net.loopback_registry, *([net.registry] if gateway else [])]


def push_ref(ref: str, net: Network = NETWORK) -> str:
    """The name to push `ref` under: our registry is pushed through loopback (same storage as the gateway
    address), so images can be pushed before the odl-cloud bridge exists and pulled from either address."""
    host, _, rest = ref.partition("/")
    return f"{net.loopback_registry}/{rest}" if host in (net.registry, net.loopback_registry) else ref


# ------------------------------------------------------------------------------------------------ shell


def trust_registry_ca(ca_pem: Path, net: Network = NETWORK) -> list[Path]:
    """Make the host's Docker engine trust the registry's certificate (read per request; no restart)."""
    written = []
    for addr in (net.registry, net.loopback_registry):
        target = DOCKER_CERTS_D / addr / "ca.crt"
        write_if_changed(target, ca_pem.read_bytes())
        written.append(target)
    return written


def ensure_registry(home: Home, net: Network = NETWORK) -> dict[str, object]:
    """Start the registry (idempotent). Call again after the odl-cloud bridge appears to add gateway:5000."""
    sup = Supervisor(home)
    with sup.locked():
        files = ca.ensure_ca(home)
        trust_registry_ca(files.ca_cert, net)
        storage = home.registry_storage
        storage.mkdir(parents=True, exist_ok=True)
        config = sup.run_dir / "registry.yml"
        write_if_changed(config, registry_config(storage, files.server_cert, files.server_key,
                                                 net.loopback_registry).encode(), 0o600)
        gw = gateway_up(net)
        pids = {p.name: sup.start(p) for p in registry_procs(config, gw, net)}
        return {"addresses": registry_addresses(gw, net), "pids": pids}


def stop_registry(home: Home) -> None:
    """Fault knob "registry unreachable": both addresses refuse connections. Pushed images stay on disk."""
    sup = Supervisor(home)
    with sup.locked():
        sup.stop("registry-gw", "socat")
        sup.stop("registry", "docker-registry")
