"""What `doctor`, `logs`, `exec` and `shell` share: the deploy's settings, the droplet they act on (`--droplet
ID`, else the reserved IP's holder) and the SSH channel to it (builder/ssh.py: root, the deploy's key, host keys
pinned from Spaces).

`connect` is the one place the channel is opened; the unit tests replace it with a recorded droplet.
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from builder import ssh
from builder.commands.options import Subparsers, add_common, cloud_for
from builder.doclient import Cloud
from builder.doctor.target import DoctorTarget
from builder.inputs import load_deploy
from builder.output import Output
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


@dataclass(frozen=True)
class SshChannel:
    droplet_id: int
    target: ssh.SshTarget

    @property
    def address(self) -> str:
        return self.target.address

    def run(self, remote: Sequence[str], *, timeout: float) -> subprocess.CompletedProcess[bytes]:
        """Captured; the channel's own failures (unreachable, host key changed, key refused) raise."""
        return ssh.run(self.target, remote, timeout=timeout)

    def attach(self, remote: Sequence[str], *, tty: bool) -> int:
        """Run attached to this terminal (logs --follow, exec, shell): output streams as it comes; the remote's
        exit status is returned (ssh's own failure is 255, said by ssh on stderr)."""
        return subprocess.run(ssh.ssh_argv(self.target, remote, tty=tty), check=False).returncode


def resolve_droplet(cloud: Cloud, deploy: Deploy, spaces: Spaces | None, droplet_id: int | None) -> tuple[int, str]:
    """(id, public address) of `--droplet ID`, else of the droplet holding the deploy's reserved IP."""
    did = ssh.resolve_droplet_id(cloud, deploy, spaces, droplet_id)
    return did, ssh.droplet_address(cloud.droplet(did))  # an unknown id: the API's 404, exit 2


def open_channel(cloud: Cloud, deploy: Deploy, spaces: Spaces | None, droplet_id: int | None) -> Channel:
    """The droplet first (a wrong --droplet is said before anything else), then the key, then the host keys it
    published at first boot (no trust on first use)."""
    did = ssh.resolve_droplet_id(cloud, deploy, spaces, droplet_id)
    droplet = cloud.droplet(did)
    key = ssh.key_file_for(deploy.droplet.ssh_key_file, os.environ)
    return SshChannel(did, ssh.target_for(droplet, spaces, key))


def connect(args: argparse.Namespace, out: Output) -> Session:
    """Settings (API token and Spaces keys needed, not the droplet's passwords), then the channel."""
    deploy, secrets = load_deploy(args.config, api=True, lenient=True)
    cloud = cloud_for(out)
    spaces = Spaces.for_deploy(deploy, secrets)
    channel = open_channel(cloud, deploy, spaces, getattr(args, "droplet", None))
    return Session(deploy, secrets, cloud, spaces, channel)


def announce(session: Session, argv: Sequence[str]) -> None:
    """What runs where, on stderr: stdout is the remote command's own output (a log to pipe into grep)."""
    print(f"# droplet {session.channel.droplet_id} ({session.channel.address}): {shlex.join(argv)}",
          file=sys.stderr, flush=True)


def add_target_options(p: argparse.ArgumentParser) -> None:
    add_common(p)  # --json (errors as one JSON object; doctor's report) and --config
    p.add_argument("--droplet", type=int, metavar="ID",
                   help="the droplet to look at (default: the one holding the reserved IP)")


def compose_base(deploy: Deploy) -> tuple[str, ...]:
    """`docker compose` for the deploy's stack on the droplet (the same as doctor's DoctorTarget)."""
    return DoctorTarget(project=project_name(deploy)).compose_base


__all__ = ["Channel", "Session", "Subparsers", "add_target_options", "compose_base", "connect"]
