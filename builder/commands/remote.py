"""What `doctor`, `logs`, `exec` and `shell` share: the deploy's settings, the droplet they act on (`--droplet
ID`, else the reserved IP's holder) and the SSH channel to it (builder/ssh.py: root, the deploy's key, host keys
pinned from Spaces).

`connect` is the one place the channel is opened; the unit tests replace it with a recorded droplet.
"""

from __future__ import annotations

import argparse
import importlib
import os
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from builder.commands.options import Subparsers, add_common, cloud_for
from builder.doclient import Cloud, ip_of
from builder.doctor.target import DoctorTarget
from builder.errors import OperatorError, Refused
from builder.inputs import load_deploy
from builder.output import Output
from builder.reserved_ip import known_reserved_ip, reserved_ip_holder
from builder.spaces import Spaces
from firstboot.config import Deploy, Secrets
from firstboot.render.compose import project_name


class Channel(Protocol):
    """A shell on one droplet: commands as argv, run there (captured) or attached to this terminal."""

    @property
    def droplet_id(self) -> int: ...

    @property
    def address(self) -> str: ...

    def run(self, remote: Sequence[str], *, timeout: float) -> subprocess.CompletedProcess[bytes]: ...

    def attach(self, remote: Sequence[str], *, tty: bool) -> int: ...


@dataclass(frozen=True)
class Session:
    """One command's context: the settings, the API, Spaces and the channel to the droplet."""

    deploy: Deploy
    secrets: Secrets
    cloud: Cloud
    spaces: Spaces | None
    channel: Channel


SSH_KEY_ENV = "ODL_SSH_KEY"  # the private key's path (`odoo-droplet local env` exports the local cloud's)
KNOWN_HOSTS_DIR = Path(".state/known_hosts")  # the pinned host keys, one file per droplet


class NoDroplet(Refused):
    def __init__(self, why: str):
        super().__init__(f"which droplet? {why}", "name one with --droplet ID")


class NoSshKey(Refused):
    def __init__(self, why: str):
        super().__init__(f"no SSH key to reach the droplet with: {why}",
                         f"set {SSH_KEY_ENV} to the private key's path (`odoo-droplet local env` does on the local "
                         "cloud), or droplet.ssh_key_file in the settings")


def _ssh() -> Any:
    # builder/ssh.py owns the channel (SshTarget, ssh_argv, run, pin_host_keys).
    try:
        return importlib.import_module("builder.ssh")
    except ModuleNotFoundError:
        raise OperatorError("the SSH channel (builder/ssh.py) is missing from this installation") from None


@dataclass(frozen=True)
class SshChannel:
    droplet_id: int
    target: Any  # builder.ssh.SshTarget

    @property
    def address(self) -> str:
        return str(self.target.address)

    def run(self, remote: Sequence[str], *, timeout: float) -> subprocess.CompletedProcess[bytes]:
        result: subprocess.CompletedProcess[bytes] = _ssh().run(self.target, list(remote), timeout=timeout)
        return result

    def attach(self, remote: Sequence[str], *, tty: bool) -> int:
        """Run attached to this terminal (logs --follow, exec, shell): output streams as it comes; the remote's
        exit status is returned (ssh's own failure is 255, said by ssh on stderr)."""
        argv = _ssh().ssh_argv(self.target, list(remote), tty=tty)
        return subprocess.run(argv, check=False).returncode


def resolve_droplet(cloud: Cloud, deploy: Deploy, spaces: Spaces | None, droplet_id: int | None) -> tuple[int, str]:
    """(id, public address) of `--droplet ID`, else of the droplet holding the deploy's reserved IP."""
    if droplet_id is None:
        ip = known_reserved_ip(deploy, spaces)
        if not ip:
            raise NoDroplet("the settings have no reserved IP (or none was recorded yet)")
        holder = reserved_ip_holder(cloud, ip)
        if holder is None:
            raise NoDroplet(f"the reserved IP {ip} is not assigned to a droplet")
        droplet_id = holder
    address = ip_of(cloud.droplet(droplet_id))  # an unknown id: the API's 404, exit 2
    if not address:
        raise OperatorError(f"droplet {droplet_id} has no public IPv4 address yet",
                            "wait until `odoo-droplet status` shows it active")
    return droplet_id, address


def key_file(deploy: Deploy, environ: Mapping[str, str]) -> Path:
    named = environ.get(SSH_KEY_ENV) or getattr(deploy.droplet, "ssh_key_file", None)
    if not named:
        raise NoSshKey(f"neither ${SSH_KEY_ENV} nor droplet.ssh_key_file is set")
    path = Path(named).expanduser()
    if not path.is_file():
        raise NoSshKey(f"{path} is not a file")
    return path


def open_channel(cloud: Cloud, deploy: Deploy, spaces: Spaces | None, droplet_id: int | None) -> Channel:
    did, address = resolve_droplet(cloud, deploy, spaces, droplet_id)
    key = key_file(deploy, os.environ)
    ssh = _ssh()
    # No trust on first use: the host keys the droplet published at first boot, or no connection.
    known_hosts = ssh.pin_host_keys(spaces, did, address, KNOWN_HOSTS_DIR / str(did))
    return SshChannel(did, ssh.SshTarget(address=address, key_file=key, known_hosts=known_hosts))


def connect(args: argparse.Namespace, out: Output) -> Session:
    """Settings (API token and Spaces keys needed, not the droplet's passwords), then the channel."""
    deploy, secrets = load_deploy(args.config, api=True, lenient=True)
    cloud = cloud_for(out)
    spaces = Spaces.for_deploy(deploy, secrets)
    channel = open_channel(cloud, deploy, spaces, getattr(args, "droplet", None))
    return Session(deploy, secrets, cloud, spaces, channel)


def add_target_options(p: argparse.ArgumentParser) -> None:
    add_common(p)  # --json (errors as one JSON object; doctor's report) and --config
    p.add_argument("--droplet", type=int, metavar="ID",
                   help="the droplet to look at (default: the one holding the reserved IP)")


def compose_base(deploy: Deploy) -> tuple[str, ...]:
    """`docker compose` for the deploy's stack on the droplet (the same as doctor's DoctorTarget)."""
    return DoctorTarget(project=project_name(deploy)).compose_base


__all__ = ["Channel", "Session", "Subparsers", "add_target_options", "compose_base", "connect"]
