"""`local up | down | status | env`: start, stop and describe the local cloud.

`up` is idempotent: it makes the state dir, credentials and CA, asks the Docker backing and the services
to build/start what is missing (unless `api_only`), then starts the API server as a daemon process
(`python -m localcloud --home HOME serve`, pidfile `api.pid`, log `logs/api.log`, settings `api.json` under
the state dir) and waits until it answers. With `api_only` the server runs on the in-process MemoryBackend
(no Docker), bound to 127.0.0.1 unless told otherwise; `spaces=True` adds the Spaces stand-in (moto) on
loopback, and port 0 picks free ports for both (`odoo-droplet local up --api-only`: the CLI and the S3 side
of a deploy's proofs without Docker, beside another local cloud if one runs). The ports chosen are kept in
`api.json`, so `env`, `status` and the fault knobs find them. Once it answers, the account's SSH key and the
demo's DNS zone (`DEMO_ZONES`, the one examples/deploy.yaml names) are made through the API when missing.

The state folder is a `Home` and the addresses the standard `Network` (the daemon, the services and the
droplets must agree on them, so they are not a parameter here), made here once and passed down; `home=None`
means the environment's (`Home.from_env()`), read here at the process boundary. The daemon gets its folder
as `--home`, never through the environment.
"""

from __future__ import annotations

import argparse
import functools
import json
import logging
import os
import shlex
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from types import FrameType
from typing import Any

from localcloud import docker_backend, services
from localcloud.api import ApiServer
from localcloud.api.shapes import ssh_fingerprint
from localcloud.backend import Backend, MemoryBackend
from localcloud.ca import ca_files, ensure_ca
from localcloud.home import DEFAULT_HOME, HOME_ENV, Home
from localcloud.network import NETWORK, Network
from localcloud.state import ensure_credentials, write_atomic

API_PORT = NETWORK.api_port
# The folder holding the localcloud package (the checkout when run from source, site-packages when installed):
# the daemon imports localcloud from the same place as this process, whatever its working directory.
SOURCE_ROOT = Path(__file__).resolve().parents[1]

HomeArg = Home | Path | str | None


def resolve_home(home: HomeArg) -> Home:
    """The caller's folder, or the environment's when none is given (the process boundary)."""
    return Home.from_env() if home is None else Home.of(home)


@dataclass(frozen=True)
class ServerConfig:
    host: str
    port: int
    backend: str  # "docker" or "memory"
    # The API-only cloud's own Spaces (loopback only), when it runs one: moto's port and the front's.
    spaces_port: int | None = None
    spaces_backend_port: int | None = None

    @property
    def url(self) -> str:
        return f"https://{self.host}:{self.port}"

    @property
    def network(self) -> Network:
        """The standard network, with this cloud's own Spaces ports when it chose them."""
        if self.spaces_port is None or self.spaces_backend_port is None:
            return NETWORK
        return replace(NETWORK, spaces_port=self.spaces_port, spaces_backend_port=self.spaces_backend_port)


def read_config(home: HomeArg) -> ServerConfig | None:
    try:
        data = json.loads(resolve_home(home).api_config.read_text())
        spaces = [data.get(k) for k in ("spaces_port", "spaces_backend_port")]
        sp, sbp = (int(v) if v is not None else None for v in spaces)
        return ServerConfig(data["host"], int(data["port"]), data["backend"], sp, sbp)
    except (OSError, ValueError, KeyError, TypeError):
        return None


def free_port(host: str = NETWORK.loopback) -> int:
    """A TCP port nothing listens on at `host` now (the kernel's choice)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def server_pid(home: HomeArg) -> int | None:
    """The pid of a live API server for this home, if there is one."""
    try:
        pid = int(resolve_home(home).api_pid.read_text().strip())
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


def answers(home: HomeArg, cfg: ServerConfig, timeout: float = 3.0) -> bool:
    """True when the API answers an authenticated GET /v2/account with 200."""
    home = resolve_home(home)
    token = ensure_credentials(home).token
    ctx = ssl.create_default_context(cafile=str(ca_files(home).ca_cert))
    req = urllib.request.Request(f"{cfg.url}/v2/account", headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=timeout) as resp:
            return resp.status == 200
    except (urllib.error.URLError, OSError, ssl.SSLError):
        return False


SSH_KEY_NAME = "odoo-droplet local cloud"
SSH_KEY_ENV = "ODL_SSH_KEY"  # builder/ssh.py reads the same name


def ensure_ssh_key(home: Home) -> str:
    """The account's ed25519 key pair, made once (private key 0600 under the home): its public key line."""
    key = home.ssh_key
    pub = key.with_name(key.name + ".pub")
    if not (key.is_file() and pub.is_file()):
        key.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(key.parent, 0o700)
        key.unlink(missing_ok=True)
        pub.unlink(missing_ok=True)
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", SSH_KEY_NAME, "-f", str(key)],
                       check=True, stdin=subprocess.DEVNULL, capture_output=True, timeout=30)
    os.chmod(key, 0o600)
    return pub.read_text().strip()


