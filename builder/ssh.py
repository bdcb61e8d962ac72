"""The SSH channel to a running droplet: the one module that reaches a droplet's shell (doctor, logs, exec,
backups, swap), as Kamal and pyinfra do — root, with the key the droplet was created with.

Commands are data: `ssh_argv` builds the argv (tested as data), `run` executes it. Host keys are pinned, never
trusted on first use: the agent publishes the droplet's host keys to Spaces at first boot
(`state/hostkeys/<droplet_id>.json`), `pin_host_keys` writes them as a known_hosts file for the droplet's address,
and every connection runs with `StrictHostKeyChecking=yes` against that file alone. A droplet whose keys are not
in Spaces is an error, and a key that changed is refused before anything is sent.

Nothing secret is on the command line: the key is named by its path, the remote command is the caller's.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import shlex
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from builder.doclient import ip_of
from builder.errors import EXIT_BAD_INPUT, EXIT_FAILED, OperatorError
from firstboot.contract.hostkeys import HostKeyError, known_hosts_text, parse_host_keys_document
from firstboot.contract.keys import host_keys_key

SSH_KEY_ENV = "ODL_SSH_KEY"  # the private key's path; `odoo-droplet local env` exports the local cloud's
KNOWN_HOSTS_DIR = Path(".state/known_hosts")  # pinned files, one per droplet (beside the deploy's intent)
CONNECT_TIMEOUT = 10
TIMEOUT_EXIT = 124  # what `run` returns when the command outlived its timeout (as timeout(1) does)
SSH_FAILED = 255  # ssh's own failure status


# ---------------------------------------------------------------- errors


class SshError(OperatorError):
    """The channel itself failed (not the remote command)."""

    exit_code = EXIT_FAILED


class Unreachable(SshError):
    def __init__(self, address: str, port: int, why: str):
        super().__init__(f"cannot reach {address} port {port} over SSH: {why}",
                         "check that the droplet is active, that its firewall admits 22 and that this machine "
                         "reaches its address", details={"address": address, "port": port})


class HostKeyChanged(SshError):
    def __init__(self, address: str, known_hosts: Path):
        super().__init__(f"the SSH host key of {address} changed: it is not the key the droplet published at first "
                         "boot; not connecting",
                         f"if the droplet was rebuilt, pin its keys again (remove {known_hosts}); otherwise "
                         "something else answers at that address", details={"address": address})


class KeyRefused(SshError):
    def __init__(self, address: str, user: str, key_file: Path):
        super().__init__(f"{user}@{address} refused the key {key_file}",
                         "the droplet accepts the keys it was created with (settings droplet.ssh_keys; on the "
                         f"local cloud its own key, ${SSH_KEY_ENV}): use the matching private key",
                         details={"address": address})


class HostKeysNotPublished(SshError):
    """No host keys in Spaces for that droplet (or unreadable ones): nothing to pin, so no connection."""

    def __init__(self, droplet_id: int, why: str):
        super().__init__(f"droplet {droplet_id}'s SSH host keys are not in Spaces ({host_keys_key(droplet_id)}): "
                         f"{why}; not connecting without them (no trust on first use)",
                         "its agent publishes them at first boot: wait for `odoo-droplet status` to show the "
                         "droplet past preflight, or check the droplet has Spaces in its settings",
                         details={"droplet_id": droplet_id})


class NoSshKey(SshError):
    exit_code = EXIT_BAD_INPUT

    def __init__(self, why: str):
        super().__init__(f"no SSH key to reach the droplet with: {why}",
                         f"set {SSH_KEY_ENV} to the private key's path (`odoo-droplet local env` does on the local "
                         "cloud) or droplet.ssh_key_file in the settings")


class NoDroplet(SshError):
    exit_code = EXIT_BAD_INPUT

    def __init__(self, why: str):
        super().__init__(f"which droplet? {why}", "name one with --droplet ID")


# ---------------------------------------------------------------- the target and its argv (pure)


@dataclass(frozen=True)
class SshTarget:
    address: str
    key_file: Path
    known_hosts: Path
    user: str = "root"
    port: int = 22


def ssh_options(target: SshTarget) -> list[str]:
    """The options every connection carries: only this key, no prompt, the pinned keys and nothing else."""
    opts = {
        "IdentitiesOnly": "yes",
        "BatchMode": "yes",
        "StrictHostKeyChecking": "yes",
        "UserKnownHostsFile": str(target.known_hosts),
        "GlobalKnownHostsFile": "/dev/null",
        "UpdateHostKeys": "no",
        "CheckHostIP": "no",
        "PasswordAuthentication": "no",
        "KbdInteractiveAuthentication": "no",
        "ConnectTimeout": str(CONNECT_TIMEOUT),
        "ServerAliveInterval": "15",
        "ServerAliveCountMax": "4",
        "LogLevel": "ERROR",
    }
    out = ["-i", str(target.key_file)]
    for k, v in opts.items():
        out += ["-o", f"{k}={v}"]
    return out


def ssh_argv(target: SshTarget, remote: Sequence[str], *, tty: bool = False) -> list[str]:
    """`ssh ... user@address -- <remote argv, shell-quoted>`. An empty `remote` with `tty` is a login shell."""
    argv = ["ssh", *ssh_options(target), "-p", str(target.port), "-tt" if tty else "-T",
            f"{target.user}@{target.address}", "--"]
    if remote:
        argv.append(shlex.join(remote))
    return argv


# ssh's own messages (LogLevel=ERROR still prints these) -> what the operator is told.
_CHANGED = re.compile(r"REMOTE HOST IDENTIFICATION HAS CHANGED|Host key verification failed|"
                      r"host key for .* has changed|No (?:ED25519|ECDSA|RSA|\w+) host key is known", re.I)
_REFUSED_KEY = re.compile(r"Permission denied \(", re.I)
_UNREACHABLE = re.compile(r"(Connection refused|Connection timed out|timed out|No route to host|"
                          r"Network is unreachable|Could not resolve hostname[^\n]*|Connection closed by [^\n]*|"
                          r"Connection reset[^\n]*)", re.I)


def channel_error(target: SshTarget, returncode: int, stderr: bytes) -> SshError | None:
    """The channel's own failure, from ssh's exit status 255 and its message; None when it is the remote's."""
    if returncode != SSH_FAILED:
        return None
    text = stderr.decode(errors="replace")
    if _CHANGED.search(text):
        return HostKeyChanged(target.address, target.known_hosts)
    if _REFUSED_KEY.search(text):
        return KeyRefused(target.address, target.user, target.key_file)
    m = _UNREACHABLE.search(text)
    if m:
        return Unreachable(target.address, target.port, m.group(1).strip())
    return None


