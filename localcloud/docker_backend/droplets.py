"""Droplets as containers: their addresses, seeds, limits and `docker create` arguments (pure), the watcher
that brings back a droplet that rebooted itself, and `droplet_exec` for tests and the benchmarks.

A droplet is a container of its image running systemd as PID 1, without `--privileged`
(CAP_SYS_RESOURCE is not available here): all capabilities but SYS_RESOURCE, no seccomp/apparmor, writable
/proc/sys, every device, the host cgroup namespace with /sys/fs/cgroup writable, tmpfs on /run and
/run/lock, `--stop-signal SIGRTMIN+3` (systemd's "halt").
"""

from __future__ import annotations

import json
import logging
import subprocess
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path

from localcloud.backend import BackendError, DropletSpec
from localcloud.docker_backend.engine import docker
from localcloud.docker_backend.names import LABEL_HOST, LABEL_ID, container_name, hostname_for
from localcloud.network import NETWORK, Network

log = logging.getLogger("localcloud.docker_backend")

# systemd as PID 1 and a Docker engine inside, without --privileged (DESIGN.md section 6).
SYSTEMD_FLAGS: tuple[str, ...] = (
    "--cap-add=ALL",
    "--cap-drop=SYS_RESOURCE",
    "--security-opt",
    "seccomp=unconfined",
    "--security-opt",
    "apparmor=unconfined",
    "--security-opt",
    "systempaths=unconfined",
    "--device-cgroup-rule",
    "a *:* rwm",
    "--cgroupns=host",
    "-v",
    "/sys/fs/cgroup:/sys/fs/cgroup:rw",
    # exec on /run: the inner engine's runtime state lives there.
    "--tmpfs",
    "/run:rw,exec,mode=755",
    "--tmpfs",
    "/run/lock:rw,mode=1777",
    "--stop-signal",
    "SIGRTMIN+3",
    "--stop-timeout",
    "60",
)

# systemd as PID 1 of a container ends `reboot` by SIGHUP (exit 129) and `poweroff` by SIGINT (130).
REBOOT_EXIT_CODE = "129"


# ---------------------------------------------------------------- pure


def pick_host(used: Iterable[int], net: Network = NETWORK) -> int:
    """The lowest free host number N: the droplet gets gateway-subnet address N and metadata address N."""
    taken = set(used)
    for n in range(net.host_min, net.host_max + 1):
        if n not in taken:
            return n
    raise BackendError(f"no free droplet address left in {net.cloud_subnet}")


def render_meta_data(spec: DropletSpec) -> str:
    """The NoCloud seed's meta-data: instance-id = droplet id, hostname, the account's SSH keys."""
    # JSON is YAML: no quoting surprises with odd names or keys.
    return (
        json.dumps(
            {
                "instance-id": str(spec.id),
                "local-hostname": hostname_for(spec.name),
                "public-keys": list(spec.ssh_public_keys),
            },
            indent=1,
        )
        + "\n"
    )


def render_user_data(user_data: str | None) -> str:
    return user_data if user_data else "#cloud-config\n{}\n"


def clamp_limits(vcpus: int, memory_mb: int, host_cpus: int, host_memory_mb: int) -> tuple[str, str]:
    """--cpus/--memory for a size on this machine: Docker refuses more CPUs than the host has."""
    cpus = max(0.1, min(float(vcpus), float(host_cpus)))
    mem = max(256, min(memory_mb, host_memory_mb))
    return f"{cpus:g}", f"{mem}m"


def create_args(
    spec: DropletSpec, host: int, image: str, seed_dir: Path, volume: str, cpus: str, memory: str,
    net: Network = NETWORK,
) -> list[str]:
    """`docker create` arguments for a droplet (the metadata network is connected before start)."""
    return [
        "create",
        "--name",
        container_name(spec.id),
        "--hostname",
        hostname_for(spec.name),
        "--label",
        f"{LABEL_ID}={spec.id}",
        "--label",
        f"{LABEL_HOST}={host}",
        "--cpus",
        cpus,
        "--memory",
        memory,
        "--memory-swap",
        memory,
        *SYSTEMD_FLAGS,
        "-v",
        f"{volume}:/var/lib/docker",
        "-v",
        f"{seed_dir}:/var/lib/cloud/seed/nocloud:ro",
        "--network",
        net.cloud_net,
        "--ip",
        net.cloud_address(host),
        image,
    ]


def reboot_requested(event_line: str) -> str | None:
    """The droplet container to start again, from a `docker events` die line "<name> <exitCode>"."""
    name, _, code = event_line.strip().partition(" ")
    return name if name.startswith("odl-droplet-") and code == REBOOT_EXIT_CODE else None


# ---------------------------------------------------------------- shell


def host_memory_mb() -> int:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) // 1024
    return 1024


class RebootWatcher:
    """Starts a droplet again when its OS rebooted itself (`reboot` inside), as a VM comes back on DO.

    A daemon thread follows `docker events` for droplets' deaths; only the reboot exit code restarts one, so
    `poweroff` inside and the backend's own power actions stay off."""

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._proc: subprocess.Popen[str] | None = None
        self._thread = threading.Thread(target=self._run, name="odl-reboot-watcher", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        for _ in range(1000):  # bounded reconnects (the engine restarted)
            if self._stop.is_set():
                return
            self._proc = subprocess.Popen(
                ["docker", "events", "--filter", "type=container", "--filter", "event=die",
                 "--filter", f"label={LABEL_ID}", "--format", "{{.Actor.Attributes.name}} {{.Actor.Attributes.exitCode}}"],
                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
            )  # fmt: skip
            assert self._proc.stdout is not None
            for line in self._proc.stdout:
                name = reboot_requested(line)
                if name:
                    log.info("%s rebooted itself: starting it again", name)
                    docker("start", name, check=False, timeout=120)
            self._proc.wait()
            self._stop.wait(2.0)  # pace reconnects

    def stop(self) -> None:
        self._stop.set()
        if self._proc is not None:
            self._proc.terminate()


def droplet_exec(droplet_id: int, argv: Sequence[str], timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """Run a command in a droplet (tests and the benchmark; the API never needs it)."""
    return docker("exec", container_name(droplet_id), *argv, check=False, timeout=timeout)