def _api(home: Home, cfg: ServerConfig, method: str, path: str, body: dict[str, Any] | None = None,
         timeout: float = 10.0) -> tuple[int, Any]:
    token = ensure_credentials(home).token
    ctx = ssl.create_default_context(cafile=str(ca_files(home).ca_cert))
    req = urllib.request.Request(f"{cfg.url}{path}", method=method,
                                 data=json.dumps(body).encode() if body is not None else None,
                                 headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=timeout) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, None


def register_ssh_key(home: Home, cfg: ServerConfig) -> dict[str, Any]:
    """The account key for `ensure_ssh_key`'s pair, registered through the API when it is not yet (same
    fingerprint: not added twice). Returns the API's `ssh_key` object."""
    public_key = ensure_ssh_key(home)
    fingerprint = ssh_fingerprint(public_key)
    if fingerprint is None:  # pragma: no cover - ssh-keygen wrote something else than an ed25519 key
        raise RuntimeError(f"{home.ssh_key}.pub is not a public key")
    status, found = _api(home, cfg, "GET", f"/v2/account/keys/{fingerprint}")
    if status == 200:
        return dict(found["ssh_key"])
    status, made = _api(home, cfg, "POST", "/v2/account/keys", {"name": SSH_KEY_NAME, "public_key": public_key})
    if status != 201:
        raise RuntimeError(f"registering the local cloud's SSH key: the API answered {status}")
    return dict(made["ssh_key"])


# The zone examples/deploy.yaml names (dns.domain; tests/unit/test_localcloud_layout.py holds them together):
# kept by the local cloud as DigitalOcean keeps an account's domains, so `make demo` moves its record.
DEMO_ZONES = ("odoo-demo.test",)

ApiCall = Callable[[str, str, dict[str, Any] | None], tuple[int, Any]]


def ensure_zones(call: ApiCall, zones: tuple[str, ...] = DEMO_ZONES) -> list[str]:
    """Each zone created through the API when it does not exist yet (idempotent); the ones created."""
    made = []
    for zone in zones:
        status, _ = call("GET", f"/v2/domains/{zone}", None)
        if status == 200:
            continue
        status, _ = call("POST", "/v2/domains", {"name": zone})
        if status != 201:
            raise RuntimeError(f"creating the DNS zone {zone}: the API answered {status}")
        made.append(zone)
    return made


def ensure_backing(home: Home, net: Network = NETWORK) -> None:
    """Everything droplets need on this machine, built or started when missing (idempotent)."""
    docker_backend.ensure_networks(net)
    docker_backend.ensure_droplet_image(home)
    docker_backend.ensure_metadata_service(home, net)
    services.ensure_registry(home, net)
    services.ensure_spaces(home, net)
    services.ensure_standin_images(home, net)