# ---------------------------------------------------------------- running


def run(target: SshTarget, remote: Sequence[str], *, timeout: float, input: bytes | None = None
        ) -> subprocess.CompletedProcess[bytes]:
    """Run `remote` on the droplet; the remote's exit status is returned as it is. The channel's own failures
    (unreachable, key changed, key refused) raise; a command that outlives `timeout` is killed and comes back
    with status 124 and "timed out" on stderr."""
    argv = ssh_argv(target, remote)
    try:
        proc = subprocess.run(argv, input=input, capture_output=True, timeout=timeout, check=False,
                              stdin=None if input is not None else subprocess.DEVNULL)
    except subprocess.TimeoutExpired as e:
        return subprocess.CompletedProcess(argv, TIMEOUT_EXIT, e.stdout or b"",
                                           (e.stderr or b"") + f"timed out after {timeout:g}s\n".encode())
    except FileNotFoundError:
        raise SshError("ssh is not installed on this machine", "install openssh-client") from None
    err = channel_error(target, proc.returncode, proc.stderr)
    if err is not None:
        raise err
    return proc


# ---------------------------------------------------------------- pinning


class JsonReader(Protocol):
    """What pinning needs from Spaces (builder/spaces.py `Spaces`)."""

    def get_json(self, key: str) -> dict | None: ...


