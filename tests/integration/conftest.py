"""Fixtures for the integration layer: free loopback ports, a self-signed certificate made by openssl,
and a real nginx run from a private prefix (its own nginx.conf, pid, logs and temp dirs under tmp)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

LOOPBACK = "127.0.0.1"
TLS_NAME = "odoo.test"


def free_port() -> int:
    """A TCP port free on loopback right now (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


@pytest.fixture
def free_ports() -> Callable[[int], list[int]]:
    def take(n: int) -> list[int]:
        ports: set[int] = set()
        while len(ports) < n:
            ports.add(free_port())
        return sorted(ports)

    return take


def require_tool(name: str) -> str:
    """A missing tool is a failure (scripts/bootstrap.sh installs it), never a silent skip."""
    path = shutil.which(name)
    assert path, f"{name} is not installed: run `bash scripts/bootstrap.sh`"
    return path


@dataclass(frozen=True)
class TlsPair:
    cert: Path
    key: Path
    name: str


@pytest.fixture(scope="session")
def tls_cert(tmp_path_factory: pytest.TempPathFactory) -> TlsPair:
    """A self-signed certificate for odoo.test and 127.0.0.1, as the droplet makes when it has no domain."""
    openssl = require_tool("openssl")
    d = tmp_path_factory.mktemp("tls")
    cert, key = d / "fullchain.pem", d / "privkey.pem"
    subprocess.run(
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            f"/CN={TLS_NAME}",
            "-addext",
            f"subjectAltName=DNS:{TLS_NAME},IP:{LOOPBACK}",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return TlsPair(cert, key, TLS_NAME)


def _main_conf(prefix: Path, site: Path) -> str:
    """A minimal nginx.conf that includes the rendered site in the http context, as Debian's does
    with sites-enabled/*; every writable path under `prefix` so it runs beside anything else."""
    user = "user root;\n" if os.geteuid() == 0 else ""  # workers must read the tmp files
    temp = "\n".join(
        f"    {kind}_temp_path {prefix / 'tmp' / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return (
        f"{user}worker_processes 1;\n"
        f"pid {prefix / 'nginx.pid'};\n"
        f"error_log {prefix / 'logs' / 'error.log'} info;\n"
        "events { worker_connections 256; }\n"
        "http {\n"
        "    include /etc/nginx/mime.types;\n"
        "    default_type application/octet-stream;\n"
        f"    access_log {prefix / 'logs' / 'access.log'};\n"
        f"{temp}\n"
        f"    include {site};\n"
        "}\n"
    )


@dataclass
class Nginx:
    prefix: Path
    binary: str
    conf: Path = field(init=False)
    site: Path = field(init=False)
    proc: subprocess.Popen | None = None

    def __post_init__(self) -> None:
        for sub in ("logs", "tmp", "sites-enabled"):
            (self.prefix / sub).mkdir(parents=True, exist_ok=True)
        self.conf = self.prefix / "nginx.conf"
        self.site = self.prefix / "sites-enabled" / "odoo.conf"

    def write(self, site_text: str) -> None:
        self.site.write_text(site_text)
        self.conf.write_text(_main_conf(self.prefix, self.site))

    def check(self) -> subprocess.CompletedProcess[str]:
        """`nginx -t` on the written configuration."""
        return subprocess.run(
            [self.binary, "-t", "-p", str(self.prefix), "-c", str(self.conf)],
            capture_output=True,
            text=True,
            timeout=30,
        )

    def error_log(self) -> str:
        path = self.prefix / "logs" / "error.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def start(self, ports: list[int], timeout: float = 15.0) -> None:
        """Run nginx in the foreground and wait (bounded) until every port in `ports` accepts."""
        self.proc = subprocess.Popen(
            [self.binary, "-p", str(self.prefix), "-c", str(self.conf), "-g", "daemon off;"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        pending = list(ports)
        while pending:
            try:
                with socket.create_connection((LOOPBACK, pending[0]), timeout=1):
                    pending.pop(0)
                continue
            except OSError:
                pass
            # Waiting on the process doubles as the poll interval and notices an early exit.
            try:
                code = self.proc.wait(timeout=0.05)
            except subprocess.TimeoutExpired:
                code = None
            if code is not None:
                out = self.proc.stdout.read().decode(errors="replace") if self.proc.stdout else ""
                raise AssertionError(f"nginx exited with {code}:\n{out}\n{self.error_log()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"nginx did not listen on {pending} within {timeout}s:\n{self.error_log()}")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()  # SIGTERM: fast shutdown of master and workers
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)


@pytest.fixture
def nginx(tmp_path: Path) -> Iterator[Nginx]:
    """A real nginx with its own prefix under tmp_path; stopped at teardown if started."""
    server = Nginx(prefix=tmp_path / "nginx", binary=require_tool("nginx"))
    try:
        yield server
    finally:
        server.stop()
