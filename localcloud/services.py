"""The local cloud's host services: the registry (GHCR stand-in), Spaces (S3 stand-in) and the stand-in images.

Both services are host processes that listen on the odl-cloud gateway (10.213.0.1, so droplets reach them at the
same URL as the host does) and on 127.0.0.1:

- Registry: Debian's `docker-registry` (the CNCF distribution registry) with TLS from the local CA
  (`localcloud.ca`), bound to 127.0.0.1:5000; a `socat` forwarder carries 10.213.0.1:5000 to it once the
  odl-cloud bridge exists (the registry itself takes one listen address). The blobs live on disk, so stopping
  the registry (the "registry unreachable" fault knob) loses nothing.
- Spaces: moto's S3 server (`localcloud/spaces_moto.py`: moto plus DigitalOcean's rule that CreateBucket
  without a LocationConstraint lands in the endpoint's region) on a private loopback port (127.0.0.1:19000)
  with `socat` fronts on
  127.0.0.1:9000 and 10.213.0.1:9000. moto keeps objects in memory, so the "Spaces down" knob closes the
  fronts (clients get connection refused, as from a dead endpoint) while moto keeps running with its data;
  `start_spaces()` opens them again and every object written before the outage is still there. Only
  `stop_all()` ends moto itself (the local cloud is going away; its data with it).

Processes run in their own session (they outlive the caller, e.g. `odoo-droplet local up`); pids and logs are
under $ODL_LOCALCLOUD_HOME (run/, logs/). Commands and configuration are built by pure functions; the rest
runs them. Every wait is a bounded poll.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
import shutil
import signal
import socket
import string
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from localcloud import ca

GATEWAY = "10.213.0.1"
LOOPBACK = "127.0.0.1"
REGISTRY_PORT = 5000
SPACES_PORT = 9000
SPACES_BACKEND_PORT = 19000
DEFAULT_REGISTRY = f"{GATEWAY}:{REGISTRY_PORT}"
LOOPBACK_REGISTRY = f"{LOOPBACK}:{REGISTRY_PORT}"
SPACES_ENDPOINT = f"http://{GATEWAY}:{SPACES_PORT}"
DEFAULT_HOME = "/var/lib/odoo-droplet-localcloud"
DOCKER_CERTS_D = Path("/etc/docker/certs.d")
DEBIAN_MIRROR = "http://deb.debian.org/debian"
DEBIAN_SECURITY_MIRROR = "http://deb.debian.org/debian-security"

BASE_IMAGE = "odl/debian-minbase:12"
IMAGES_DIR = Path(__file__).resolve().parent / "images"
STANDIN_DESCRIPTION = "odoo-droplet local stand-in"
# Image tag -> the misbehaviour baked into it (localcloud/images/odoo/README.md).
ODOO_TAGS: dict[str, str] = {
    "18.0": "good",
    "18.0-good": "good",
    "18.0-prior": "good",
    "18.0-crashloop": "crashloop",
    "18.0-neverready": "neverready",
    "18.0-failinstall": "failinstall",
    "18.0-nogevent": "nogevent",
    "18.0-slowstart": "slowstart",
}
POSTGRES_TAG = "16"
REDIS_TAG = "7"


def home() -> Path:
    return Path(os.environ.get("ODL_LOCALCLOUD_HOME", DEFAULT_HOME))


# ------------------------------------------------------------------------------------------------ pure core


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


def registry_config(storage_dir: Path, cert: Path, key: Path, addr: str = f"{LOOPBACK}:{REGISTRY_PORT}") -> str:
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


def forward_proc(name: str, bind: str, port: int, target_port: int) -> Proc:
    """A TCP forwarder bind:port -> 127.0.0.1:target_port (one child per connection, killed with its group)."""
    argv = (
        "socat",
        f"TCP-LISTEN:{port},bind={bind},reuseaddr,fork",
        f"TCP:{LOOPBACK}:{target_port}",
    )
    return Proc(name, argv, ((bind, port),))


def registry_procs(config_path: Path, gateway_up: bool) -> list[Proc]:
    procs = [Proc("registry", ("docker-registry", "serve", str(config_path)), ((LOOPBACK, REGISTRY_PORT),))]
    if gateway_up:
        procs.append(forward_proc("registry-gw", GATEWAY, REGISTRY_PORT, REGISTRY_PORT))
    return procs


SPACES_SCRIPT = Path(__file__).resolve().parent / "spaces_moto.py"


def spaces_backend_proc(python: str, script: Path = SPACES_SCRIPT) -> Proc:
    return Proc(
        "spaces-moto",
        (python, str(script), "-H", LOOPBACK, "-p", str(SPACES_BACKEND_PORT)),
        ((LOOPBACK, SPACES_BACKEND_PORT),),
    )


def spaces_front_procs(gateway_up: bool) -> list[Proc]:
    procs = [forward_proc("spaces-lo", LOOPBACK, SPACES_PORT, SPACES_BACKEND_PORT)]
    if gateway_up:
        procs.append(forward_proc("spaces-gw", GATEWAY, SPACES_PORT, SPACES_BACKEND_PORT))
    return procs


def has_ipv4(ip_addr_output: str, address: str) -> bool:
    """Whether `ip -o -4 addr show` lists `address` on some interface."""
    return any(f" {address}/" in line for line in ip_addr_output.splitlines())


def new_spaces_credentials() -> dict[str, str]:
    """Keys shaped like DigitalOcean Spaces keys (moto accepts any; the shape keeps redaction tests honest)."""
    alphabet = string.ascii_uppercase + string.digits
    return {
        "SPACES_KEY": "DO00" + "".join(secrets.choice(alphabet) for _ in range(16)),
        "SPACES_SECRET": secrets.token_urlsafe(32)[:43],
    }


def parse_env_file(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.strip().partition("=")
        if sep and key and not key.startswith("#"):
            out[key] = value
    return out


def standin_builds(registry: str = DEFAULT_REGISTRY) -> list[tuple[str, Path, dict[str, str]]]:
    """(image ref, build context, build args) for every stand-in image and tag."""
    builds: list[tuple[str, Path, dict[str, str]]] = [
        (f"{registry}/postgres:{POSTGRES_TAG}", IMAGES_DIR / "postgres", {}),
        (f"{registry}/redis:{REDIS_TAG}", IMAGES_DIR / "redis", {}),
    ]
    for tag, behaviour in ODOO_TAGS.items():
        args = {"ODL_STANDIN_BEHAVIOUR": behaviour, "ODL_STANDIN_TAG": tag}
        builds.append((f"{registry}/odoo:{tag}", IMAGES_DIR / "odoo", args))
    return builds


def docker_build_argv(ref: str, context: Path, build_args: dict[str, str], base: str = BASE_IMAGE) -> list[str]:
    argv = ["docker", "build", "-q", "-t", ref, "--build-arg", f"BASE={base}"]
    for key, value in build_args.items():
        argv += ["--build-arg", f"{key}={value}"]
    return [*argv, str(context)]


def push_ref(ref: str) -> str:
    """The name to push `ref` under: our registry is pushed through loopback (same storage as the gateway
    address), so images can be pushed before the odl-cloud bridge exists and pulled from either address."""
    host, _, rest = ref.partition("/")
    return f"{LOOPBACK_REGISTRY}/{rest}" if host in (DEFAULT_REGISTRY, LOOPBACK_REGISTRY) else ref


def base_sources(mirror: str = DEBIAN_MIRROR, security: str = DEBIAN_SECURITY_MIRROR) -> str:
    return (
        f"Types: deb\nURIs: {mirror}\nSuites: bookworm bookworm-updates\nComponents: main\n"
        "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\n"
        f"Types: deb\nURIs: {security}\nSuites: bookworm-security\nComponents: main\n"
        "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n"
    )


# ------------------------------------------------------------------------------------------------ process shell


class ServiceError(RuntimeError):
    pass


def _run_dir() -> Path:
    d = home() / "run"
    d.mkdir(parents=True, exist_ok=True)
    return d


def _log_path(name: str) -> Path:
    d = home() / "logs"
    d.mkdir(parents=True, exist_ok=True)
    return d / f"{name}.log"


@contextlib.contextmanager
def _locked(name: str = "services") -> Iterator[None]:
    """Serialise starts/stops between the API server, the CLI and tests on this machine."""
    with open(_run_dir() / f"{name}.lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _pid_alive(pid: int, argv0: str) -> bool:
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


def _running_pid(proc: Proc) -> int | None:
    pidfile = _run_dir() / f"{proc.name}.pid"
    try:
        pid = int(pidfile.read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if _pid_alive(pid, proc_ident(proc)) else None


def _tcp_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _log_tail(name: str, lines: int = 20) -> str:
    try:
        return "\n".join(_log_path(name).read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def _start(proc: Proc, timeout: float = 30.0) -> int:
    """Start proc unless it runs; wait (bounded) until it accepts connections on every listen address."""
    pid = _running_pid(proc)
    child: subprocess.Popen[bytes] | None = None
    if pid is None:
        log = open(_log_path(proc.name), "ab")
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
        (_run_dir() / f"{proc.name}.pid").write_text(f"{pid}\n")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        # Alive first: a foreign process holding the port must not pass for ours (ours then exits with
        # "address already in use"). Our own child: ask it; one started by another process: /proc.
        if (child.poll() is not None) if child is not None else (_running_pid(proc) is None):
            break
        if all(_tcp_open(h, p) for h, p in proc.listen):
            return pid
        time.sleep(0.1)  # poll interval
    raise ServiceError(f"{proc.name} did not come up on {proc.listen}; log tail:\n{_log_tail(proc.name)}")


def _stop(name: str, argv0: str, timeout: float = 10.0) -> bool:
    """Stop the named process (and the children of its session, e.g. socat's per-connection forks)."""
    pidfile = _run_dir() / f"{name}.pid"
    try:
        pid = int(pidfile.read_text().strip())
    except (OSError, ValueError):
        return False
    alive = _pid_alive(pid, argv0)
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


def _proc_state(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return None


def gateway_up() -> bool:
    """Whether the odl-cloud bridge (gateway 10.213.0.1) exists on this host."""
    out = subprocess.run(["ip", "-o", "-4", "addr", "show"], capture_output=True, text=True, check=False).stdout
    return has_ipv4(out, GATEWAY)


def _write_if_changed(path: Path, data: bytes, mode: int = 0o644) -> None:
    if path.exists() and path.read_bytes() == data:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


# ------------------------------------------------------------------------------------------------ registry


def registry_addresses(gateway: bool | None = None) -> list[str]:
    gw = gateway_up() if gateway is None else gateway
    return [LOOPBACK_REGISTRY, *([DEFAULT_REGISTRY] if gw else [])]


def trust_registry_ca(ca_pem: Path) -> list[Path]:
    """Make the host's Docker engine trust the registry's certificate (read per request; no restart)."""
    written = []
    for addr in (DEFAULT_REGISTRY, LOOPBACK_REGISTRY):
        target = DOCKER_CERTS_D / addr / "ca.crt"
        _write_if_changed(target, ca_pem.read_bytes())
        written.append(target)
    return written


def ensure_registry() -> dict[str, object]:
    """Start the registry (idempotent). Call again after the odl-cloud bridge appears to add 10.213.0.1:5000."""
    with _locked():
        files = ca.ensure_ca(home())
        trust_registry_ca(files.ca_cert)
        storage = home() / "registry"
        storage.mkdir(parents=True, exist_ok=True)
        config = _run_dir() / "registry.yml"
        _write_if_changed(config, registry_config(storage, files.server_cert, files.server_key).encode(), 0o600)
        gw = gateway_up()
        pids = {p.name: _start(p) for p in registry_procs(config, gw)}
        return {"addresses": registry_addresses(gw), "pids": pids}


def stop_registry() -> None:
    """Fault knob "registry unreachable": both addresses refuse connections. Pushed images stay on disk."""
    with _locked():
        _stop("registry-gw", "socat")
        _stop("registry", "docker-registry")


def start_registry() -> dict[str, object]:
    return ensure_registry()


# ------------------------------------------------------------------------------------------------ spaces


def spaces_credentials() -> dict[str, str]:
    """SPACES_KEY / SPACES_SECRET of the local Spaces, generated once and kept 0600 in the state dir.

    moto accepts any key pair, so a wrong key is not refused locally as DigitalOcean would refuse it; the keys
    exist so every client is configured exactly as for the real Spaces (and secret redaction is exercised)."""
    path = home() / "spaces" / "credentials.env"
    if path.exists():
        creds = parse_env_file(path.read_text())
        if creds.get("SPACES_KEY") and creds.get("SPACES_SECRET"):
            return creds
    creds = new_spaces_credentials()
    path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write("".join(f"{k}={v}\n" for k, v in creds.items()))
    os.chmod(path, 0o600)
    return creds


def _moto_python() -> str:
    """A Python that has moto (the dev extras): this one, else the project's venv."""
    import importlib.util

    if importlib.util.find_spec("moto") is not None:
        return sys.executable
    venv = Path(__file__).resolve().parents[1] / ".venv" / "bin" / "python"
    if venv.exists():
        return str(venv)
    raise ServiceError("moto is not installed: install the dev extras (pip install -e '.[dev]')")


def spaces_endpoints(gateway: bool | None = None) -> list[str]:
    gw = gateway_up() if gateway is None else gateway
    return [f"http://{LOOPBACK}:{SPACES_PORT}", *([SPACES_ENDPOINT] if gw else [])]


def ensure_spaces() -> dict[str, object]:
    """Start the S3 stand-in (idempotent) and open its fronts; returns endpoints (credentials via
    `spaces_credentials()`, never in this result, so it can be logged)."""
    with _locked():
        spaces_credentials()
        backend = spaces_backend_proc(_moto_python())
        pids = {backend.name: _start(backend, timeout=60)}
        gw = gateway_up()
        pids.update({p.name: _start(p) for p in spaces_front_procs(gw)})
        return {"endpoints": spaces_endpoints(gw), "pids": pids}


def stop_spaces() -> None:
    """Fault knob "Spaces down": the endpoints refuse connections; moto keeps running, so no object is lost."""
    with _locked():
        _stop("spaces-gw", "socat")
        _stop("spaces-lo", "socat")


def start_spaces() -> dict[str, object]:
    return ensure_spaces()


def stop_all() -> None:
    """Stop every host service of the local cloud, moto included (its in-memory objects go with it)."""
    stop_spaces()
    stop_registry()
    with _locked():
        _stop("spaces-moto", SPACES_SCRIPT.name)


# ------------------------------------------------------------------------------------------------ images


def _docker(*args: str, check: bool = True, quiet: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DOCKER_BUILDKIT": "0"}  # Debian's engine has no buildx; the classic builder caches fine
    res = subprocess.run(["docker", *args], capture_output=quiet, text=True, env=env, check=False)
    if check and res.returncode != 0:
        raise ServiceError(f"docker {' '.join(args[:3])} failed ({res.returncode}): {(res.stderr or '')[-2000:]}")
    return res


def image_exists(ref: str) -> bool:
    return _docker("image", "inspect", ref, check=False).returncode == 0


def ensure_base_image(tag: str = BASE_IMAGE) -> str:
    """Debian 12 minbase from debootstrap, imported as `tag` (cached by tag: built once per machine).

    The stand-in service images start from this, as the official images start from debian:bookworm-slim; no
    image can be pulled from a public registry here.
    """
    with _locked("base-image"):
        if image_exists(tag):
            return tag
        mirror = os.environ.get("DEBIAN_MIRROR", DEBIAN_MIRROR)
        work = Path(tempfile.mkdtemp(prefix="odl-minbase.", dir="/var/tmp"))
        try:
            root = work / "rootfs"
            subprocess.run(
                ["debootstrap", "--variant=minbase", "bookworm", str(root), mirror],
                check=True,
                capture_output=True,
                text=True,
            )
            (root / "etc/apt/sources.list").unlink(missing_ok=True)
            sec = os.environ.get("DEBIAN_SECURITY_MIRROR", DEBIAN_SECURITY_MIRROR)
            (root / "etc/apt/sources.list.d/debian.sources").write_text(base_sources(mirror, sec))
            # What debian:bookworm-slim leaves out: downloaded packages and package lists.
            for pattern in ("var/cache/apt/archives/*.deb", "var/cache/apt/*.bin", "var/lib/apt/lists/*_*"):
                for p in root.glob(pattern):
                    p.unlink()
            tar = subprocess.Popen(["tar", "-C", str(root), "-c", "."], stdout=subprocess.PIPE)
            imp = subprocess.run(
                [
                    "docker",
                    "import",
                    "-c",
                    'CMD ["bash"]',
                    "-c",
                    f'LABEL org.opencontainers.image.description="{STANDIN_DESCRIPTION} base: Debian 12 minbase"',
                    "-",
                    tag,
                ],
                stdin=tar.stdout,
                capture_output=True,
                text=True,
                check=False,
            )
            assert tar.stdout is not None
            tar.stdout.close()
            tar.wait()
            if imp.returncode != 0 or tar.returncode != 0:
                raise ServiceError(f"docker import of {tag} failed: {imp.stderr[-2000:]}")
        except subprocess.CalledProcessError as e:
            raise ServiceError(f"debootstrap failed: {(e.stderr or '')[-2000:]}") from e
        finally:
            shutil.rmtree(work, ignore_errors=True)
        return tag


def build_standin_images(registry: str = DEFAULT_REGISTRY) -> list[str]:
    """Build (Docker-cached) every stand-in image under its `<registry>/<name>:<tag>` ref, without pushing."""
    base = ensure_base_image()
    refs = []
    with _locked("images"):
        for ref, context, build_args in standin_builds(registry):
            _docker(*docker_build_argv(ref, context, build_args, base)[1:])
            refs.append(ref)
    return refs


def prune_superseded_standins() -> list[str]:
    """Remove stand-in images that a rebuild left untagged (dangling, labelled as ours); in use ones stay."""
    ids = _docker("images", "-q", "--no-trunc", "--filter", "dangling=true").stdout.split()
    removed = []
    for image_id in dict.fromkeys(ids):
        label = _docker(
            "image",
            "inspect",
            "-f",
            '{{index .Config.Labels "org.opencontainers.image.description"}}',
            image_id,
            check=False,
        ).stdout
        if label.startswith(STANDIN_DESCRIPTION) and _docker("rmi", image_id, check=False).returncode == 0:
            removed.append(image_id)
    return removed


def ensure_standin_images(registry: str = DEFAULT_REGISTRY) -> list[str]:
    """Build every stand-in image and push it to the local registry (started if needed). Idempotent; a rerun
    costs the Docker cache hits and "layer already exists" pushes. Returns the refs."""
    refs = build_standin_images(registry)
    ensure_registry()
    with _locked("images"):
        for ref in refs:
            target = push_ref(ref)
            if target != ref:
                _docker("tag", ref, target)
            _docker("push", target)
            if target != ref:
                _docker("rmi", target)  # only the alias tag goes; the image keeps its `ref` name
        prune_superseded_standins()
    return refs


# ------------------------------------------------------------------------------------------------ status


def status() -> dict[str, object]:
    """What runs, where it answers, and which stand-in images exist locally (no secrets)."""
    gw = gateway_up()
    run = _run_dir()

    def proc_info(name: str, argv0: str) -> dict[str, object]:
        pid = None
        with contextlib.suppress(OSError, ValueError):
            pid = int((run / f"{name}.pid").read_text().strip())
        alive = pid is not None and _pid_alive(pid, argv0)
        return {"running": alive, "pid": pid if alive else None, "log": str(_log_path(name))}

    reg_reach = {a: _tcp_open(a.split(":")[0], REGISTRY_PORT) for a in (LOOPBACK_REGISTRY, DEFAULT_REGISTRY)}
    sp_reach = {f"http://{h}:{SPACES_PORT}": _tcp_open(h, SPACES_PORT) for h in (LOOPBACK, GATEWAY)}
    return {
        "gateway_up": gw,
        "registry": {
            "process": proc_info("registry", "docker-registry"),
            "gateway_forward": proc_info("registry-gw", "socat"),
            "reachable": reg_reach,
        },
        "spaces": {
            "backend": proc_info("spaces-moto", SPACES_SCRIPT.name),
            "fronts": {n: proc_info(n, "socat") for n in ("spaces-lo", "spaces-gw")},
            "reachable": sp_reach,
            "credentials_file": str(home() / "spaces" / "credentials.env"),
        },
        "images": {ref: image_exists(ref) for ref, _, _ in standin_builds(DEFAULT_REGISTRY)},
        "base_image": {BASE_IMAGE: image_exists(BASE_IMAGE)},
    }