def pin_host_keys(spaces: JsonReader | None, droplet_id: int, address: str, dest: Path, *, port: int = 22) -> Path:
    """Write `dest` as a known_hosts file holding the host keys droplet `droplet_id` published, for `address`.
    No keys in Spaces (or no Spaces at all, or a document that does not check) is an error: nothing is written."""
    if spaces is None:
        raise HostKeysNotPublished(droplet_id, "the settings name no Spaces bucket")
    doc = spaces.get_json(host_keys_key(droplet_id))
    if doc is None:
        raise HostKeysNotPublished(droplet_id, "nothing published yet")
    try:
        keys = parse_host_keys_document(doc, droplet_id)
    except HostKeyError as e:
        raise HostKeysNotPublished(droplet_id, f"the published document does not check: {e}") from None
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(known_hosts_text(address, keys, port))
    tmp.replace(dest)
    return dest


# ---------------------------------------------------------------- resolving a droplet


def key_file_for(droplet_key_file: str | None, environ: Mapping[str, str] = os.environ) -> Path:
    """The private key: $ODL_SSH_KEY, else the settings' droplet.ssh_key_file; it must exist."""
    named = environ.get(SSH_KEY_ENV) or droplet_key_file
    if not named:
        raise NoSshKey(f"neither ${SSH_KEY_ENV} nor droplet.ssh_key_file is set")
    path = Path(named).expanduser()
    if not path.is_file():
        raise NoSshKey(f"{path} is not a file")
    return path


def public_key_of(key_file: Path) -> str | None:
    """The public key line beside a private key (`<key>.pub`), or None."""
    try:
        return key_file.with_name(key_file.name + ".pub").read_text().strip() or None
    except OSError:
        return None


def md5_fingerprint(public_key: str) -> str | None:
    """DigitalOcean's fingerprint of an account key (MD5 of the blob, colon hex); None if it does not parse."""
    parts = public_key.split()
    if len(parts) < 2:
        return None
    try:
        blob = base64.b64decode(parts[1], validate=True)
    except ValueError:
        return None
    digest = hashlib.md5(blob, usedforsecurity=False).hexdigest()
    return ":".join(digest[i:i + 2] for i in range(0, len(digest), 2))


def droplet_address(droplet: Mapping[str, Any]) -> str:
    """The droplet's public IPv4 (what the operator's machine reaches)."""
    address = ip_of(dict(droplet))
    if address:
        return address
    raise Unreachable(str(droplet.get("id", "?")), 22, "the droplet has no public IPv4 address yet")


def target_for(droplet: Mapping[str, Any], spaces: JsonReader | None, key_file: Path, *,
               known_hosts_dir: Path = KNOWN_HOSTS_DIR, user: str = "root", port: int = 22) -> SshTarget:
    """The SshTarget of a droplet (the API's droplet object): its address, its pinned host keys, the key."""
    droplet_id = int(droplet["id"])
    address = droplet_address(droplet)
    known_hosts = pin_host_keys(spaces, droplet_id, address, known_hosts_dir / f"{droplet_id}", port=port)
    return SshTarget(address=address, key_file=key_file, known_hosts=known_hosts, user=user, port=port)


def resolve_droplet_id(cloud: Any, deploy: Any, spaces: Any, droplet_id: int | None) -> int:
    """The droplet asked for, else the one holding the deploy's reserved IP (builder/reserved_ip.py)."""
    if droplet_id is not None:
        return droplet_id
    from builder.reserved_ip import known_reserved_ip, reserved_ip_holder

    ip = known_reserved_ip(deploy, spaces)
    if not ip:
        raise NoDroplet("the settings have no reserved IP (or none was recorded yet)")
    holder = reserved_ip_holder(cloud, ip)
    if holder is None:
        raise NoDroplet(f"the reserved IP {ip} is not assigned to a droplet")
    return holder


def target_for_deploy(cloud: Any, deploy: Any, spaces: Any, droplet_id: int | None = None, *,
                      environ: Mapping[str, str] = os.environ, known_hosts_dir: Path = KNOWN_HOSTS_DIR
                      ) -> tuple[int, SshTarget]:
    """`--droplet ID` or the reserved IP's holder, as an SshTarget with pinned keys: (droplet id, target).
    `cloud` is builder.doclient.Cloud, `deploy` firstboot.config.Deploy, `spaces` builder.spaces.Spaces."""
    key_file = key_file_for(deploy.droplet.ssh_key_file, environ)
    did = resolve_droplet_id(cloud, deploy, spaces, droplet_id)
    return did, target_for(cloud.droplet(did), spaces, key_file, known_hosts_dir=known_hosts_dir)
