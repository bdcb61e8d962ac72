"""`local up | down | status | env`: start, stop and describe the local cloud.

`up` is idempotent: it makes the state dir, credentials and CA, asks the Docker backing and the services
to build/start what is missing (unless `api_only`), then starts the API server as a daemon process
(`python -m localcloud serve`, pidfile `api.pid`, log `logs/api.log`, settings `api.json` under the
state dir) and waits until it answers. With `api_only` the server runs on the in-process MemoryBackend
(no Docker), bound to 127.0.0.1 unless told otherwise.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import shlex
import signal
import ssl
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from localcloud.ca import ca_files, ensure_ca
from localcloud.state import ensure_credentials, localcloud_home, write_atomic

GATEWAY = "10.213.0.1"
API_PORT = 8443
SPACES_ENDPOINT = f"http://{GATEWAY}:9000"
REGISTRY = f"{GATEWAY}:5000"
REPO_ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class ServerConfig:
    host: str
    port: int
    backend: str  # "docker" or "memory"

    @property
    def url(self) -> str:
        return f"https://{self.host}:{self.port}"


def _config_path(home: Path) -> Path:
    return home / "api.json"


def _pid_path(home: Path) -> Path:
    return home / "api.pid"


def read_config(home: Path) -> ServerConfig | None:
    try:
        data = json.loads(_config_path(home).read_text())
        return ServerConfig(data["host"], int(data["port"]), data["backend"])
    except (OSError, ValueError, KeyError):
        return None


def server_pid(home: Path) -> int | None:
    """The pid of a live API server for this home, if there is one."""
    try:
        pid = int(_pid_path(home).read_text().strip())
    except (OSError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return pid
    try:  # a recycled pid belonging to something else is not our server
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return None
    return pid if b"localcloud" in b" ".join(cmdline) and b"serve" in cmdline else None


def answers(home: Path, cfg: ServerConfig, timeout: float = 3.0) -> bool:
    """True when the API answers an authenticated GET /v2/account with 200."""
    token = ensure_credentials(home).token
    ctx = ssl.create_default_context(cafile=str(ca_files(home).ca_cert))
    req = urllib.request.Request(f"{cfg.url}/v2/account", headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=timeout) as resp:
            return resp.status == 200
    except (urllib.error.URLError, OSError, ssl.SSLError):
        return False


def _ensure_backing(api_only: bool) -> None:
    if api_only:
        return
    # Built alongside by the Docker-backing and services work; imported here only, so `--api-only` and
    # the unit tests need neither.
    from localcloud import docker_backend, services

    docker_backend.ensure_networks()
    docker_backend.ensure_base_image()
    docker_backend.ensure_metadata_service()
    services.ensure_registry()
    services.ensure_spaces()
    services.ensure_standin_images()


def up(home: Path | None = None, *, api_only: bool = False, host: str | None = None, port: int = API_PORT,
       backend: str | None = None, timeout: float = 60.0) -> ServerConfig:
    home = Path(home or localcloud_home())
    home.mkdir(parents=True, exist_ok=True)
    os.chmod(home, 0o700)
    (home / "logs").mkdir(exist_ok=True)
    ensure_credentials(home)
    ensure_ca(home)
    with _use_home(home):
        _ensure_backing(api_only)
    cfg = ServerConfig(host or ("127.0.0.1" if api_only else GATEWAY), port,
                       backend or ("memory" if api_only else "docker"))
    pid = server_pid(home)
    if pid is not None:
        if read_config(home) == cfg and answers(home, cfg):
            return cfg
        stop_server(home)
    write_atomic(_config_path(home), json.dumps(asdict(cfg)).encode(), 0o600)
    log = open(home / "logs" / "api.log", "ab")  # noqa: SIM115 - handed to the child process
    # The daemon (and the services it stops/starts for the fault knobs) works on this home.
    env = {**os.environ, "ODL_LOCALCLOUD_HOME": str(home),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))}
    proc = subprocess.Popen(
        [sys.executable, "-m", "localcloud", "--home", str(home), "serve", "--host", cfg.host,
         "--port", str(cfg.port), "--backend", cfg.backend],
        stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=str(home),
        start_new_session=True,
    )
    log.close()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the API server exited with {proc.returncode}:\n{_log_tail(home)}")
        if answers(home, cfg, timeout=2):
            return cfg
        time.sleep(0.2)
    proc.terminate()
    raise RuntimeError(f"the API server did not answer within {timeout:.0f}s:\n{_log_tail(home)}")


def _log_tail(home: Path, lines: int = 30) -> str:
    try:
        return "\n".join((home / "logs" / "api.log").read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def stop_server(home: Path, timeout: float = 15.0) -> bool:
    """Stop the API server of this home (SIGTERM, then SIGKILL after `timeout`). True if one ran."""
    pid = server_pid(home)
    if pid is None:
        _pid_path(home).unlink(missing_ok=True)
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and server_pid(home) == pid:
        time.sleep(0.1)
    if server_pid(home) == pid:
        os.kill(pid, signal.SIGKILL)
    _pid_path(home).unlink(missing_ok=True)
    return True


def down(home: Path | None = None) -> None:
    """Stop the API server and the services. Droplets (containers) and state stay, as on DigitalOcean:
    the next `up` finds them again; delete droplets through the API to remove them."""
    home = Path(home or localcloud_home())
    stop_server(home)
    try:
        from localcloud import services
    except ImportError:
        return
    with _use_home(home):
        services.stop_all()


def status(home: Path | None = None) -> dict[str, Any]:
    home = Path(home or localcloud_home())
    cfg = read_config(home)
    pid = server_pid(home)
    counts: dict[str, int] = {}
    try:
        state = json.loads((home / "state.json").read_text())
        counts = {k: len(state.get(k, {})) for k in ("droplets", "images", "reserved_ips", "domains", "keys")}
    except (OSError, ValueError):
        pass
    return {
        "home": str(home),
        "api": {"running": pid is not None and cfg is not None and answers(home, cfg), "pid": pid,
                "url": cfg.url if cfg else None, "backend": cfg.backend if cfg else None},
        "state": counts,
    }


@contextlib.contextmanager
def _use_home(home: Path) -> Iterator[None]:
    """localcloud.services and docker_backend find the state dir through the environment: make it this one
    for the calls inside, and restore it after (callers in tests pass temporary homes)."""
    before = os.environ.get("ODL_LOCALCLOUD_HOME")
    os.environ["ODL_LOCALCLOUD_HOME"] = str(home)
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("ODL_LOCALCLOUD_HOME", None)
        else:
            os.environ["ODL_LOCALCLOUD_HOME"] = before


def _spaces_credentials(home: Path) -> dict[str, str]:
    try:
        from localcloud import services
    except ImportError as e:  # the services module is built alongside; say so rather than invent keys
        raise RuntimeError(f"localcloud.services is not available for the Spaces keys: {e}") from None
    with _use_home(home):
        return services.spaces_credentials()


def env_lines(home: Path | None = None) -> list[str]:
    """`export` lines for a shell's eval. pydo goes through requests, which reads REQUESTS_CA_BUNDLE (not
    SSL_CERT_FILE); Packer (Go) and curl read SSL_CERT_FILE. Both name the bundle: system CAs + ours."""
    home = Path(home or localcloud_home())
    creds = ensure_credentials(home)
    files = ensure_ca(home)
    cfg = read_config(home) or ServerConfig(GATEWAY, API_PORT, "docker")
    spaces = _spaces_credentials(home)
    values = {
        "DIGITALOCEAN_API_URL": cfg.url,
        "DIGITALOCEAN_TOKEN": creds.token,
        "SSL_CERT_FILE": str(files.bundle),
        "REQUESTS_CA_BUNDLE": str(files.bundle),
        "ODL_LOCALCLOUD_CA": str(files.ca_cert),
        "SPACES_ENDPOINT": SPACES_ENDPOINT,
        "SPACES_KEY": spaces["SPACES_KEY"],
        "SPACES_SECRET": spaces["SPACES_SECRET"],
        "REGISTRY": REGISTRY,
    }
    return [f"export {k}={shlex.quote(v)}" for k, v in values.items()]


def serve(home: Path, host: str, port: int, backend_name: str) -> int:
    """Run the API server in the foreground until SIGTERM/SIGINT (what `up` starts as a daemon)."""
    from localcloud.api import ApiServer
    from localcloud.backend import Backend, MemoryBackend

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    backend: Backend
    if backend_name == "memory":
        backend = MemoryBackend()
    else:
        from localcloud.docker_backend import DockerBackend

        backend = DockerBackend(home)
    server = ApiServer(home, backend, host, port)
    write_atomic(home / "api.pid", f"{os.getpid()}\n".encode(), 0o644)

    def stop(signum: int, frame: FrameType | None) -> None:
        # shutdown() waits for serve_forever to return, so it must run outside the serving thread.
        threading.Thread(target=server.httpd.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    logging.getLogger("localcloud.api").info("serving %s (backend %s, state %s)", server.url, backend_name, home)
    server.serve_forever()
    server.httpd.server_close()
    server.cloud.close()
    server.state.save()
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="localcloud", description="The local cloud: DigitalOcean's API on Docker.")
    p.add_argument("--home", type=Path, default=None, help="state dir (default $ODL_LOCALCLOUD_HOME or "
                                                           "/var/lib/odoo-droplet-localcloud)")
    p.add_argument("--json", action="store_true", help="print JSON (up, down, status, env)")
    sub = p.add_subparsers(dest="cmd", required=True)
    u = sub.add_parser("up", help="build what is missing and start everything (idempotent)")
    u.add_argument("--api-only", action="store_true", help="only the API server, on the in-memory backend")
    u.add_argument("--host", default=None, help="bind address (default 10.213.0.1; 127.0.0.1 with --api-only)")
    u.add_argument("--port", type=int, default=API_PORT)
    u.add_argument("--backend", choices=("docker", "memory"), default=None)
    sub.add_parser("down", help="stop the API server and the services (droplets and state are kept)")
    sub.add_parser("status", help="print what runs, as JSON")
    sub.add_parser("env", help="print export lines for eval")
    s = sub.add_parser("serve", help="run the API server in the foreground")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=API_PORT)
    s.add_argument("--backend", choices=("docker", "memory"), default="docker")
    raw = list(sys.argv[1:] if argv is None else argv)
    # `--json` may come after the action too (the builder passes `up --json`).
    as_json = "--json" in raw
    args = p.parse_args([a for a in raw if a != "--json"])
    home = Path(args.home or localcloud_home())

    if args.cmd == "serve":
        return serve(home, args.host, args.port, args.backend)
    if args.cmd == "up":
        try:
            cfg = up(home, api_only=args.api_only, host=args.host, port=args.port, backend=args.backend)
        except (RuntimeError, ImportError) as e:
            print(f"local cloud did not start: {e}", file=sys.stderr)
            return 1
        if as_json:
            print(json.dumps({"ok": True, "url": cfg.url, "backend": cfg.backend, "home": str(home)}))
        else:
            print(f"local cloud API at {cfg.url} (backend {cfg.backend}); `eval \"$(python -m localcloud env)\"`")
        return 0
    if args.cmd == "down":
        down(home)
        if as_json:
            print(json.dumps({"ok": True}))
        return 0
    if args.cmd == "status":
        st = status(home)
        print(json.dumps(st, indent=2))
        return 0 if st["api"]["running"] else 3
    if args.cmd == "env":
        lines = env_lines(home)
        if as_json:
            print(json.dumps(dict(shlex.split(line[len("export "):])[0].split("=", 1) for line in lines)))
        else:
            print("\n".join(lines))
        return 0
    return 2