def up(home: HomeArg = None, *, api_only: bool = False, spaces: bool = False, host: str | None = None,
       port: int = API_PORT, backend: str | None = None, timeout: float = 60.0) -> ServerConfig:
    """Start what is missing (idempotent). `spaces` (with `api_only`) adds the Spaces stand-in on loopback;
    `port=0` picks free ports (the API's and, with `spaces`, Spaces'), reused while the same cloud runs."""
    home, net = resolve_home(home), NETWORK
    home.root.mkdir(parents=True, exist_ok=True)
    os.chmod(home.root, 0o700)
    home.logs.mkdir(exist_ok=True)
    ensure_credentials(home)
    ensure_ca(home)
    if not api_only:
        ensure_backing(home, net)
    host = host or (net.loopback if api_only else net.gateway)
    backend = backend or ("memory" if api_only else "docker")
    prior = read_config(home) if server_pid(home) is not None else None
    if port == 0:
        port = prior.port if prior and (prior.host, prior.backend) == (host, backend) else free_port(host)
    spaces_ports: tuple[int | None, int | None] = (None, None)
    if api_only and spaces:
        if prior and prior.spaces_port and prior.spaces_backend_port:
            spaces_ports = (prior.spaces_port, prior.spaces_backend_port)
        else:
            spaces_ports = (free_port(), free_port())
    cfg = ServerConfig(host, port, backend, *spaces_ports)
    if cfg.spaces_port is not None:
        services.ensure_spaces(home, cfg.network, gateway=False)
    ensure_ssh_key(home)
    pid = server_pid(home)
    if pid is not None:
        if read_config(home) == cfg and answers(home, cfg):
            register_ssh_key(home, cfg)
            ensure_zones(functools.partial(_api, home, cfg))
            return cfg
        stop_server(home)
    write_atomic(home.api_config, json.dumps(asdict(cfg)).encode(), 0o600)
    log = open(home.log("api"), "ab")  # noqa: SIM115 - handed to the child process
    # The daemon (and the services it stops/starts for the fault knobs) works on this home: `--home`.
    env = {**os.environ,
           "PYTHONPATH": os.pathsep.join(filter(None, [str(SOURCE_ROOT), os.environ.get("PYTHONPATH")]))}
    proc = subprocess.Popen(
        [sys.executable, "-m", "localcloud", "--home", str(home.root), "serve", "--host", cfg.host,
         "--port", str(cfg.port), "--backend", cfg.backend],
        stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=str(home.root),
        start_new_session=True,
    )
    log.close()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the API server exited with {proc.returncode}:\n{_log_tail(home)}")
        if answers(home, cfg, timeout=2):
            register_ssh_key(home, cfg)
            ensure_zones(functools.partial(_api, home, cfg))
            return cfg
        time.sleep(0.2)
    proc.terminate()
    raise RuntimeError(f"the API server did not answer within {timeout:.0f}s:\n{_log_tail(home)}")


