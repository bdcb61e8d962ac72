"""The local cloud's droplets on the local Docker engine (implements localcloud.backend.Backend).

A droplet is a container of its image running systemd as PID 1 (DESIGN.md section 6):

- name `odl-droplet-<id>`, labels `odl.droplet_id`, `odl.host`; hostname from the droplet name; `--cpus` and
  `--memory` from the size (clamped to this machine); the flags systemd and an inner Docker engine need
  without `--privileged` (CAP_SYS_RESOURCE is not available here): all capabilities but SYS_RESOURCE, no
  seccomp/apparmor, writable /proc/sys, every device, the host cgroup namespace with /sys/fs/cgroup
  writable, tmpfs on /run and /run/lock, `--stop-signal SIGRTMIN+3` (systemd's "halt").
- Addresses: host number N (allocated here, 10..200) gives 10.213.0.N on `odl-cloud` (its public IPv4;
  the gateway 10.213.0.1 is the host, where the API, registry and S3 listen) and 169.254.169.N on
  `odl-metadata` (internal network; the metadata service answers at 169.254.169.254 by source address).
  Both are static so the metadata record exists before the droplet boots.
- cloud-init reads a NoCloud seed bind-mounted read-only at /var/lib/cloud/seed/nocloud from
  `$ODL_LOCALCLOUD_HOME/seeds/<id>/`: meta-data (instance-id = droplet id, local-hostname, public-keys =
  the account's SSH keys, which cloud-init puts in root's authorized_keys) and user-data (empty
  `#cloud-config` when none was given). Being a bind mount, the seed is never part of a snapshot.
- The image has no SSH host keys; cloud-init makes them at first boot of each instance id, so a droplet
  from a snapshot gets fresh ones (cloud-init's `ssh_deletekeys` removes the ones the snapshot carries).
- Power: power_off = `docker stop` (systemd halts on SIGRTMIN+3), shutdown = `systemctl poweroff` inside,
  reboot = `docker restart`. A droplet that runs `reboot` itself comes back (RebootWatcher), as on DO.
- The inner engine (docker.io, installed by user-data or Packer as on DO) finds /etc/docker/daemon.json in
  the image: the systemd cgroup driver keeps its containers inside the droplet's cgroup (so the size's limits
  hold), and the host's resolvers keep their DNS off Docker's 8.8.8.8 fallback.

Where the inner Docker engine keeps its data, and how snapshots carry it. An inner dockerd cannot run
overlay2 on the container's own overlay root (an overlay mount on it fails here) and vfs would copy every layer
in full, so /var/lib/docker is a named volume per droplet, `odl-droplet-<id>-docker`, on the host's ext4,
where the inner engine uses overlay2. `docker commit` leaves volumes out, so `snapshot()` does two things:
commits the stopped container to `odl/snapshot-<name>:<droplet id>-<stamp>` with a label
`odl.docker_volume=<volume>`, and copies the droplet's volume into that per-image volume
(`odl-image-<hash>-docker`; `cp -a` in a helper container with CAP_SYS_ADMIN, so overlay's whiteouts and
trusted.* xattrs survive). `create_droplet()` from an image with that label first copies the image's volume
into the new droplet's volume. So images pulled inside a droplet during a Packer build are in every droplet
made from the snapshot, and deleting the snapshot (`delete_image`) removes its volume too.

Reserved IPs are loopback addresses forwarded by localcloud.forwarder threads in this process. The API's
state is the record of assignments: after a restart it calls `set_reserved_ip` again for each (the API's
reconcile), which re-opens the forwarding.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

from localcloud.backend import BackendError, BaseImage, DropletRuntime, DropletSpec, SnapshotResult
from localcloud.forwarder import Forwarder

log = logging.getLogger(__name__)

DEFAULT_HOME = Path("/var/lib/odoo-droplet-localcloud")

CLOUD_NET = "odl-cloud"
CLOUD_SUBNET = "10.213.0.0/24"
CLOUD_GATEWAY = "10.213.0.1"
CLOUD_DYNAMIC_RANGE = "10.213.0.224/27"  # for anything else attached to odl-cloud; droplets are static
METADATA_NET = "odl-metadata"
METADATA_SUBNET = "169.254.169.0/24"
METADATA_GATEWAY = "169.254.169.1"
METADATA_DYNAMIC_RANGE = "169.254.169.224/28"
METADATA_IP = "169.254.169.254"
METADATA_CONTAINER = "odl-metadata"
HOST_MIN, HOST_MAX = 10, 200  # droplet host numbers: 10.213.0.N and 169.254.169.N

ROOTFS_IMAGE = "odl/debian-12-rootfs:bookworm"
BASE_IMAGE = "odl/debian-12-x64:latest"
BASE_SLUG = "debian-12-x64"

HERE = Path(__file__).resolve().parent
BASE_DIR = HERE / "images" / "base"
METADATA_DIR = HERE / "metadata"

LABEL_ID = "odl.droplet_id"
LABEL_HOST = "odl.host"
LABEL_VOLUME = "odl.docker_volume"
LABEL_CA = "odl.ca_sha256"

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


def home_dir(home: Path | str | None = None) -> Path:
    return Path(home or os.environ.get("ODL_LOCALCLOUD_HOME") or DEFAULT_HOME)


# ---------------------------------------------------------------- pure: names, addresses, seeds, records


def container_name(droplet_id: int) -> str:
    return f"odl-droplet-{droplet_id}"


def volume_name(droplet_id: int) -> str:
    return f"odl-droplet-{droplet_id}-docker"


def image_volume_name(image_ref: str) -> str:
    return f"odl-image-{hashlib.sha256(image_ref.encode()).hexdigest()[:16]}-docker"


def cloud_address(host: int) -> str:
    return f"10.213.0.{host}"


def metadata_address(host: int) -> str:
    return f"169.254.169.{host}"


def pick_host(used: Iterable[int]) -> int:
    taken = set(used)
    for n in range(HOST_MIN, HOST_MAX + 1):
        if n not in taken:
            return n
    raise BackendError(f"no free droplet address left in {CLOUD_SUBNET}")


def hostname_for(name: str) -> str:
    """A valid hostname label from a droplet name (DO uses the name as the hostname)."""
    label = re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")[:63].strip("-")
    return label or "droplet"


def snapshot_ref(name: str, droplet_id: int, stamp: int) -> str:
    repo = re.sub(r"[^a-z0-9._-]+", "-", name.lower()).strip("-._")[:100] or "snapshot"
    return f"odl/snapshot-{repo}:{droplet_id}-{stamp}"


def render_meta_data(spec: DropletSpec) -> str:
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


def metadata_document(spec: DropletSpec, ipv4: str, reserved_ip: str | None = None) -> dict:
    """The droplet's `/metadata/v1.json`, with DigitalOcean's field names."""
    doc: dict = {
        "droplet_id": spec.id,
        "hostname": spec.name,
        "vendor_data": "#cloud-config\n{}\n",
        "public_keys": list(spec.ssh_public_keys),
        "region": spec.region,
        "interfaces": {
            "public": [
                {
                    "ipv4": {"ip_address": ipv4, "netmask": "255.255.255.0", "gateway": CLOUD_GATEWAY},
                    "type": "public",
                }
            ],
        },
        "floating_ip": {"ipv4": {"active": False}},
        "reserved_ip": {"ipv4": {"active": False}},
        "dns": {"nameservers": [CLOUD_GATEWAY]},
        "tags": list(spec.tags),
        "features": {"dhcp_enabled": False},
    }
    if spec.user_data:
        doc["user_data"] = spec.user_data
    return with_reserved_ip(doc, reserved_ip)


def with_reserved_ip(doc: dict, reserved_ip: str | None) -> dict:
    state = {"active": True, "ip_address": reserved_ip} if reserved_ip else {"active": False}
    # DO kept the old name as an alias when floating IPs became reserved IPs.
    return {**doc, "reserved_ip": {"ipv4": dict(state)}, "floating_ip": {"ipv4": dict(state)}}


def host_nameservers(resolv_conf: str) -> list[str]:
    """The host's resolvers a droplet can reach (loopback ones are the host's own, not reachable from it)."""
    servers = []
    for line in resolv_conf.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] == "nameserver" and not parts[1].startswith(("127.", "::1")):
            servers.append(parts[1])
    return servers


def inner_daemon_json(template: str, resolv_conf: str) -> str:
    """The inner engine's daemon.json: the template plus the host's resolvers.

    A droplet's /etc/resolv.conf names Docker's embedded resolver (127.0.0.11); an inner engine skips
    loopback resolvers and would fall back to 8.8.8.8 for its containers. Naming the host's resolvers keeps
    their lookups where the host's go."""
    config = json.loads(template)
    servers = host_nameservers(resolv_conf)
    if servers:
        config["dns"] = servers
    return json.dumps(config, indent=2) + "\n"


