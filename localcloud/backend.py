"""The seam between the local cloud's API (localcloud/api/) and what actually runs droplets.

The API keeps the DigitalOcean-visible state (ids, statuses, actions, reserved-IP records) in
localcloud/state.py and asks a `Backend` to do the work. Every `Backend` method is called from a worker
thread, never while a request is being answered, so a method may block for as long as the work takes
(pull, boot, commit); it raises `BackendError` when the work failed (the API then marks the action
"errored"). Two implementations:

- `localcloud.docker_backend.DockerBackend(home)`: droplets are containers on the `odl-cloud` bridge
  (DESIGN.md section 6). The real thing.
- `MemoryBackend` below: no Docker, nothing runs. It simulates the lifecycle (addresses, power state,
  snapshots) so the API layer can be tested in seconds. For API-level tests only.

Note for clients of the API (the builder): pydo's default azure-core RetryPolicy re-sends POST on
429/500/503/504, which can create a droplet twice. Create with a unique name/tag and look before
re-creating, or pass `retry_total=0` / a `retry_policy` that excludes POST to `pydo.Client`.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from localcloud.network import NETWORK, Network


class BackendError(RuntimeError):
    """The backend could not do what was asked; the message ends up in the server log."""


@dataclass(frozen=True)
class BaseImage:
    """A distribution image the backend can boot (DigitalOcean's stock images, e.g. debian-12-x64)."""

    slug: str
    name: str  # as DO shows it, e.g. "12 x64"
    distribution: str  # one of the spec's enum values ("Debian", ...)
    ref: str  # the backend's own reference (a Docker image name for DockerBackend)
    size_gigabytes: float = 1.0
    min_disk_size: int = 10


@dataclass(frozen=True)
class DropletSpec:
    """What the API asks the backend to run. All DO-visible identity travels with it (metadata service)."""

    id: int
    name: str
    region: str
    size_slug: str
    vcpus: int  # the container's CPU limit
    memory_mb: int  # the container's memory limit
    disk_gb: int
    image_ref: str  # BaseImage.ref or SnapshotResult.ref
    user_data: str | None = None
    ssh_public_keys: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class DropletRuntime:
    """What is true about a droplet right now, as the backend sees it."""

    running: bool
    ipv4: str | None = None  # the droplet's address on odl-cloud: its "public IPv4"
    exists: bool = True


@dataclass(frozen=True)
class SnapshotResult:
    ref: str  # usable later as DropletSpec.image_ref and for delete_image()
    size_gigabytes: float = 1.0


@runtime_checkable
class Backend(Protocol):
    def base_images(self) -> list[BaseImage]:
        """The distribution images available for droplet creation (called at server start)."""
        ...

    def create_droplet(self, spec: DropletSpec) -> DropletRuntime:
        """Create and start the droplet; return once it runs and has its address (status → active)."""
        ...

    def droplet_runtime(self, droplet_id: int) -> DropletRuntime:
        """Current state (used to reconcile after a server restart). exists=False if it is gone."""
        ...

    def power_off(self, droplet_id: int, graceful: bool) -> None:
        """graceful=True is `shutdown` (ACPI-style, the OS shuts down); False is `power_off` (pull the plug)."""
        ...

    def power_on(self, droplet_id: int) -> DropletRuntime:
        ...

    def reboot(self, droplet_id: int) -> DropletRuntime:
        ...

    def snapshot(self, droplet_id: int, name: str) -> SnapshotResult:
        """Capture the droplet's disk as a new image (DockerBackend: `docker commit`)."""
        ...

    def delete_droplet(self, droplet_id: int) -> None:
        """Remove the droplet and its disk. Must not fail if it is already gone."""
        ...

    def delete_image(self, ref: str) -> None:
        """Remove a snapshot's image. Must not fail if it is already gone."""
        ...

    def set_reserved_ip(self, ip: str, droplet_id: int | None, droplet_ipv4: str | None) -> None:
        """Point reserved `ip` (a 127.0.0.x address) at the droplet, or nowhere when droplet_id is None.

        DockerBackend: forward ip:80 and ip:443 to droplet_ipv4 and update the droplet's metadata
        (reserved_ip/ipv4/active, ip_address). Called for assign, unassign, and release (None).
        """
        ...


@dataclass
class _MemDroplet:
    spec: DropletSpec
    ipv4: str
    running: bool = True


@dataclass
class MemoryBackend:
    """In-process backend for API-level tests only: nothing is created, no container runs.

    It keeps the contract of `Backend` (addresses from the network's cloud subnet, power state, snapshots as refs) so
    the API's lifecycle (new → active, actions, reserved IPs) can be exercised without Docker.
    `fail_next` makes the next call of the named method raise `BackendError` (tests of errored actions).
    """

    droplets: dict[int, _MemDroplet] = field(default_factory=dict)
    images: set[str] = field(default_factory=lambda: {"localcloud/debian-12-x64:latest"})
    reserved: dict[str, int | None] = field(default_factory=dict)
    fail_next: set[str] = field(default_factory=set)
    calls: list[tuple[str, object]] = field(default_factory=list)
    net: Network = NETWORK
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _next_host: int = NETWORK.host_min

    def _enter(self, method: str, arg: object) -> None:
        with self._lock:
            self.calls.append((method, arg))
            if method in self.fail_next:
                self.fail_next.discard(method)
                raise BackendError(f"{method} failed (MemoryBackend.fail_next)")

    def base_images(self) -> list[BaseImage]:
        return [BaseImage("debian-12-x64", "12 x64", "Debian", "localcloud/debian-12-x64:latest")]

    def create_droplet(self, spec: DropletSpec) -> DropletRuntime:
        self._enter("create_droplet", spec.id)
        if spec.image_ref not in self.images:
            raise BackendError(f"no such image {spec.image_ref}")
        with self._lock:
            used = {d.ipv4 for d in self.droplets.values()}
            while (ip := self.net.cloud_address(self._next_host)) in used:
                self._next_host += 1
            self._next_host += 1
            self.droplets[spec.id] = _MemDroplet(spec, ip)
        return DropletRuntime(True, ip)

    def droplet_runtime(self, droplet_id: int) -> DropletRuntime:
        d = self.droplets.get(droplet_id)
        if d is None:
            return DropletRuntime(False, None, exists=False)
        return DropletRuntime(d.running, d.ipv4)

    def _get(self, droplet_id: int) -> _MemDroplet:
        try:
            return self.droplets[droplet_id]
        except KeyError:
            raise BackendError(f"droplet {droplet_id} does not exist") from None

    def power_off(self, droplet_id: int, graceful: bool) -> None:
        self._enter("power_off", droplet_id)
        self._get(droplet_id).running = False

    def power_on(self, droplet_id: int) -> DropletRuntime:
        self._enter("power_on", droplet_id)
        d = self._get(droplet_id)
        d.running = True
        return DropletRuntime(True, d.ipv4)

    def reboot(self, droplet_id: int) -> DropletRuntime:
        self._enter("reboot", droplet_id)
        d = self._get(droplet_id)
        d.running = True
        return DropletRuntime(True, d.ipv4)

    def snapshot(self, droplet_id: int, name: str) -> SnapshotResult:
        self._enter("snapshot", droplet_id)
        self._get(droplet_id)
        ref = f"localcloud/snapshot-{droplet_id}-{len(self.images)}:latest"
        with self._lock:
            self.images.add(ref)
        return SnapshotResult(ref, 1.5)

    def delete_droplet(self, droplet_id: int) -> None:
        self._enter("delete_droplet", droplet_id)
        with self._lock:
            self.droplets.pop(droplet_id, None)

    def delete_image(self, ref: str) -> None:
        self._enter("delete_image", ref)
        with self._lock:
            self.images.discard(ref)

    def set_reserved_ip(self, ip: str, droplet_id: int | None, droplet_ipv4: str | None) -> None:
        self._enter("set_reserved_ip", (ip, droplet_id))
        with self._lock:
            self.reserved[ip] = droplet_id