def _log_tail(home: Home, lines: int = 30) -> str:
    try:
        return "\n".join(home.log("api").read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def stop_server(home: HomeArg, timeout: float = 15.0) -> bool:
    """Stop the API server of this home (SIGTERM, then SIGKILL after `timeout`). True if one ran."""
    home = resolve_home(home)
    pid = server_pid(home)
    if pid is None:
        home.api_pid.unlink(missing_ok=True)
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and server_pid(home) == pid:
        time.sleep(0.1)
    if server_pid(home) == pid:
        os.kill(pid, signal.SIGKILL)
    home.api_pid.unlink(missing_ok=True)
    return True


def down(home: HomeArg = None) -> None:
    """Stop the API server and the services. Droplets (containers) and state stay, as on DigitalOcean:
    the next `up` finds them again; delete droplets through the API to remove them."""
    home = resolve_home(home)
    stop_server(home)
    services.stop_all(home)


def status(home: HomeArg = None) -> dict[str, Any]:
    home = resolve_home(home)
    cfg = read_config(home)
    pid = server_pid(home)
    counts: dict[str, int] = {}
    try:
        state = json.loads(home.state_file.read_text())
        counts = {k: len(state.get(k, {})) for k in ("droplets", "images", "reserved_ips", "domains", "keys")}
    except (OSError, ValueError):
        pass
    return {
        "home": str(home.root),
        "api": {"running": pid is not None and cfg is not None and answers(home, cfg), "pid": pid,
                "url": cfg.url if cfg else None, "backend": cfg.backend if cfg else None},
        "state": counts,
    }


def env_values(home: HomeArg = None) -> dict[str, str]:
    """What a client needs to use the local cloud, by environment variable name. pydo goes through requests,
    which reads REQUESTS_CA_BUNDLE (not SSL_CERT_FILE); Packer (Go) and curl read SSL_CERT_FILE. Both name the
    bundle: system CAs + ours."""
    home = resolve_home(home)
    creds = ensure_credentials(home)
    files = ensure_ca(home)
    cfg = read_config(home) or ServerConfig(NETWORK.gateway, NETWORK.api_port, "docker")
    net = cfg.network
    spaces = services.spaces_credentials(home)
    return {
        "DIGITALOCEAN_API_URL": cfg.url,
        "DIGITALOCEAN_TOKEN": creds.token,
        "SSL_CERT_FILE": str(files.bundle),
        "REQUESTS_CA_BUNDLE": str(files.bundle),
        "ODL_LOCALCLOUD_CA": str(files.ca_cert),
        # The API-only cloud's Spaces listens on loopback only.
        "SPACES_ENDPOINT": net.loopback_spaces_endpoint if cfg.spaces_port else net.spaces_endpoint,
        "SPACES_KEY": spaces["SPACES_KEY"],
        "SPACES_SECRET": spaces["SPACES_SECRET"],
        "REGISTRY": net.registry,
        SSH_KEY_ENV: str(home.ssh_key),
    }


def env_lines(home: HomeArg = None) -> list[str]:
    """`export` lines for a shell's eval (`env_values`, shell-quoted)."""
    return [f"export {k}={shlex.quote(v)}" for k, v in env_values(home).items()]


def serve(home: HomeArg, host: str, port: int, backend_name: str) -> int:
    """Run the API server in the foreground until SIGTERM/SIGINT (what `up` starts as a daemon)."""
    home = resolve_home(home)
    cfg = read_config(home)
    net = cfg.network if cfg else NETWORK  # the fault knobs restart Spaces on the ports `up` chose
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    backend: Backend
    if backend_name == "memory":
        backend = MemoryBackend()
    else:
        backend = docker_backend.DockerBackend(home, net=net)
    server = ApiServer(home, backend, host, port, services=services.HostServices(home, net),
                       reserved_range=net.reserved_range)
    write_atomic(home.api_pid, f"{os.getpid()}\n".encode(), 0o644)

    def stop(signum: int, frame: FrameType | None) -> None:
        # shutdown() waits for serve_forever to return, so it must run outside the serving thread.
        threading.Thread(target=server.httpd.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    logging.getLogger("localcloud.api").info("serving %s (backend %s, state %s)", server.url, backend_name,
                                             home.root)
    server.serve_forever()
    server.httpd.server_close()
    server.cloud.close()
    server.state.save()
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="localcloud", description="The local cloud: DigitalOcean's API on Docker.")
    p.add_argument("--home", type=Path, default=None,
                   help=f"state dir (default ${HOME_ENV} or {DEFAULT_HOME})")
    p.add_argument("--json", action="store_true", help="print JSON (up, down, status, env)")
    # `--json` may come after the action too (`up --json`): the same flag on every action, without a default
    # there so it does not reset one given before the action.
    after = argparse.ArgumentParser(add_help=False)
    after.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    sub = p.add_subparsers(dest="cmd", required=True)
    u = sub.add_parser("up", parents=[after], help="build what is missing and start everything (idempotent)")
    u.add_argument("--api-only", action="store_true", help="only the API server, on the in-memory backend")
    u.add_argument("--with-spaces", action="store_true",
                   help="with --api-only: the Spaces stand-in (moto) too, on loopback (--port 0: free ports)")
    u.add_argument("--host", default=None,
                   help=f"bind address (default {NETWORK.gateway}; {NETWORK.loopback} with --api-only)")
    u.add_argument("--port", type=int, default=API_PORT)
    u.add_argument("--backend", choices=("docker", "memory"), default=None)
    sub.add_parser("down", parents=[after], help="stop the API server and the services (droplets and state are kept)")
    sub.add_parser("status", parents=[after], help="print what runs, as JSON")
    sub.add_parser("env", parents=[after], help="print export lines for eval")
    s = sub.add_parser("serve", parents=[after], help="run the API server in the foreground")
    s.add_argument("--host", default=NETWORK.loopback)
    s.add_argument("--port", type=int, default=API_PORT)
    s.add_argument("--backend", choices=("docker", "memory"), default="docker")
    args = p.parse_args(argv)
    as_json: bool = args.json
    home = resolve_home(args.home)

    if args.cmd == "serve":
        return serve(home, args.host, args.port, args.backend)
    if args.cmd == "up":
        try:
            cfg = up(home, api_only=args.api_only, spaces=args.with_spaces, host=args.host, port=args.port,
                     backend=args.backend)
        except RuntimeError as e:  # BackendError, ServiceError and the daemon's own start failures
            print(f"local cloud did not start: {e}", file=sys.stderr)
            return 1
        if as_json:
            print(json.dumps({"ok": True, "url": cfg.url, "backend": cfg.backend, "home": str(home.root)}))
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
        if as_json:
            print(json.dumps(env_values(home)))
        else:
            print("\n".join(env_lines(home)))
        return 0
    return 2