def clamp_limits(vcpus: int, memory_mb: int, host_cpus: int, host_memory_mb: int) -> tuple[str, str]:
    """--cpus/--memory for a size on this machine: Docker refuses more CPUs than the host has."""
    cpus = max(0.1, min(float(vcpus), float(host_cpus)))
    mem = max(256, min(memory_mb, host_memory_mb))
    return f"{cpus:g}", f"{mem}m"


def create_args(
    spec: DropletSpec, host: int, image: str, seed_dir: Path, volume: str, cpus: str, memory: str
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
        CLOUD_NET,
        "--ip",
        cloud_address(host),
        image,
    ]


# ---------------------------------------------------------------- shell: docker


def _docker(
    *args: str, input: bytes | None = None, timeout: float = 300, check: bool = True
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        ["docker", *args],
        input=input.decode() if input else None,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check and proc.returncode != 0:
        raise BackendError(f"docker {args[0]} failed: {proc.stderr.strip() or proc.stdout.strip()}")
    return proc


def _exists(kind: str, name: str) -> bool:
    return _docker(kind, "inspect", name, check=False, timeout=30).returncode == 0


def _image_labels(ref: str) -> dict[str, str]:
    proc = _docker("image", "inspect", "-f", "{{json .Config.Labels}}", ref, check=False, timeout=30)
    if proc.returncode != 0:
        return {}
    return json.loads(proc.stdout or "null") or {}


def _read_text(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def _write_private(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def ensure_networks() -> None:
    """Create `odl-cloud` and `odl-metadata` if missing (idempotent; a mismatched subnet is an error)."""
    nets = (
        (CLOUD_NET, CLOUD_SUBNET, CLOUD_GATEWAY, CLOUD_DYNAMIC_RANGE, False),
        (METADATA_NET, METADATA_SUBNET, METADATA_GATEWAY, METADATA_DYNAMIC_RANGE, True),
    )
    for name, subnet, gateway, dynamic, internal in nets:
        proc = _docker("network", "inspect", "-f", "{{json .IPAM.Config}}", name, check=False, timeout=30)
        if proc.returncode == 0:
            subnets = {c.get("Subnet") for c in json.loads(proc.stdout or "[]") or []}
            if subnet not in subnets:
                raise BackendError(f"network {name} exists with subnets {subnets}, expected {subnet}")
            continue
        args = [
            "network",
            "create",
            "--driver",
            "bridge",
            "--subnet",
            subnet,
            "--gateway",
            gateway,
            "--ip-range",
            dynamic,
            "-o",
            f"com.docker.network.bridge.name={name}",
            "--label",
            "odl=1",
        ]
        # Internal: no default route through it, so droplets' traffic leaves by odl-cloud only.
        if internal:
            args.append("--internal")
        proc = _docker(*args, name, check=False, timeout=60)
        if proc.returncode != 0 and "already exists" not in proc.stderr:
            raise BackendError(f"docker network create {name}: {proc.stderr.strip()}")


_rootfs_lock = threading.Lock()


def ensure_rootfs_image() -> str:
    """The debootstrap rootfs (a minute or two, once per machine; the script skips a current image)."""
    with _rootfs_lock:
        proc = subprocess.run(
            ["bash", str(BASE_DIR / "build-rootfs.sh"), ROOTFS_IMAGE], timeout=1800, capture_output=True, text=True
        )
        if proc.returncode != 0:
            raise BackendError(f"build-rootfs.sh failed: {proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    return ROOTFS_IMAGE


def _trusted_certs(home: Path) -> dict[str, bytes]:
    from localcloud.ca import ensure_ca  # the API engineer's module; creates the CA once

    certs = {"odl-localcloud-ca.crt": ensure_ca(home).ca_cert.read_bytes()}
    # The host's local additions (e.g. an egress proxy's CA): without them HTTPS from droplets fails here.
    local = Path("/usr/local/share/ca-certificates")
    if local.is_dir():
        for p in sorted(local.glob("*.crt")):
            certs.setdefault(f"host-{p.name}", p.read_bytes())
    return certs


def ensure_base_image(home: Path | str | None = None) -> str:
    """`odl/debian-12-x64:latest`: the rootfs plus the trusted CAs and the inner engine's daemon.json.

    Skipped when the tag exists with the same inputs (rootfs, CAs, files; label odl.ca_sha256): seconds."""
    home = home_dir(home)
    certs = _trusted_certs(home)
    ensure_rootfs_image()
    rootfs_id = _docker("image", "inspect", "-f", "{{.Id}}", ROOTFS_IMAGE, timeout=30).stdout.strip()
    layer_files = {
        "Dockerfile": (BASE_DIR / "Dockerfile").read_bytes(),
        "docker-daemon.json": inner_daemon_json(
            (BASE_DIR / "docker-daemon.json").read_text(), _read_text(Path("/etc/resolv.conf"))
        ).encode(),
    }
    inputs = sorted({**certs, **layer_files, "rootfs": rootfs_id.encode()}.items())
    digest = hashlib.sha256(b"".join(k.encode() + v for k, v in inputs)).hexdigest()
    if _image_labels(BASE_IMAGE).get(LABEL_CA) == digest:
        return BASE_IMAGE
    ctx = home / "build" / "base"
    shutil.rmtree(ctx, ignore_errors=True)
    (ctx / "certs").mkdir(parents=True)
    for name, data in layer_files.items():
        (ctx / name).write_bytes(data)
    for name, data in certs.items():
        (ctx / "certs" / name).write_bytes(data)
    _docker(
        "build",
        "-q",
        "--build-arg",
        f"ROOTFS={ROOTFS_IMAGE}",
        "--label",
        f"{LABEL_CA}={digest}",
        "-t",
        BASE_IMAGE,
        str(ctx),
        timeout=600,
    )
    return BASE_IMAGE


def ensure_metadata_service(home: Path | str | None = None) -> str:
    """Run the metadata server container at 169.254.169.254 (idempotent). Returns its address."""
    home = home_dir(home)
    records = home / "metadata"
    records.mkdir(parents=True, exist_ok=True)
    os.chmod(records, 0o700)
    ensure_networks()
    image = ensure_rootfs_image()
    # Recreated when what it runs changes: the image, the record dir, the server's code.
    image_id = _docker("image", "inspect", "-f", "{{.Id}}", image, timeout=30).stdout.strip()
    code = (METADATA_DIR / "server.py").read_bytes()
    config = hashlib.sha256(f"{image_id}|{records}|{METADATA_DIR}|".encode() + code).hexdigest()[:16]
    proc = _docker(
        "inspect",
        "-f",
        '{{.State.Running}} {{index .Config.Labels "odl.config"}}',
        METADATA_CONTAINER,
        check=False,
        timeout=30,
    )
    if proc.returncode == 0:
        running, _, label = proc.stdout.strip().partition(" ")
        if label == config:
            if running != "true":
                _docker("start", METADATA_CONTAINER, timeout=60)
            return METADATA_IP
        _docker("rm", "-f", METADATA_CONTAINER, timeout=60)
    _docker(
        "run",
        "-d",
        "--name",
        METADATA_CONTAINER,
        "--label",
        f"odl.config={config}",
        "--restart",
        "unless-stopped",
        "--network",
        METADATA_NET,
        "--ip",
        METADATA_IP,
        "-v",
        f"{METADATA_DIR}:/srv/odl-metadata:ro",
        "-v",
        f"{records}:/srv/metadata:ro",
        "-e",
        "ODL_METADATA_DIR=/srv/metadata",
        "-e",
        "PYTHONDONTWRITEBYTECODE=1",
        image,
        "python3",
        "/srv/odl-metadata/server.py",
        timeout=120,
    )
    return METADATA_IP


def _copy_volume(src: str, dst: str) -> None:
    # cp -a keeps owners, modes, device nodes (overlay whiteouts) and xattrs (trusted.* needs SYS_ADMIN).
    _docker(
        "run",
        "--rm",
        "--network",
        "none",
        "--cap-add",
        "SYS_ADMIN",
        "-v",
        f"{src}:/from:ro",
        "-v",
        f"{dst}:/to",
        ROOTFS_IMAGE,
        "cp",
        "-a",
        "/from/.",
        "/to/",
        timeout=1800,
    )


def _host_memory_mb() -> int:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) // 1024
    return 1024


# ---------------------------------------------------------------- the backend


# systemd as PID 1 of a container ends `reboot` by SIGHUP (exit 129) and `poweroff` by SIGINT (130).
REBOOT_EXIT_CODE = "129"


def reboot_requested(event_line: str) -> str | None:
    """The droplet container to start again, from a `docker events` die line "<name> <exitCode>"."""
    name, _, code = event_line.strip().partition(" ")
    return name if name.startswith("odl-droplet-") and code == REBOOT_EXIT_CODE else None


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
                    _docker("start", name, check=False, timeout=120)
            self._proc.wait()
            self._stop.wait(2.0)  # pace reconnects

    def stop(self) -> None:
        self._stop.set()
        if self._proc is not None:
            self._proc.terminate()


class DockerBackend:
    """localcloud.backend.Backend on the local Docker engine. Thread-safe; every method blocks until done."""

    def __init__(
        self, home: Path | str | None = None, forwarder: Forwarder | None = None, watch_reboots: bool = True
    ) -> None:
        self.home = home_dir(home)
        self.seeds = self.home / "seeds"
        self.records = self.home / "metadata"
        for d in (self.seeds, self.records):
            d.mkdir(parents=True, exist_ok=True)
            os.chmod(d, 0o700)
        self._lock = threading.RLock()
        self.forwarder = forwarder or Forwarder()
        self._reboots = RebootWatcher() if watch_reboots else None

    # -- Backend protocol

    def base_images(self) -> list[BaseImage]:
        return [BaseImage(BASE_SLUG, "12 x64", "Debian", BASE_IMAGE, size_gigabytes=0.5, min_disk_size=10)]

    def create_droplet(self, spec: DropletSpec) -> DropletRuntime:
        image = BASE_IMAGE if spec.image_ref in (BASE_SLUG, BASE_IMAGE) else spec.image_ref
        if not _exists("image", image):
            raise BackendError(f"no such image {image}")
        name = container_name(spec.id)
        if _exists("container", name):
            return self.droplet_runtime(spec.id)  # a retried create: the droplet is already there
        seed = self.seeds / str(spec.id)
        seed.mkdir(parents=True, exist_ok=True)
        os.chmod(seed, 0o700)
        _write_private(seed / "meta-data", render_meta_data(spec))
        _write_private(seed / "user-data", render_user_data(spec.user_data))
        volume = volume_name(spec.id)
        _docker("volume", "create", "--label", f"{LABEL_ID}={spec.id}", volume, timeout=60)
        source_volume = _image_labels(image).get(LABEL_VOLUME)
        if source_volume and _exists("volume", source_volume):
            _copy_volume(source_volume, volume)
        cpus, memory = clamp_limits(spec.vcpus, spec.memory_mb, os.cpu_count() or 1, _host_memory_mb())
        with self._lock:
            tried: set[int] = set()
            for attempt in range(5):
                host = pick_host(self._used_hosts() | tried)
                ipv4 = cloud_address(host)
                _write_private(self._record_path(host), json.dumps(metadata_document(spec, ipv4)))
                try:
                    _docker(*create_args(spec, host, image, seed, volume, cpus, memory), timeout=120)
                    _docker("network", "connect", "--ip", metadata_address(host), METADATA_NET, name, timeout=60)
                    _docker("start", name, timeout=120)
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
        return DropletRuntime(bool(info["State"]["Running"]), cloud_address(int(host)) if host else None)

    def power_off(self, droplet_id: int, graceful: bool) -> None:
        name = self._require(droplet_id)
        if graceful:
            # What an ACPI shutdown does: the OS powers itself off (systemd stops every unit, dockerd included).
            proc = _docker("exec", name, "systemctl", "poweroff", check=False, timeout=60)
            if proc.returncode == 0 and self._wait_stopped(name, 90):
                return
        # "Pull the plug", with the few seconds systemd needs to stop dockerd so the disk stays consistent.
        _docker("stop", "-t", "20", name, timeout=120)

    def power_on(self, droplet_id: int) -> DropletRuntime:
        _docker("start", self._require(droplet_id), timeout=120)
        return self.droplet_runtime(droplet_id)

    def reboot(self, droplet_id: int) -> DropletRuntime:
        _docker("restart", "-t", "60", self._require(droplet_id), timeout=240)
        return self.droplet_runtime(droplet_id)

    def snapshot(self, droplet_id: int, name: str) -> SnapshotResult:
        cname = self._require(droplet_id)
        ref = snapshot_ref(name, droplet_id, int(time.time() * 1000))
        image_volume = image_volume_name(ref)
        _docker("volume", "create", "--label", f"odl.image_ref={ref}", image_volume, timeout=60)
        try:
            _copy_volume(volume_name(droplet_id), image_volume)
            _docker(
                "commit",
                "--change",
                f"LABEL {LABEL_VOLUME}={image_volume}",
                "--change",
                f"LABEL odl.snapshot_of={droplet_id}",
                cname,
                ref,
                timeout=1800,
            )
        except BackendError:
            _docker("volume", "rm", "-f", image_volume, check=False, timeout=60)
            raise
        size = int(_docker("image", "inspect", "-f", "{{.Size}}", ref, timeout=30).stdout.strip() or 0)
        size += _volume_bytes(image_volume)
        return SnapshotResult(ref, round(max(size, 1) / 1e9, 2))

    def delete_droplet(self, droplet_id: int) -> None:
        info = self._inspect(droplet_id)
        host = info["Config"]["Labels"].get(LABEL_HOST) if info else None
        self._remove(droplet_id, int(host) if host else None)

    def delete_image(self, ref: str) -> None:
        if ref in (BASE_IMAGE, ROOTFS_IMAGE, BASE_SLUG):
            raise BackendError(f"{ref} is a distribution image, not a snapshot")
        volume = _image_labels(ref).get(LABEL_VOLUME)
        # -f: droplets made from the snapshot keep running (as on DO); their layers stay until they go.
        proc = _docker("rmi", "-f", ref, check=False, timeout=300)
        if proc.returncode != 0 and "No such image" not in proc.stderr:
            raise BackendError(f"docker rmi {ref}: {proc.stderr.strip()}")
        if volume:
            _docker("volume", "rm", "-f", volume, check=False, timeout=60)

    def set_reserved_ip(self, ip: str, droplet_id: int | None, droplet_ipv4: str | None) -> None:
        target = droplet_ipv4 if droplet_id is not None else None
        with self._lock:
            try:
                self.forwarder.assign(ip, target)
            except OSError as exc:
                raise BackendError(f"reserved ip {ip}: cannot listen: {exc}") from exc
            self._update_metadata_reserved(ip, target)

    def close(self) -> None:
        """Stop the reserved-IP forwarding and the reboot watcher of this process (droplets keep running)."""
        self.forwarder.close()
        if self._reboots is not None:
            self._reboots.stop()

    # -- helpers

    def address_of(self, droplet_id: int) -> str | None:
        return self.droplet_runtime(droplet_id).ipv4

    def _record_path(self, host: int) -> Path:
        return self.records / f"{metadata_address(host)}.json"

    def _inspect(self, droplet_id: int) -> dict | None:
        proc = _docker("container", "inspect", container_name(droplet_id), check=False, timeout=30)
        if proc.returncode != 0:
            return None
        return json.loads(proc.stdout)[0]

    def _require(self, droplet_id: int) -> str:
        name = container_name(droplet_id)
        if not _exists("container", name):
            raise BackendError(f"droplet {droplet_id} does not exist")
        return name

    def _used_hosts(self) -> set[int]:
        out = _docker(
            "ps", "-a", "--filter", f"label={LABEL_HOST}", "--format", f'{{{{.Label "{LABEL_HOST}"}}}}', timeout=30
        ).stdout
        return {int(x) for x in out.split() if x.isdigit()}

    def _wait_stopped(self, name: str, seconds: float) -> bool:
        # `docker wait` blocks until the container exits; the subprocess timeout bounds it.
        try:
            _docker("wait", name, timeout=seconds, check=False)
        except subprocess.TimeoutExpired:
            return False
        return not self._running(name)

    def _running(self, name: str) -> bool:
        proc = _docker("inspect", "-f", "{{.State.Running}}", name, check=False, timeout=30)
        return proc.stdout.strip() == "true"

    def _remove(self, droplet_id: int, host: int | None, keep_volume: bool = False) -> None:
        _docker("rm", "-f", container_name(droplet_id), check=False, timeout=120)
        if not keep_volume:
            _docker("volume", "rm", "-f", volume_name(droplet_id), check=False, timeout=120)
            shutil.rmtree(self.seeds / str(droplet_id), ignore_errors=True)
        if host is not None:
            with contextlib.suppress(FileNotFoundError):
                self._record_path(host).unlink()

    def _update_metadata_reserved(self, ip: str, target: str | None) -> None:
        for path in self.records.glob("*.json"):
            try:
                doc = json.loads(path.read_text())
            except (OSError, ValueError):
                continue
            public = doc["interfaces"]["public"][0]["ipv4"]["ip_address"]
            current = doc.get("reserved_ip", {}).get("ipv4", {}).get("ip_address")
            if public == target:
                new = with_reserved_ip(doc, ip)
            elif current == ip:
                new = with_reserved_ip(doc, None)
            else:
                continue
            _write_private(path, json.dumps(new))


def _volume_bytes(volume: str) -> int:
    proc = _docker("volume", "inspect", "-f", "{{.Mountpoint}}", volume, check=False, timeout=30)
    root = Path(proc.stdout.strip())
    if proc.returncode != 0 or not root.is_dir():
        return 0
    du = subprocess.run(["du", "-sb", str(root)], capture_output=True, text=True, timeout=300)
    return int(du.stdout.split()[0]) if du.returncode == 0 and du.stdout else 0


def droplet_exec(droplet_id: int, argv: Sequence[str], timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """Run a command in a droplet (tests and the benchmark; the API never needs it)."""
    return _docker("exec", container_name(droplet_id), *argv, check=False, timeout=timeout)
