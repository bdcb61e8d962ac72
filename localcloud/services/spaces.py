"""Spaces (the S3 stand-in): moto's S3 server (spaces_moto.py: moto plus DigitalOcean's rule that
CreateBucket without a LocationConstraint lands in the endpoint's region) on a private loopback port
(127.0.0.1:19000) with `socat` fronts on 127.0.0.1:9000 and gateway:9000.

moto keeps objects in memory, so the "Spaces down" knob closes the fronts (clients get connection refused, as
from a dead endpoint) while moto keeps running with its data; `ensure_spaces()` opens them again and every
object written before the outage is still there. Only `stop_moto()` (from `stop_all`) ends moto itself.
"""

from __future__ import annotations

import importlib.util
import os
import secrets
import string
import sys
from pathlib import Path

from firstboot.contract.envfile import parse_env, render_env
from localcloud.home import Home
from localcloud.network import NETWORK, Network
from localcloud.services.procs import Proc, ServiceError, Supervisor, forward_proc, gateway_up

SPACES_SCRIPT = Path(__file__).resolve().parent / "spaces_moto.py"  # package data, beside this module


# ------------------------------------------------------------------------------------------------ pure


def new_spaces_credentials() -> dict[str, str]:
    """Keys shaped like DigitalOcean Spaces keys (moto accepts any; the shape keeps redaction tests honest)."""
    alphabet = string.ascii_uppercase + string.digits
    return {
        "SPACES_KEY": "DO00" + "".join(secrets.choice(alphabet) for _ in range(16)),
        "SPACES_SECRET": secrets.token_urlsafe(32)[:43],
    }


def spaces_backend_proc(python: str, script: Path = SPACES_SCRIPT, net: Network = NETWORK) -> Proc:
    return Proc(
        "spaces-moto",
        (python, str(script), "-H", net.loopback, "-p", str(net.spaces_backend_port)),
        ((net.loopback, net.spaces_backend_port),),
    )


def spaces_front_procs(gateway_up: bool, net: Network = NETWORK) -> list[Proc]:
    procs = [forward_proc("spaces-lo", net.loopback, net.spaces_port, net.spaces_backend_port)]
    if gateway_up:
        procs.append(forward_proc("spaces-gw", net.gateway, net.spaces_port, net.spaces_backend_port))
    return procs


def spaces_endpoints(gateway: bool, net: Network = NETWORK) -> list[str]:
    return [net.loopback_spaces_endpoint, *([net.spaces_endpoint] if gateway else [])]


# ------------------------------------------------------------------------------------------------ shell


def spaces_credentials(home: Home) -> dict[str, str]:
    """SPACES_KEY / SPACES_SECRET of the local Spaces, generated once and kept 0600 in the state dir.

    moto accepts any key pair, so a wrong key is not refused locally as DigitalOcean would refuse it; the keys
    exist so every client is configured exactly as for the real Spaces (and secret redaction is exercised)."""
    path = home.spaces_credentials
    if path.exists():
        creds = parse_env(path.read_text())
        if creds.get("SPACES_KEY") and creds.get("SPACES_SECRET"):
            return creds
    creds = new_spaces_credentials()
    path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(render_env(creds))
    os.chmod(path, 0o600)
    return creds


def moto_python() -> str:
    """This Python: moto (with its server) is one of odoo-droplet's own dependencies, installed beside it."""
    if importlib.util.find_spec("moto") is not None:
        return sys.executable
    raise ServiceError(f"moto is not installed beside odoo-droplet ({sys.executable}): reinstall the package "
                       "(pip install odoo-droplet, or pip install . from a clone): moto[server] is a dependency")


def ensure_spaces(home: Home, net: Network = NETWORK, *, gateway: bool | None = None) -> dict[str, object]:
    """Start the S3 stand-in (idempotent) and open its fronts; returns endpoints (credentials via
    `spaces_credentials()`, never in this result, so it can be logged). `gateway=False` keeps it on loopback
    (the API-only cloud: no odl-cloud bridge of its own, and another cloud's may be up); None: when it is up."""
    sup = Supervisor(home)
    with sup.locked():
        spaces_credentials(home)
        backend = spaces_backend_proc(moto_python(), net=net)
        pids = {backend.name: sup.start(backend, timeout=60)}
        gw = gateway_up(net) if gateway is None else gateway
        pids.update({p.name: sup.start(p) for p in spaces_front_procs(gw, net)})
        return {"endpoints": spaces_endpoints(gw, net), "pids": pids}


def stop_spaces(home: Home) -> None:
    """Fault knob "Spaces down": the endpoints refuse connections; moto keeps running, so no object is lost."""
    sup = Supervisor(home)
    with sup.locked():
        sup.stop("spaces-gw", "socat")
        sup.stop("spaces-lo", "socat")


def stop_moto(home: Home) -> None:
    """End moto itself (its in-memory objects go with it): only when the local cloud goes away."""
    sup = Supervisor(home)
    with sup.locked():
        sup.stop("spaces-moto", SPACES_SCRIPT.name)
