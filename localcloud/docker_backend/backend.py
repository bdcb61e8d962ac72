"""`DockerBackend`: localcloud.backend.Backend on the local Docker engine (DESIGN.md section 6).

It ties the parts of this package together: droplets are containers (droplets.py) named and labelled by
names.py, with a NoCloud seed bind-mounted read-only at /var/lib/cloud/seed/nocloud from
`Home.seeds/<id>/` (never part of a snapshot) and a metadata record (metadata.py) written before they boot;
snapshots are commits plus a copy of the droplet's Docker volume (snapshots.py); reserved IPs are loopback
addresses forwarded by localcloud.forwarder threads in this process. The API's state is the record of
assignments: after a restart it calls `set_reserved_ip` again for each (the API's reconcile), which re-opens
the forwarding.

Power: power_off = `docker stop` (systemd halts on SIGRTMIN+3), shutdown = `systemctl poweroff` inside,
reboot = `docker restart`. A droplet that runs `reboot` itself comes back (RebootWatcher), as on DO.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import threading
from pathlib import Path
from typing import Any

from localcloud.backend import BackendError, BaseImage, DropletRuntime, DropletSpec, SnapshotResult
from localcloud.docker_backend import metadata, snapshots
from localcloud.docker_backend.droplets import (
    RebootWatcher,
    clamp_limits,
    create_args,
    host_memory_mb,
    pick_host,
    render_meta_data,
    render_user_data,
)
from localcloud.docker_backend.engine import docker, exists, private_dir, write_private
from localcloud.docker_backend.names import BASE_IMAGE, BASE_SLUG, LABEL_HOST, container_name, volume_name
from localcloud.forwarder import Forwarder
from localcloud.home import Home
from localcloud.network import NETWORK, Network


class DockerBackend:
    """localcloud.backend.Backend on the local Docker engine. Thread-safe; every method blocks until done."""

    def __init__(
        self, home: Home | Path, forwarder: Forwarder | None = None, watch_reboots: bool = True,
        net: Network = NETWORK,
    ) -> None:
        self.home = Home.of(home)
        self.net = net
        self.seeds = private_dir(self.home.seeds)
        self.records = private_dir(self.home.metadata_records)
        self._lock = threading.RLock()
        self.forwarder = forwarder or Forwarder()
        self._reboots = RebootWatcher() if watch_reboots else None

    # -- Backend protocol

    def base_images(self) -> list[BaseImage]:
        return [BaseImage(BASE_SLUG, "12 x64", "Debian", BASE_IMAGE, size_gigabytes=0.5, min_disk_size=10)]

    def create_droplet(self, spec: DropletSpec) -> DropletRuntime:
        image = BASE_IMAGE if spec.image_ref in (BASE_SLUG, BASE_IMAGE) else spec.image_ref
        if not exists("image", image):
            raise BackendError(f"no such image {image}")
        name = container_name(spec.id)
        if exists("container", name):
            return self.droplet_runtime(spec.id)  # a retried create: the droplet is already there
        seed = private_dir(self.seeds / str(spec.id))
        write_private(seed / "meta-data", render_meta_data(spec))
        write_private(seed / "user-data", render_user_data(spec.user_data))
        volume = snapshots.seed_volume(spec.id, image)
        cpus, memory = clamp_limits(spec.vcpus, spec.memory_mb, os.cpu_count() or 1, host_memory_mb())
        with self._lock:
            tried: set[int] = set()
            for attempt in range(5):
                host = pick_host(self._used_hosts() | tried, self.net)
                ipv4 = self.net.cloud_address(host)
                metadata.write_record(self.records, host, metadata.metadata_document(spec, ipv4, net=self.net),
                                      self.net)
                try:
                    docker(*create_args(spec, host, image, seed, volume, cpus, memory, self.net), timeout=120)
                    docker("network", "connect", "--ip", self.net.metadata_address(host), self.net.metadata_net,
                           name, timeout=60)
                    docker("start", name, timeout=120)
                    return DropletRuntime(True, ipv4)
                except BackendError as exc:
                    self._remove(spec.id, host, keep_volume=True)
                    # Another process (a second backend on this engine) took the address meanwhile: next one.
                    if "in use" not in str(exc) or attempt == 4:
                        self._remove(spec.id, host)
                        raise
                    tried.add(host)
        raise BackendError("unreachable")  # the loop returns or raises

    def droplet_runtime(self, droplet_id: int) -> DropletRuntime:
        info = self._inspect(droplet_id)
        if info is None:
            return DropletRuntime(False, None, exists=False)
        host = info["Config"]["Labels"].get(LABEL_HOST)
        return DropletRuntime(bool(info["State"]["Running"]), self.net.cloud_address(int(host)) if host else None)

    def power_off(self, droplet_id: int, graceful: bool) -> None:
        name = self._require(droplet_id)
        if graceful:
            # What an ACPI shutdown does: the OS powers itself off (systemd stops every unit, dockerd included).
            proc = docker("exec", name, "systemctl", "poweroff", check=False, timeout=60)
            if proc.returncode == 0 and self._wait_stopped(name, 90):
                return
        # "Pull the plug", with the few seconds systemd needs to stop dockerd so the disk stays consistent.
        docker("stop", "-t", "20", name, timeout=120)

    def power_on(self, droplet_id: int) -> DropletRuntime:
        docker("start", self._require(droplet_id), timeout=120)
        return self.droplet_runtime(droplet_id)

    def reboot(self, droplet_id: int) -> DropletRuntime:
        docker("restart", "-t", "60", self._require(droplet_id), timeout=240)
        return self.droplet_runtime(droplet_id)

    def snapshot(self, droplet_id: int, name: str) -> SnapshotResult:
        return snapshots.take_snapshot(self._require(droplet_id), droplet_id, name)

    def delete_droplet(self, droplet_id: int) -> None:
        info = self._inspect(droplet_id)
        host = info["Config"]["Labels"].get(LABEL_HOST) if info else None
        self._remove(droplet_id, int(host) if host else None)

    def delete_image(self, ref: str) -> None:
        snapshots.delete_snapshot(ref)

    def set_reserved_ip(self, ip: str, droplet_id: int | None, droplet_ipv4: str | None) -> None:
        target = droplet_ipv4 if droplet_id is not None else None
        with self._lock:
            try:
                self.forwarder.assign(ip, target)
            except OSError as exc:
                raise BackendError(f"reserved ip {ip}: cannot listen: {exc}") from exc
            metadata.move_reserved_ip(self.records, ip, target)

    def close(self) -> None:
        """Stop the reserved-IP forwarding and the reboot watcher of this process (droplets keep running)."""
        self.forwarder.close()
        if self._reboots is not None:
            self._reboots.stop()

    # -- helpers

    def _inspect(self, droplet_id: int) -> dict[str, Any] | None:
        proc = docker("container", "inspect", container_name(droplet_id), check=False, timeout=30)
        if proc.returncode != 0:
            return None
        info: dict[str, Any] = json.loads(proc.stdout)[0]
        return info

    def _require(self, droplet_id: int) -> str:
        name = container_name(droplet_id)
        if not exists("container", name):
            raise BackendError(f"droplet {droplet_id} does not exist")
        return name

    def _used_hosts(self) -> set[int]:
        out = docker(
            "ps", "-a", "--filter", f"label={LABEL_HOST}", "--format", f'{{{{.Label "{LABEL_HOST}"}}}}', timeout=30
        ).stdout
        return {int(x) for x in out.split() if x.isdigit()}

    def _wait_stopped(self, name: str, seconds: float) -> bool:
        # `docker wait` blocks until the container exits; the subprocess timeout bounds it.
        try:
            docker("wait", name, timeout=seconds, check=False)
        except subprocess.TimeoutExpired:
            return False
        return not self._running(name)

    def _running(self, name: str) -> bool:
        proc = docker("inspect", "-f", "{{.State.Running}}", name, check=False, timeout=30)
        return proc.stdout.strip() == "true"

    def _remove(self, droplet_id: int, host: int | None, keep_volume: bool = False) -> None:
        docker("rm", "-f", container_name(droplet_id), check=False, timeout=120)
        if not keep_volume:
            docker("volume", "rm", "-f", volume_name(droplet_id), check=False, timeout=120)
            shutil.rmtree(self.seeds / str(droplet_id), ignore_errors=True)
        if host is not None:
            with contextlib.suppress(FileNotFoundError):
                metadata.record_path(self.records, host, self.net).unlink()
