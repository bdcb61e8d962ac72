"""Supervision of the local cloud's host processes (the registry, moto, the socat fronts).

A `Proc` says what to run and where it listens (pure); `Supervisor(home)` starts it in its own session (it
outlives the caller, e.g. `odoo-droplet local up`), keeps its pid under `Home.run` and its log under
`Home.logs`, waits (bounded) until it accepts connections, and stops it with its process group. Starts and
stops are serialised through a file lock, between the API server, the CLI and tests on this machine.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from localcloud.home import Home
from localcloud.network import LOOPBACK, Network


class ServiceError(RuntimeError):
    pass


# ------------------------------------------------------------------------------------------------ pure


@dataclass(frozen=True)
class Proc:
    """A host process of the local cloud: its name (pid/log file stem), argv and the addresses it listens on."""

    name: str
    argv: tuple[str, ...]
    listen: tuple[tuple[str, int], ...]


def proc_ident(proc: Proc) -> str:
    """The name that identifies proc's process in /proc: the program, or the script an interpreter runs."""
    if proc.argv[0].rsplit("/", 1)[-1].startswith("python") and len(proc.argv) > 1:
        return os.path.basename(proc.argv[1])
    return os.path.basename(proc.argv[0])


def forward_proc(name: str, bind: str, port: int, target_port: int) -> Proc:
    """A TCP forwarder bind:port -> 127.0.0.1:target_port (one child per connection, killed with its group)."""
    argv = (
        "socat",
        f"TCP-LISTEN:{port},bind={bind},reuseaddr,fork",
        f"TCP:{LOOPBACK}:{target_port}",
    )
    return Proc(name, argv, ((bind, port),))


def has_ipv4(ip_addr_output: str, address: str) -> bool:
    """Whether `ip -o -4 addr show` lists `address` on some interface."""
    return any(f" {address}/" in line for line in ip_addr_output.splitlines())


# ------------------------------------------------------------------------------------------------ probes


def tcp_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def gateway_up(net: Network) -> bool:
    """Whether the odl-cloud bridge (its gateway address) exists on this host."""
    out = subprocess.run(["ip", "-o", "-4", "addr", "show"], capture_output=True, text=True, check=False).stdout
    return has_ipv4(out, net.gateway)


def pid_alive(pid: int, argv0: str) -> bool:
    """True when pid runs argv0 and is not a zombie (a recycled pid or a dead child does not count)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    state = stat.rpartition(")")[2].split()[0]
    # A script runs as `python /path/script.py ...`: its name is the second word.
    names = {os.path.basename(c.decode(errors="replace")) for c in cmdline[:2]}
    return state not in ("Z", "X") and argv0 in names


def _proc_state(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return None


def write_if_changed(path: Path, data: bytes, mode: int = 0o644) -> None:
    if path.exists() and path.read_bytes() == data:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


# ------------------------------------------------------------------------------------------------ shell


class Supervisor:
    """Starts, stops and describes host processes whose pids and logs live in one state folder."""

    def __init__(self, home: Home) -> None:
        self.home = home

    @property
    def run_dir(self) -> Path:
        d = self.home.run
        d.mkdir(parents=True, exist_ok=True)
        return d

    def log_path(self, name: str) -> Path:
        self.home.logs.mkdir(parents=True, exist_ok=True)
        return self.home.log(name)

    def _pidfile(self, name: str) -> Path:
        return self.run_dir / f"{name}.pid"

    @contextlib.contextmanager
    def locked(self, name: str = "services") -> Iterator[None]:
        """Serialise starts/stops between the API server, the CLI and tests on this machine."""
        with open(self.run_dir / f"{name}.lock", "w") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def running_pid(self, proc: Proc) -> int | None:
        try:
            pid = int(self._pidfile(proc.name).read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if pid_alive(pid, proc_ident(proc)) else None

    def log_tail(self, name: str, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path(name).read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def start(self, proc: Proc, timeout: float = 30.0) -> int:
        """Start proc unless it runs; wait (bounded) until it accepts connections on every listen address."""
        pid = self.running_pid(proc)
        child: subprocess.Popen[bytes] | None = None
        if pid is None:
            log = open(self.log_path(proc.name), "ab")
            try:
                child = subprocess.Popen(
                    list(proc.argv),
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                    close_fds=True,
                )
            finally:
                log.close()
            pid = child.pid
            self._pidfile(proc.name).write_text(f"{pid}\n")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            # Alive first: a foreign process holding the port must not pass for ours (ours then exits with
            # "address already in use"). Our own child: ask it; one started by another process: /proc.
            if (child.poll() is not None) if child is not None else (self.running_pid(proc) is None):
                break
            if all(tcp_open(h, p) for h, p in proc.listen):
                return pid
            time.sleep(0.1)  # poll interval
        raise ServiceError(f"{proc.name} did not come up on {proc.listen}; log tail:\n{self.log_tail(proc.name)}")

    def stop(self, name: str, argv0: str, timeout: float = 10.0) -> bool:
        """Stop the named process (and the children of its session, e.g. socat's per-connection forks)."""
        pidfile = self._pidfile(name)
        try:
            pid = int(pidfile.read_text().strip())
        except (OSError, ValueError):
            return False
        alive = pid_alive(pid, argv0)
        if alive:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGTERM)
            deadline = time.monotonic() + timeout
            while _proc_state(pid) not in (None, "Z", "X"):
                if time.monotonic() > deadline:
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        os.killpg(pid, signal.SIGKILL)
                    break
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(pid, os.WNOHANG)  # reap it when we are its parent
                time.sleep(0.05)  # poll interval
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
        pidfile.unlink(missing_ok=True)
        return alive

    def info(self, name: str, argv0: str) -> dict[str, object]:
        """Whether the named process runs, its pid and its log (for status)."""
        pid = None
        with contextlib.suppress(OSError, ValueError):
            pid = int(self._pidfile(name).read_text().strip())
        alive = pid is not None and pid_alive(pid, argv0)
        return {"running": alive, "pid": pid if alive else None, "log": str(self.log_path(name))}
