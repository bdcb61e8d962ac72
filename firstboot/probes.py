"""Adapters that touch the droplet: run commands, HTTP(S) and websocket probes to this droplet's own
nginx and Odoo, docker compose state and SQL on ir_module_module.

Commands are built as argument tuples by `Compose` (pure, testable as data) and run by a `Runner`; the
agent receives both, so the unit tests replace only the runner and the HTTP client.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import re
import socket
import ssl
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from firstboot.config import Deploy
from firstboot.gates import CommandResult, ContainerInfo, HttpResult, ModuleRow
from firstboot.render.compose import redis_ping_command

BODY_LIMIT = 64 * 1024
MODULE_NAME = re.compile(r"^[a-z0-9_]+$")


class Runner(Protocol):
    def __call__(self, args: tuple[str, ...], *, timeout: float, stdin: str | None = None,
                 env: Mapping[str, str] | None = None) -> CommandResult: ...


def run_command(args: tuple[str, ...], *, timeout: float, stdin: str | None = None,
                env: Mapping[str, str] | None = None) -> CommandResult:
    """The real runner: no shell, bounded by `timeout`, output captured as text."""
    t0 = time.monotonic()
    full_env = {**os.environ, **(env or {})}
    try:
        p = subprocess.run(args, input=stdin, capture_output=True, text=True, timeout=timeout, env=full_env,
                           errors="replace")
        return CommandResult(tuple(args), p.returncode, p.stdout, p.stderr, time.monotonic() - t0)
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
        return CommandResult(tuple(args), 124, out, f"timed out after {timeout}s", time.monotonic() - t0)
    except OSError as e:
        return CommandResult(tuple(args), 127, "", str(e), time.monotonic() - t0)


@dataclass(frozen=True)
class Compose:
    """docker compose commands for the stack in /etc/odoo-droplet/stack (pure: returns argument tuples)."""

    file: Path
    project: str = "odoo-droplet"

    def base(self) -> tuple[str, ...]:
        return ("docker", "compose", "-p", self.project, "-f", str(self.file))

    def up(self, *services: str) -> tuple[str, ...]:
        return (*self.base(), "up", "-d", "--no-build", "--remove-orphans", *services)

    def stop(self, *services: str) -> tuple[str, ...]:
        return (*self.base(), "stop", *services)

    def rm(self, *services: str) -> tuple[str, ...]:
        return (*self.base(), "rm", "-f", "-s", *services)

    def ps(self) -> tuple[str, ...]:
        return (*self.base(), "ps", "-a", "--format", "json")

    def logs(self, tail: int = 200) -> tuple[str, ...]:
        return (*self.base(), "logs", "--no-color", "--timestamps", "--tail", str(tail))

    def exec(self, service: str, *cmd: str) -> tuple[str, ...]:
        return (*self.base(), "exec", "-T", service, *cmd)

    def install(self, name: str, database: str, modules: tuple[str, ...]) -> tuple[str, ...]:
        # A named, non --rm container: if the agent dies mid-install the container keeps running under
        # dockerd, and the resumed agent waits for it (docker wait) instead of initialising a second time.
        return (*self.base(), "run", "-T", "--name", name, "odoo",
                "odoo", "-d", database, "-i", ",".join(modules), "--stop-after-init")

    def shell(self, database: str) -> tuple[str, ...]:
        """`odoo shell` in a one-off container, reading its script from stdin (firstboot/plans/admin.py): a
        secret the script carries is on no command line."""
        return (*self.base(), "run", "--rm", "-T", "odoo", "odoo", "shell", "-d", database, "--no-http")

    def pg_isready(self, deploy: Deploy) -> tuple[str, ...]:
        pg = deploy.postgres
        if pg.mode == "selfhost":
            # Over TCP, like the compose healthcheck: while the official image runs its init scripts, a
            # temporary server answers on the Unix socket only and then stops, so a socket check can call
            # PostgreSQL ready just before it goes away (seen: the install's psql then found no socket).
            return self.exec("db", "pg_isready", "-h", "127.0.0.1", "-p", "5432", "-U", pg.user,
                             "-d", deploy.odoo.database)
        # Managed PostgreSQL: no db container; ask from the odoo container, which has the client.
        return (*self.base(), "run", "--rm", "-T", "--no-deps", "--entrypoint", "pg_isready", "odoo",
                "-h", pg.host or "", "-p", str(pg.port), "-U", pg.user)

    def psql(self, deploy: Deploy, database: str) -> tuple[str, ...]:
        """psql reading SQL from stdin, unaligned, tuples only, '|' separated, stopping on error."""
        pg = deploy.postgres
        opts = ("-X", "-A", "-t", "-F", "|", "-v", "ON_ERROR_STOP=1")
        if pg.mode == "selfhost":
            return self.exec("db", "psql", *opts, "-U", pg.user, "-d", database)
        # The password is read inside the container from odoo.conf (the odoo user's own 0600 file), so it
        # is never on a command line nor in the container's environment.
        sslmode = pg.sslmode
        script = (f'PGPASSWORD="$(sed -n "s/^db_password *= *//p" /etc/odoo/odoo.conf)" PGSSLMODE={sslmode} '
                  f'exec psql {" ".join(opts[:4])} "|" -v ON_ERROR_STOP=1 -h "$HOST" -p "$PORT" -U "$USER" -d {database}')
        return (*self.base(), "run", "--rm", "-T", "--no-deps", "--entrypoint", "sh", "odoo", "-c", script)

    def redis_ping(self) -> tuple[str, ...]:
        return self.exec("redis", *redis_ping_command())  # authenticated; no password on a command line


def docker_wait(name: str) -> tuple[str, ...]:
    return ("docker", "wait", name)


def docker_inspect(*names: str) -> tuple[str, ...]:
    return ("docker", "inspect", *names)


def image_inspect(ref: str) -> tuple[str, ...]:
    return ("docker", "image", "inspect", "--format", "{{json .RepoDigests}} {{.Id}}", ref)


def parse_image_digest(stdout: str) -> str:
    """`docker image inspect` output -> the registry digest when known, else the local image id."""
    parts = stdout.strip().split(" ", 1)
    try:
        digests = json.loads(parts[0]) or []
    except ValueError:
        digests = []
    if digests:
        return digests[0].split("@", 1)[-1]
    return parts[-1] if parts else ""


def parse_compose_ps(stdout: str) -> list[dict]:
    """Compose v2 prints a JSON array (up to 2.20) or one JSON object per line (later): accept both."""
    text = stdout.strip()
    if not text:
        return []
    if text.startswith("["):
        return json.loads(text)
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def parse_inspect(stdout: str, services: Mapping[str, str]) -> list[ContainerInfo]:
    """`docker inspect` JSON -> ContainerInfo; `services` maps container name -> compose service."""
    out = []
    for c in json.loads(stdout or "[]"):
        name = c.get("Name", "").lstrip("/")
        st = c.get("State", {})
        out.append(ContainerInfo(
            service=services.get(name, c.get("Config", {}).get("Labels", {}).get(
                "com.docker.compose.service", name)),
            name=name,
            state=st.get("Status", ""),
            health=(st.get("Health") or {}).get("Status", ""),
            restart_count=int(c.get("RestartCount", 0)),
            started_at=st.get("StartedAt", ""),
        ))
    return out


def module_query(modules: tuple[str, ...]) -> str:
    bad = [m for m in modules if not MODULE_NAME.match(m)]
    if bad:
        raise ValueError(f"module names must match {MODULE_NAME.pattern}: {bad}")
    names = ", ".join(f"'{m}'" for m in modules)
    # Every row in a pending state too, not only the requested ones: a dependency stuck in
    # "to install" means the install did not finish.
    return (f"SELECT name, coalesce(latest_version, ''), state FROM ir_module_module "
            f"WHERE name IN ({names}) OR state IN ('to install', 'to upgrade', 'to remove') ORDER BY name;\n")


def parse_module_rows(stdout: str) -> list[ModuleRow]:
    rows = []
    for line in stdout.splitlines():
        parts = line.split("|")
        if len(parts) == 3:
            rows.append(ModuleRow(parts[0].strip(), parts[1].strip(), parts[2].strip()))
    return rows


def database_exists_query(database: str) -> str:
    if not MODULE_NAME.match(database.lower().replace("-", "_")):
        raise ValueError(f"unexpected database name {database!r}")
    return f"SELECT 1 FROM pg_database WHERE datname = '{database}';\n"


class Http(Protocol):
    def get(self, url: str, *, connect_host: str, port: int, tls: bool, host_header: str,
            timeout: float, follow: int = 0) -> HttpResult: ...

    def websocket(self, url: str, *, connect_host: str, port: int, tls: bool, host_header: str,
                  origin: str, timeout: float) -> HttpResult: ...

    def authenticate(self, base_url: str, database: str, login: str, password: str, *, connect_host: str,
                     port: int, tls: bool, host_header: str, timeout: float) -> HttpResult: ...


class LoopbackHttp:
    """HTTP(S) to this droplet itself: connects to `connect_host` (127.0.0.1) while sending SNI and Host
    of the domain, which is how a client would reach it once DNS points here ("DOMAIN resolved to
    127.0.0.1 before cutover"). Certificates are not verified: the peer is our own nginx on loopback,
    and before Let's Encrypt has issued one the certificate is self-signed."""

    def _ctx(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        return ctx

    def get(self, url: str, *, connect_host: str, port: int, tls: bool, host_header: str,
            timeout: float, follow: int = 0) -> HttpResult:
        """GET `url`; with `follow` > 0, same-site redirects are followed carrying the cookies they set
        (Odoo answers /web/login?db=X with a 302 that sets the session's database, then 200)."""
        path = _path_of(url)
        t0 = time.monotonic()
        cookies: dict[str, str] = {}
        try:
            for hop in range(follow + 1):
                sock = socket.create_connection((connect_host, port), timeout=timeout)
                if tls:
                    sock = self._ctx().wrap_socket(sock, server_hostname=_sni(host_header))
                conn = http.client.HTTPConnection(connect_host, port, timeout=timeout)
                conn.sock = sock
                headers = {"Host": host_header, "User-Agent": "odoo-droplet-gates", "Accept": "*/*"}
                if cookies:
                    headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
                conn.request("GET", path, headers=headers)
                resp = conn.getresponse()
                body = resp.read(BODY_LIMIT).decode(errors="replace")
                got = {k: v for k, v in resp.getheaders()}
                for k, v in resp.getheaders():
                    if k.lower() == "set-cookie":
                        name, _, value = v.split(";", 1)[0].partition("=")
                        cookies[name.strip()] = value.strip()
                conn.close()
                location = got.get("Location") or got.get("location") or ""
                if resp.status in (301, 302, 303, 307, 308) and hop < follow and location:
                    path = _path_of(location) if "://" in location else location
                    continue
                return HttpResult(url, resp.status, _ms(t0), body, got)
            raise http.client.HTTPException("redirect loop")  # pragma: no cover - loop always returns
        except (OSError, http.client.HTTPException, ssl.SSLError) as e:
            return HttpResult(url, 0, _ms(t0), error=f"{type(e).__name__}: {e}")

    def _post(self, path: str, body: bytes, headers: dict[str, str], *, connect_host: str, port: int,
              tls: bool, host_header: str, timeout: float) -> tuple[int, dict[str, str], list[str], str]:
        sock = socket.create_connection((connect_host, port), timeout=timeout)
        if tls:
            sock = self._ctx().wrap_socket(sock, server_hostname=_sni(host_header))
        conn = http.client.HTTPConnection(connect_host, port, timeout=timeout)
        conn.sock = sock
        try:
            conn.request("POST", path, body=body, headers={"Host": host_header, "User-Agent": "odoo-droplet-gates",
                                                           **headers})
            resp = conn.getresponse()
            text = resp.read(BODY_LIMIT).decode(errors="replace")
            cookies = [v for k, v in resp.getheaders() if k.lower() == "set-cookie"]
            kept = {k: v for k, v in resp.getheaders() if k.lower() != "set-cookie"}
            return resp.status, kept, cookies, text
        finally:
            conn.close()

    def authenticate(self, base_url: str, database: str, login: str, password: str, *, connect_host: str,
                     port: int, tls: bool, host_header: str, timeout: float) -> HttpResult:
        """`/web/session/authenticate` (JSON-RPC, as Odoo's web client logs in); a session it opens is ended
        at once (`/web/session/destroy`). The password travels in the request body only, and the answer is
        returned without its Set-Cookie: no credential reaches a log or a proof."""
        url = f"{base_url}/web/session/authenticate"
        payload = {"jsonrpc": "2.0", "method": "call", "id": 1,
                   "params": {"db": database, "login": login, "password": password}}
        def post(path: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, str], list[str], str]:
            return self._post(path, body, headers, connect_host=connect_host, port=port, tls=tls,
                              host_header=host_header, timeout=timeout)

        t0 = time.monotonic()
        try:
            status, headers, cookies, text = post(_path_of(url), json.dumps(payload).encode(),
                                                  {"Content-Type": "application/json"})
        except (OSError, http.client.HTTPException, ssl.SSLError) as e:
            return HttpResult(url, 0, _ms(t0), error=f"{type(e).__name__}: {e}")
        result = HttpResult(url, status, _ms(t0), text, headers)
        sid = next((c.split(";", 1)[0].partition("=")[2] for c in cookies if c.strip().startswith("session_id=")), "")
        if sid and '"uid"' in text:
            try:
                post("/web/session/destroy", b'{"jsonrpc": "2.0", "method": "call", "params": {}}',
                     {"Content-Type": "application/json", "Cookie": f"session_id={sid}"})
            except (OSError, http.client.HTTPException, ssl.SSLError):
                pass  # the login's verdict stands; the session expires by itself
        return result

    def websocket(self, url: str, *, connect_host: str, port: int, tls: bool, host_header: str,
                  origin: str, timeout: float) -> HttpResult:
        """A raw RFC 6455 opening handshake; Odoo 18 refuses one without Origin (400)."""
        path = _path_of(url)
        key = base64.b64encode(os.urandom(16)).decode()
        req = (f"GET {path} HTTP/1.1\r\nHost: {host_header}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nOrigin: {origin}\r\n"
               "User-Agent: odoo-droplet-gates\r\n\r\n")
        t0 = time.monotonic()
        try:
            sock = socket.create_connection((connect_host, port), timeout=timeout)
            if tls:
                sock = self._ctx().wrap_socket(sock, server_hostname=_sni(host_header))
            with sock:
                sock.sendall(req.encode())
                data = b""
                while b"\r\n\r\n" not in data and len(data) < BODY_LIMIT:
                    chunk = sock.recv(4096)
                    if not chunk:
                        break
                    data += chunk
            head, _, rest = data.partition(b"\r\n\r\n")
            lines = head.decode(errors="replace").split("\r\n")
            status = int(lines[0].split()[1]) if lines and len(lines[0].split()) > 1 else 0
            headers = {}
            for line in lines[1:]:
                k, _, v = line.partition(":")
                headers[k.strip()] = v.strip()
            return HttpResult(url, status, _ms(t0), rest.decode(errors="replace")[:2048], headers,
                              None if status else "no HTTP status line")
        except (OSError, ssl.SSLError, ValueError) as e:
            return HttpResult(url, 0, _ms(t0), error=f"{type(e).__name__}: {e}")


def _path_of(url: str) -> str:
    rest = url.split("://", 1)[-1]
    i = rest.find("/")
    return rest[i:] if i >= 0 else "/"


def _sni(host_header: str) -> str | None:
    host = host_header.rsplit(":", 1)[0] if host_header.count(":") == 1 else host_header
    # SNI carries names, never IP literals (RFC 6066).
    return None if re.fullmatch(r"[0-9.]+", host) or ":" in host else host


def _ms(t0: float) -> int:
    return int((time.monotonic() - t0) * 1000)
