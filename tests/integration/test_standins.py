"""The stand-in images keep the official images' contracts and Odoo 18's behaviours (DESIGN.md sections 4, 6).

Real Docker, real PostgreSQL (the postgres stand-in is Debian's PostgreSQL), a throwaway Docker network per
test; containers are named `odl-test-*` and removed at teardown. Waits poll a condition with a deadline.
"""

from __future__ import annotations

import base64
import hashlib
import importlib
import json
import os
import secrets
import socket
import subprocess
import sys
import time
import types
import urllib.error
import urllib.parse
import urllib.request
import xmlrpc.client
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from localcloud import services
from localcloud.home import Home

pytestmark = pytest.mark.integration

# Test-only override: build and run the stand-ins under another registry prefix (e.g. `odl-dev-standin`), so a
# change to them can be tested while other runs use the images under the default prefix.
REGISTRY = os.environ.get("ODL_STANDIN_REGISTRY", services.DEFAULT_REGISTRY)
PG_IMAGE = f"{REGISTRY}/postgres:{services.POSTGRES_TAG}"
REDIS_IMAGE = f"{REGISTRY}/redis:{services.REDIS_TAG}"


def odoo_image(tag: str = "18.0") -> str:
    return f"{REGISTRY}/odoo:{tag}"


def docker(*args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    res = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout, check=False)
    if check and res.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)} -> {res.returncode}\n{res.stdout}\n{res.stderr}")
    return res


def wait_for(what: str, probe: Callable[[], object], timeout: float = 90, every: float = 0.2) -> object:
    """Poll `probe` until it returns something truthy; fail with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            last = probe()
        except (OSError, AssertionError, urllib.error.URLError) as e:
            last = e
        else:
            if last:
                return last
        time.sleep(every)  # poll interval
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last: {last!r}")


def http_raw(
    url: str, headers: dict[str, str] | None = None, data: bytes | None = None, timeout: float = 10
) -> tuple[int, dict[str, str], bytes]:
    """GET (or POST with `data`) without following redirects: (status, headers, body bytes)."""

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):  # noqa: ANN002, ANN003
            return None

    opener = urllib.request.build_opener(NoRedirect)
    req = urllib.request.Request(url, data=data, headers=headers or {})
    try:
        with opener.open(req, timeout=timeout) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def http_get(url: str, headers: dict[str, str] | None = None, timeout: float = 5) -> tuple[int, dict[str, str], str]:
    """GET without following redirects: (status, headers, body)."""
    status, hdrs, body = http_raw(url, headers, timeout=timeout)
    return status, hdrs, body.decode(errors="replace")


def post_form(
    url: str, fields: dict[str, str], cookie: str | None = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], str]:
    """A browser's form POST (urlencoded), without following redirects."""
    hdrs = {"Content-Type": "application/x-www-form-urlencoded", **(headers or {})}
    if cookie:
        hdrs["Cookie"] = cookie
    status, out, body = http_raw(url, hdrs, urllib.parse.urlencode(fields).encode())
    return status, out, body.decode(errors="replace")


def jsonrpc(
    base: str, path: str, params: Mapping[str, object], cookie: str | None = None, headers: dict[str, str] | None = None
) -> tuple[dict[str, Any], str | None]:
    """A JSON-RPC call as Odoo's web client makes it: (response body, the session cookie it set, if any)."""
    hdrs = {"Content-Type": "application/json", **(headers or {})}
    if cookie:
        hdrs["Cookie"] = cookie
    payload = json.dumps({"jsonrpc": "2.0", "method": "call", "id": 1, "params": params}).encode()
    status, out, body = http_raw(base + path, hdrs, payload)
    assert status == 200, (status, body)
    return json.loads(body), cookie_of(out)


def cookie_of(headers: dict[str, str]) -> str | None:
    """`session_id=...` from a Set-Cookie header, None without one."""
    value = headers.get("Set-Cookie", "")
    return value.split(";", 1)[0] if value.startswith("session_id=") else None


def csrf_of(page: str) -> str:
    marker = 'name="csrf_token" value="'
    assert marker in page, page
    return page.split(marker, 1)[1].split('"', 1)[0]


def ws_handshake(host: str, port: int, origin: str | None, timeout: float = 5) -> tuple[int, dict[str, str], str]:
    """A raw RFC 6455 client handshake on /websocket: (status, headers, body excerpt)."""
    key = base64.b64encode(secrets.token_bytes(16)).decode()
    lines = [
        "GET /websocket HTTP/1.1",
        f"Host: {host}:{port}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        "Sec-WebSocket-Version: 13",
    ]
    if origin:
        lines.append(f"Origin: {origin}")
    with socket.create_connection((host, port), timeout=timeout) as s:
        s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        status_line, *header_lines = head.decode().split("\r\n")
        headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in header_lines)}
        status = int(status_line.split()[1])
        if status != 101:
            length = int(headers.get("content-length", "0"))
            while len(body) < length:
                chunk = s.recv(4096)
                if not chunk:
                    break
                body += chunk
        else:
            expected = base64.b64encode(
                hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()
            ).decode()
            assert headers.get("sec-websocket-accept") == expected
            s.sendall(bytes([0x88, 0x80]) + b"\0\0\0\0")  # masked close frame, so the server ends cleanly
    return status, headers, body.decode(errors="replace")


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


@dataclass
class Net:
    """A throwaway Docker network; every container started through it is removed at teardown."""

    name: str
    tmp: Path
    containers: list[str] = field(default_factory=list)
    volumes: list[str] = field(default_factory=list)

    def run(
        self,
        name: str,
        image: str,
        *args: str,
        env: dict[str, str] | None = None,
        alias: str | None = None,
        mounts: tuple[str, ...] = (),
    ) -> str:
        cname = f"odl-test-{self.name[9:]}-{name}"
        argv = ["run", "-d", "--name", cname, "--network", self.name]
        if alias:
            argv += ["--network-alias", alias]
        for k, v in (env or {}).items():
            argv += ["-e", f"{k}={v}"]
        for m in mounts:
            argv += ["-v", m]
        self.containers.append(cname)
        docker(*argv, image, *args)
        return cname

    def once(
        self,
        image: str,
        *args: str,
        env: dict[str, str] | None = None,
        timeout: float = 120,
        mounts: tuple[str, ...] = (),
        stdin: str | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """`docker run --rm` on this network, returning the completed process (exit status and output);
        `stdin` is fed to the container (`docker run -i`)."""
        argv = ["run", "--rm", "--network", self.name]
        for k, v in (env or {}).items():
            argv += ["-e", f"{k}={v}"]
        for m in mounts:
            argv += ["-v", m]
        if stdin is None:
            return docker(*argv, image, *args, check=False, timeout=timeout)
        return subprocess.run(
            ["docker", *argv, "-i", image, *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def volume(self, name: str) -> str:
        vname = f"odl-test-{self.name[9:]}-{name}"
        docker("volume", "create", vname)
        self.volumes.append(vname)
        return vname

    def ip(self, container: str) -> str:
        fmt = "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}"
        return docker("inspect", "-f", fmt, container).stdout.strip()

    def cleanup(self) -> None:
        for c in reversed(self.containers):
            docker("rm", "-f", "-v", c, check=False)
        for v in self.volumes:
            docker("volume", "rm", "-f", v, check=False)
        docker("network", "rm", self.name, check=False)


@pytest.fixture(scope="module")
def images() -> list[str]:
    """Every stand-in built (Docker's cache makes this seconds after the first time)."""
    return services.build_standin_images(Home.from_env(), REGISTRY)


@pytest.fixture
def net(images: list[str], tmp_path: Path) -> Iterator[Net]:
    n = Net(f"odl-test-{secrets.token_hex(4)}", tmp_path)
    docker("network", "create", n.name)
    try:
        yield n
    finally:
        n.cleanup()


@dataclass(frozen=True)
class Pg:
    container: str
    ip: str
    user: str
    password: str


def start_pg(net: Net, db: str = "postgres", volume: str | None = None, user: str = "odoo") -> Pg:
    password = secrets.token_urlsafe(12)
    mounts = (f"{volume}:/var/lib/postgresql/data",) if volume else ()
    c = net.run(
        "db",
        PG_IMAGE,
        env={"POSTGRES_USER": user, "POSTGRES_PASSWORD": password, "POSTGRES_DB": db},
        alias="db",
        mounts=mounts,
    )
    wait_for(
        "pg_isready", lambda: docker("exec", c, "pg_isready", "-h", "127.0.0.1", "-q", check=False).returncode == 0
    )
    return Pg(c, net.ip(c), user, password)


def psql(pg: Pg, db: str, sql: str, password: str | None = None) -> subprocess.CompletedProcess[str]:
    """psql from the host over the network with a password (the stand-in's network auth)."""
    url = f"postgresql://{pg.user}@{pg.ip}:5432/{db}"
    return subprocess.run(
        ["psql", url, "-tA", "-v", "ON_ERROR_STOP=1", "-c", sql],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        env={
            "PGPASSWORD": password if password is not None else pg.password,
            "PATH": "/usr/bin:/bin",
            "PGCONNECT_TIMEOUT": "5",
        },
    )


def module_states(pg: Pg, db: str) -> dict[str, str]:
    res = psql(pg, db, "SELECT name, state FROM ir_module_module")
    assert res.returncode == 0, res.stderr
    return dict(line.split("|", 1) for line in res.stdout.splitlines() if line)


def odoo_conf(net: Net, **options: object) -> str:
    """An odoo.conf readable by the image's odoo user, mounted read-only as $ODOO_RC."""
    path = net.tmp / f"odoo-{secrets.token_hex(3)}.conf"
    path.write_text("[options]\n" + "".join(f"{k} = {v}\n" for k, v in options.items()))
    path.chmod(0o644)
    return f"{path}:/etc/odoo/odoo.conf:ro"


# ---------------------------------------------------------------------------------------------- postgres, redis


def test_postgres_env_contract_auth_and_restart_keeps_data(net: Net) -> None:
    vol = net.volume("pgdata")
    pg = start_pg(net, db="appdb", volume=vol)

    assert psql(pg, "appdb", "SELECT current_user").stdout.strip() == "odoo"
    wrong = psql(pg, "appdb", "SELECT 1", password="not-the-password")
    assert wrong.returncode != 0 and "password authentication failed" in wrong.stderr
    assert psql(pg, "appdb", "CREATE TABLE kept (v text); INSERT INTO kept VALUES ('before restart')").returncode == 0
    # The server (PID 1 after the entrypoint's exec) runs as postgres, not root.
    assert docker("exec", pg.container, "stat", "-c", "%U", "/proc/1").stdout.strip() == "postgres"

    docker("restart", pg.container)
    wait_for(
        "pg_isready after restart",
        lambda: docker("exec", pg.container, "pg_isready", "-h", "127.0.0.1", "-q", check=False).returncode == 0,
    )
    pg2 = Pg(pg.container, net.ip(pg.container), pg.user, pg.password)
    assert psql(pg2, "appdb", "SELECT v FROM kept").stdout.strip() == "before restart"
    out = docker("logs", pg.container)
    logs = out.stdout + out.stderr
    assert logs.count("PostgreSQL init process complete") == 1
    assert "Skipping initialization" in logs
    uid = docker("exec", pg.container, "sh", "-c", "stat -c %U $PGDATA/PG_VERSION").stdout.strip()
    assert uid == "postgres"


def test_postgres_refuses_to_initialise_without_password(net: Net) -> None:
    res = net.once(PG_IMAGE, env={"POSTGRES_USER": "odoo"}, timeout=60)
    assert res.returncode == 1
    assert "superuser password is not specified" in res.stderr


def test_redis_answers_ping_from_another_container(net: Net) -> None:
    c = net.run("redis", REDIS_IMAGE, alias="redis")
    wait_for("redis ping", lambda: docker("exec", c, "redis-cli", "ping", check=False).stdout.strip() == "PONG")
    # Another container on the network (as Odoo would): protected mode is off, like the official image.
    res = net.once(REDIS_IMAGE, "redis-cli", "-h", "redis", "ping", timeout=60)
    assert res.stdout.strip() == "PONG", res.stderr


# ---------------------------------------------------------------------------------------------- odoo CLI


def test_odoo_image_interface(images: list[str]) -> None:
    info = json.loads(docker("image", "inspect", odoo_image()).stdout)[0]["Config"]
    assert info["User"] == "odoo"
    assert set(info["ExposedPorts"]) == {"8069/tcp", "8071/tcp", "8072/tcp"}
    assert set(info["Volumes"]) == {"/var/lib/odoo", "/mnt/extra-addons"}
    assert "ODOO_RC=/etc/odoo/odoo.conf" in info["Env"]
    assert info["Entrypoint"] == ["/entrypoint.sh"] and info["Cmd"] == ["odoo"]
    assert info["Labels"]["org.opencontainers.image.description"].startswith("odoo-droplet local stand-in for")
    uid = docker("run", "--rm", "--entrypoint", "id", odoo_image(), "-u").stdout.strip()
    assert uid == "101"


def test_install_writes_module_rows_and_ignores_unknown_modules(net: Net) -> None:
    pg = start_pg(net)
    res = net.once(
        odoo_image(),
        "odoo",
        "-d",
        "db1",
        "-i",
        "base,sale,not_a_module",
        "--stop-after-init",
        env={"PASSWORD": pg.password},
    )
    assert res.returncode == 0, res.stderr
    assert "invalid module names, ignored: not_a_module" in res.stderr
    states = module_states(pg, "db1")
    assert states["base"] == "installed" and states["sale"] == "installed"
    assert "not_a_module" not in states
    assert states["crm"] == "uninstalled"  # known but not asked for: a row, not installed

    # A second run initialises nothing twice and keeps what is installed.
    again = net.once(odoo_image(), "odoo", "-d", "db1", "-i", "crm", "--stop-after-init", env={"PASSWORD": pg.password})
    assert again.returncode == 0, again.stderr
    assert "database db1 created" not in again.stderr
    states = module_states(pg, "db1")
    assert states["crm"] == "installed" and states["sale"] == "installed"


def test_failinstall_exits_255_and_leaves_rows_to_install(net: Net) -> None:
    pg = start_pg(net)
    res = net.once(
        odoo_image("18.0-failinstall"),
        "odoo",
        "-d",
        "db2",
        "-i",
        "sale",
        "--stop-after-init",
        env={"PASSWORD": pg.password},
    )
    assert res.returncode == 255, res.stderr
    states = module_states(pg, "db2")
    assert states["sale"] == "to install"
    assert "installed" not in states.values()


def test_entrypoint_waits_for_postgres_then_fails_after_its_timeout(net: Net) -> None:
    started = time.monotonic()
    res = net.once(odoo_image(), "odoo", "-d", "x", "--stop-after-init", env={"HOST": "nowhere"}, timeout=90)
    elapsed = time.monotonic() - started
    assert res.returncode == 1
    assert "Database connection failure" in res.stderr
    assert 25 <= elapsed <= 60, elapsed


# ---------------------------------------------------------------------------------------------- odoo server


def start_odoo(net: Net, pg: Pg, tag: str = "18.0", **options: object) -> tuple[str, str]:
    # The password comes from the config file here (it wins over the environment, as in the official image).
    conf = {
        "db_name": "db1",
        "dbfilter": "^db1$",
        "list_db": "False",
        "proxy_mode": "True",
        "db_password": pg.password,
        **options,
    }
    c = net.run("odoo", odoo_image(tag), mounts=(odoo_conf(net, **conf),), env={"PASSWORD": "wrong-on-purpose"})
    return c, net.ip(c)


def test_server_with_workers_health_login_websocket_and_db_down(net: Net) -> None:
    pg = start_pg(net)
    c, ip = start_odoo(net, pg, workers=2)
    wait_for("/web/health", lambda: http_get(f"http://{ip}:8069/web/health")[0] == 200)

    status, _, body = http_get(f"http://{ip}:8069/web/health?db_server_status=1")
    assert (status, json.loads(body)) == (200, {"status": "pass", "db_server_status": True})

    # Server start created db1 and installed base (odoo/cli/server.py does so for -d/db_name): the login form.
    page = wait_for("login page", lambda: (r := http_get(f"http://{ip}:8069/web/login"))[0] == 200 and r)
    assert isinstance(page, tuple)
    status, _, body = page
    assert '<form class="oe_login_form"' in body and 'action="/web/login"' in body

    status, headers, _ = ws_handshake(ip, 8072, origin=f"http://{ip}")
    assert status == 101 and headers["upgrade"].lower() == "websocket"
    status, _, body = ws_handshake(ip, 8072, origin=None)
    assert status == 400 and "Empty or missing header(s): origin" in body
    status, _, _ = ws_handshake(ip, 8069, origin=f"http://{ip}")
    assert status == 500
    assert "Couldn't bind the websocket" in docker("logs", c).stderr
    assert http_get(f"http://{ip}:8069/longpolling/poll")[0] == 404
    # One database (db_name + dbfilter): ?db= names the session's database, so no redirect dance.
    assert http_get(f"http://{ip}:8069/web/login?db=db1")[0] == 200

    docker("stop", pg.container)
    status, _, body = http_get(f"http://{ip}:8069/web/health?db_server_status=1")
    assert status == 500 and json.loads(body)["db_server_status"] is False
    assert http_get(f"http://{ip}:8069/web/health")[0] == 200  # plain health does not look at the database
    status, headers, _ = http_get(f"http://{ip}:8069/web/login")
    assert status == 303 and headers["Location"].endswith("/web/database/selector")


def test_login_is_500_until_base_is_installed(net: Net) -> None:
    pg = start_pg(net, db="odoo")  # the database exists (POSTGRES_DB) but Odoo never initialised it
    c, ip = start_odoo(net, pg, db_name="odoo", dbfilter="^odoo$", workers=2)
    wait_for("/web/health", lambda: http_get(f"http://{ip}:8069/web/health")[0] == 200)
    assert http_get(f"http://{ip}:8069/web/login")[0] == 500
    assert "not initialized, you can force it with `-i base`" in docker("logs", c).stderr
    res = net.once(odoo_image(), "odoo", "-d", "odoo", "-i", "base", "--stop-after-init", env={"PASSWORD": pg.password})
    assert res.returncode == 0, res.stderr
    status, _, body = http_get(f"http://{ip}:8069/web/login")
    assert status == 200 and 'action="/web/login"' in body


def test_server_without_workers_serves_websocket_on_8069_and_nothing_on_8072(net: Net) -> None:
    pg = start_pg(net)
    _, ip = start_odoo(net, pg, workers=0)
    wait_for("/web/login", lambda: http_get(f"http://{ip}:8069/web/login")[0] == 200)
    assert ws_handshake(ip, 8069, origin=f"http://{ip}")[0] == 101
    assert not port_open(ip, 8072)


def test_login_picks_database_like_odoo(net: Net) -> None:
    pg = start_pg(net)
    for db in ("dba", "dbb"):
        res = net.once(odoo_image(), "odoo", "-d", db, "-i", "base", "--stop-after-init", env={"PASSWORD": pg.password})
        assert res.returncode == 0, res.stderr
    # Two databases, no db_name/dbfilter: the login page sends to the selector.
    c = net.run("odoo", odoo_image(), mounts=(odoo_conf(net, db_password=pg.password, list_db="False"),))
    ip = net.ip(c)
    wait_for("health", lambda: http_get(f"http://{ip}:8069/web/health")[0] == 200)
    status, headers, _ = http_get(f"http://{ip}:8069/web/login")
    assert status == 303 and headers["Location"].endswith("/web/database/selector")
    # ?db= sets the session's database (302 with a cookie), then the same URL answers the form.
    status, headers, _ = http_get(f"http://{ip}:8069/web/login?db=dbb")
    assert status == 302 and "session_id=" in headers["Set-Cookie"]
    cookie = headers["Set-Cookie"].split(";")[0]
    status, _, body = http_get(f"http://{ip}:8069/web/login?db=dbb", headers={"Cookie": cookie})
    assert status == 200 and 'data-db="dbb"' in body


def test_nogevent_tag_leaves_8072_closed(net: Net) -> None:
    pg = start_pg(net)
    _, ip = start_odoo(net, pg, tag="18.0-nogevent", workers=2)
    wait_for("/web/health", lambda: http_get(f"http://{ip}:8069/web/health")[0] == 200)
    assert not port_open(ip, 8072)
    assert ws_handshake(ip, 8069, origin=f"http://{ip}")[0] == 500  # workers > 0: not on the HTTP port either


def test_crashloop_tag_exits_nonzero(net: Net) -> None:
    pg = start_pg(net)
    c, _ = start_odoo(net, pg, tag="18.0-crashloop", workers=2)

    def exited() -> int | None:
        state = json.loads(docker("inspect", c).stdout)[0]["State"]
        return None if state["Running"] else state["ExitCode"]

    code = wait_for("the crashloop container to exit", lambda: exited() is not None, timeout=40) and exited()
    assert code not in (None, 0)


def test_neverready_tag_answers_503(net: Net) -> None:
    pg = start_pg(net)
    _, ip = start_odoo(net, pg, tag="18.0-neverready", workers=2)
    wait_for("a listener on 8069", lambda: port_open(ip, 8069))
    assert http_get(f"http://{ip}:8069/web/health")[0] == 503
    assert http_get(f"http://{ip}:8069/web/login")[0] == 503


def test_slowstart_tag_binds_late(net: Net) -> None:
    pg = start_pg(net)
    conf = odoo_conf(net, db_name="db1", dbfilter="^db1$", db_password=pg.password)
    c = net.run("odoo", odoo_image("18.0-slowstart"), mounts=(conf,), env={"ODL_STANDIN_SLOWSTART_SECONDS": "4"})
    started = time.monotonic()
    ip = net.ip(c)
    assert not port_open(ip, 8069)
    wait_for("8069 to open after the slow start", lambda: port_open(ip, 8069), timeout=30)
    assert time.monotonic() - started >= 3


def test_odoo_refuses_database_user_postgres(net: Net) -> None:
    pg = start_pg(net, user="postgres")
    res = net.once(
        odoo_image(), "odoo", "-d", "db1", "--stop-after-init", env={"USER": "postgres", "PASSWORD": pg.password}
    )
    assert res.returncode == 1
    assert "Using the database user 'postgres' is a security risk, aborting." in res.stderr


# ---------------------------------------------------------------------------------------------- odoo: Odoo 18's rules
# Pure checks of the stand-in's own modules (no Docker): the facts they encode, against known values.

STANDIN_DIR = Path(services.__file__).parent / "images" / "odoo"


def standin_module(name: str) -> types.ModuleType:
    """A module of the odoo stand-in, imported from the image's folder (its siblings importable as in the image)."""
    if str(STANDIN_DIR) not in sys.path:
        sys.path.insert(0, str(STANDIN_DIR))
    return importlib.import_module(name)


# passlib 1.7.4 (`pbkdf2_sha512.using(rounds=1000, salt=b"0123456789abcdef").hash("admin")`, and a hash of
# "s3cret" passlib made with its own salt): Odoo 18 verifies with passlib, so the stand-in must agree byte for byte.
PASSLIB_ADMIN = (
    "$pbkdf2-sha512$1000$MDEyMzQ1Njc4OWFiY2RlZg$VYpayuGgwzZdp432P4BiDOsz2R32OckUD4cZP0OnU/dRJDzvbA9NzD4JRchh6MOV7dGmpArYbu"
    "wTJVUOgj66DA"
)
PASSLIB_S3CRET = (
    "$pbkdf2-sha512$1000$/D.HUCqF8J5zTunde0/JmQ$F22i2tLu3gJDHOUi1UpAhh7YFGHZIVTB3.hvqe0JC5IhzI0s5axMqn2yeg7Q7u3fWPqi.FPTx"
    "IXUPLpw6nF5xQ"
)


def test_password_hashes_are_passlibs_pbkdf2_sha512() -> None:
    pw = standin_module("standin_passwords")
    assert pw.hash_password("admin", rounds=1000, salt=b"0123456789abcdef") == PASSLIB_ADMIN
    assert pw.verify("s3cret", PASSLIB_S3CRET) and not pw.verify("s3cret!", PASSLIB_S3CRET)
    fresh = pw.hash_password("new password")
    assert fresh.startswith("$pbkdf2-sha512$600000$") and pw.verify("new password", fresh)
    # passlib's deprecated plaintext scheme: matches, and is replaced by a hash (verify_and_update).
    ok, replacement = pw.verify_and_update("plain", "plain")
    assert ok and replacement and pw.verify("plain", replacement)
    assert pw.verify_and_update("plain", "other") == (False, None)
    assert pw.verify_and_update("s3cret", PASSLIB_S3CRET)[1]  # 1000 rounds is below Odoo's floor: rehashed
    assert not pw.verify("", PASSLIB_S3CRET) and not pw.verify("x", None) and not pw.verify("x", "")


def test_module_resolution_plans_like_odoo(tmp_path: Path) -> None:
    mods = standin_module("standin_modules")
    addons = tmp_path / "addons"
    site = tmp_path / "site-packages"
    manifests = {
        addons / "my_mod": "{'name': 'Mine', 'version': '1.2', 'depends': ['contacts']}",
        addons / "needs_missing": "{'depends': ['my_mod', 'not_anywhere']}",
        addons / "glue": "{'depends': ['my_mod', 'pip_mod'], 'auto_install': True}",
        addons / "not_data": "__import__('os').system('touch /tmp/pwned')",
        site / "odoo" / "addons" / "pip_mod": "{'name': 'From pip', 'version': '18.0.2.0.0'}",
    }
    for folder, text in manifests.items():
        folder.mkdir(parents=True)
        (folder / "__manifest__.py").write_text(text)
    (addons / "no_manifest").mkdir()

    cat, warnings = mods.catalogue([str(addons)], [str(site)])
    assert {"my_mod", "needs_missing", "glue", "pip_mod", "base", "contacts"} <= set(cat)
    assert "no_manifest" not in cat and "not_data" not in cat  # read as data, never executed
    assert any("not_data" in w for w in warnings)
    assert cat["my_mod"].version == "18.0.1.2" and cat["pip_mod"].version == "18.0.2.0.0"
    assert cat["pip_mod"].depends == ("base",)  # no depends declared: base

    installed = {name: "installed" for name in mods.BASE_AUTO_INSTALL}
    plan = mods.plan_install(cat, installed, ["my_mod", "pip_mod"])
    assert plan.index("mail") < plan.index("contacts") < plan.index("my_mod") < plan.index("glue")
    assert "glue" in plan and "base" not in plan  # auto-install joins; installed modules are left out
    with pytest.raises(mods.MissingDependency, match="depends on module 'not_anywhere'"):
        mods.plan_install(cat, installed, ["my_mod", "needs_missing"])

    done = {**installed, **{name: "installed" for name in plan}}
    upgrade, new = mods.plan_upgrade(cat, done, ["my_mod"])
    assert upgrade == ["my_mod", "glue"] and new == []  # what depends on an upgraded module is upgraded too
    assert set(mods.plan_upgrade(cat, done, ["all"])[0]) == set(done)


def test_csrf_tokens_sessions_and_base_location_like_odoo(tmp_path: Path) -> None:
    web = standin_module("standin_web")
    token = web.csrf_token("secret", "sid-a", now=1000.0)
    assert token.endswith(f"o{1000 + 365 * 24 * 3600}")
    assert web.validate_csrf("secret", "sid-a", token, now=2000.0)
    assert not web.validate_csrf("secret", "sid-b", token, now=2000.0)  # bound to the session
    assert not web.validate_csrf("other", "sid-a", token, now=2000.0)  # and to database.secret
    assert not web.validate_csrf("secret", "sid-a", token, now=1000.0 + 366 * 24 * 3600)  # and expires
    assert not web.validate_csrf("secret", "sid-a", None)

    fwd = {"Host": "10.0.0.5:8069", "X-Forwarded-Host": "erp.example.com", "X-Forwarded-Proto": "https"}
    assert web.base_location(fwd, proxy_mode=True) == "https://erp.example.com"
    assert web.base_location(fwd, proxy_mode=False) == "http://10.0.0.5:8069"
    no_host = {"Host": "10.0.0.5:8069", "X-Forwarded-Proto": "https"}  # without X-Forwarded-Host Odoo ignores it
    assert web.base_location(no_host, proxy_mode=True) == "http://10.0.0.5:8069"

    store = web.SessionStore(str(tmp_path / "sessions"))
    sid = store.new(web.default_session("db1"))
    assert len(sid) == 84 and web.SID_RE.match(sid)
    assert (tmp_path / "sessions" / sid[:2] / sid).is_file()
    assert store.get(sid)["db"] == "db1" and store.get("../../etc/passwd") is None
    store.delete(sid)
    assert store.get(sid) is None


# ---------------------------------------------------------------------------------------------- odoo: logins

ADMIN_PARAMS = {"db": "db1", "login": "admin", "password": "admin"}


def serve_db1(net: Net, pg: Pg) -> tuple[str, str]:
    """A server on db1 (created with base at start, as odoo/cli/server.py does) with its login form up."""
    c, ip = start_odoo(net, pg, workers=0)
    base = f"http://{ip}:8069"
    wait_for("the login form", lambda: http_get(f"{base}/web/login")[0] == 200)
    return c, base


def param(pg: Pg, key: str) -> str:
    res = psql(pg, "db1", f"SELECT value FROM ir_config_parameter WHERE key = '{key}'")
    assert res.returncode == 0, res.stderr
    return res.stdout.strip()


def test_install_creates_admin_with_the_default_password_and_the_database_parameters(net: Net) -> None:
    pg = start_pg(net)
    res = net.once(odoo_image(), "odoo", "-d", "db1", "-i", "base", "--stop-after-init", env={"PASSWORD": pg.password})
    assert res.returncode == 0, res.stderr
    pw = standin_module("standin_passwords")
    login, stored = psql(pg, "db1", "SELECT login, password FROM res_users WHERE id = 2").stdout.strip().split("|")
    assert login == "admin" and stored.startswith("$pbkdf2-sha512$600000$") and pw.verify("admin", stored)
    assert param(pg, "web.base.url") == "http://localhost:8069"
    assert len(param(pg, "database.secret")) == 36 and len(param(pg, "database.uuid")) == 36
    assert psql(pg, "db1", "SELECT count(*) FROM res_partner WHERE active").stdout.strip() == "3"


def test_web_login_with_csrf_a_rotated_session_on_disk_and_the_base_url_from_the_proxy(net: Net) -> None:
    pg = start_pg(net)
    c, base = serve_db1(net, pg)
    status, headers, page = http_get(f"{base}/web/login")
    cookie, csrf = cookie_of(headers), csrf_of(page)
    assert status == 200 and cookie and headers["X-Frame-Options"] == "SAMEORIGIN"
    assert param(pg, "web.base.url") == "http://localhost:8069"  # until an administrator logs in

    status, _, page = post_form(f"{base}/web/login", {"csrf_token": csrf, "login": "admin", "password": "no"}, cookie)
    assert status == 200 and "Wrong login/password" in page and 'class="oe_login_form"' in page
    status, _, page = post_form(f"{base}/web/login", {"login": "admin", "password": "admin"}, cookie)
    assert status == 400 and "Session expired (invalid CSRF token)" in page
    status, _, _ = post_form(f"{base}/web/login", {"csrf_token": csrf, "login": "admin", "password": "admin"})
    assert status == 400  # the token belongs to the session it was issued for

    proxy = {"X-Forwarded-Host": "erp.example.com", "X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"}
    fields = {"csrf_token": csrf, "login": "admin", "password": "admin"}
    status, headers, _ = post_form(f"{base}/web/login", fields, cookie, proxy)
    new_cookie = cookie_of(headers)
    assert status == 303 and headers["Location"] == "/odoo"
    assert new_cookie and new_cookie != cookie and "HttpOnly" in headers["Set-Cookie"]
    assert param(pg, "web.base.url") == "https://erp.example.com"
    assert http_get(f"{base}/odoo", {"Cookie": new_cookie})[0] == 200
    assert http_get(f"{base}/odoo", {"Cookie": cookie})[0] == 303  # the pre-login session is gone

    sid = new_cookie.split("=", 1)[1]
    stored = json.loads(docker("exec", c, "cat", f"/var/lib/odoo/sessions/{sid[:2]}/{sid}").stdout)
    assert stored["uid"] == 2 and stored["db"] == "db1" and stored["login"] == "admin"
    docker("restart", c)  # sessions live in data_dir (a volume), not in the process
    wait_for("the restarted server", lambda: http_get(f"{base}/web/health")[0] == 200)
    assert http_get(f"{base}/odoo", {"Cookie": new_cookie})[0] == 200

    status, headers, _ = http_get(f"{base}/web/session/logout", {"Cookie": new_cookie})
    assert status == 303 and cookie_of(headers) != new_cookie
    assert http_get(f"{base}/odoo", {"Cookie": new_cookie})[0] == 303


def shell(net: Net, pg: Pg, script: str) -> subprocess.CompletedProcess[str]:
    """`odoo shell -d db1` with `script` on stdin, as a deploy runs it in a one-off container."""
    return net.once(
        odoo_image(), "odoo", "shell", "-d", "db1", "--no-http", env={"PASSWORD": pg.password}, stdin=script
    )


def test_shell_sets_the_admin_password_and_login_and_a_frozen_base_url_stays(net: Net) -> None:
    pg = start_pg(net)
    _, base = serve_db1(net, pg)
    body, old_cookie = jsonrpc(base, "/web/session/authenticate", ADMIN_PARAMS)
    assert body["result"]["uid"] == 2 and old_cookie

    # odoo shell rolls its transaction back: a script that does not commit changes nothing.
    res = shell(net, pg, "env.ref('base.user_admin').password = 'never-committed'\n")
    assert res.returncode == 0, res.stderr
    assert "result" in jsonrpc(base, "/web/session/authenticate", ADMIN_PARAMS)[0]

    new_password = secrets.token_urlsafe(18)
    script = (
        "admin = env.ref('base.user_admin')\n"
        f"admin.write({{'password': {new_password!r}, 'login': 'it@example.com'}})\n"
        "icp = env['ir.config_parameter'].sudo()\n"
        "icp.set_param('web.base.url', 'https://erp.example.com')\n"
        "icp.set_param('web.base.url.freeze', 'True')\n"
        "env.cr.commit()\n"
        "print(env['res.users'].search_count([('login', '=', 'it@example.com')]))\n"
    )
    res = shell(net, pg, script)
    assert res.returncode == 0 and res.stdout.strip().endswith("1"), res.stderr
    stored = psql(pg, "db1", "SELECT password FROM res_users WHERE id = 2").stdout.strip()
    assert new_password not in stored and standin_module("standin_passwords").verify(new_password, stored)

    refused = jsonrpc(base, "/web/session/authenticate", ADMIN_PARAMS)[0]
    assert refused["error"]["data"]["name"] == "odoo.exceptions.AccessDenied"
    renamed = {"db": "db1", "login": "it@example.com", "password": new_password}
    other_host = {"X-Forwarded-Host": "elsewhere.example", "X-Forwarded-Proto": "http"}
    body, _ = jsonrpc(base, "/web/session/authenticate", renamed, headers=other_host)
    assert body["result"]["uid"] == 2
    assert param(pg, "web.base.url") == "https://erp.example.com"  # frozen: the login did not rewrite it
    # A new password ends the sessions opened with the old one (Odoo's session token).
    expired = jsonrpc(base, "/web/session/get_session_info", {}, old_cookie)[0]
    assert expired["error"]["code"] == 100

    res = shell(net, pg, "raise RuntimeError('boom')\n")
    assert res.returncode == 1 and "RuntimeError: boom" in res.stderr


# ---------------------------------------------------------------------------------------------- odoo: writes


def test_jsonrpc_writes_partners_and_attachments_to_postgres_and_the_filestore(net: Net) -> None:
    pg = start_pg(net)
    c, base = serve_db1(net, pg)

    def call(model: str, method: str, *args: object, cookie: str | None, **kwargs: object) -> dict[str, Any]:
        params = {"model": model, "method": method, "args": list(args), "kwargs": kwargs}
        return jsonrpc(base, f"/web/dataset/call_kw/{model}/{method}", params, cookie)[0]

    refused = call("res.partner", "search_count", [], cookie=None)
    assert refused["error"]["code"] == 100
    assert refused["error"]["data"]["name"] == "odoo.http.SessionExpiredException"
    _, cookie = jsonrpc(base, "/web/session/authenticate", ADMIN_PARAMS)

    before = call("res.partner", "search_count", [], cookie=cookie)["result"]
    pid = call(
        "res.partner", "create", {"name": "Acme", "email": "acme@example.com", "is_company": True}, cookie=cookie
    )
    assert isinstance(pid["result"], int)
    pair = call("res.partner", "create", [{"name": "Ann"}, {"name": "Bob"}], cookie=cookie)["result"]
    assert isinstance(pair, list) and len(pair) == 2
    assert call("res.partner", "write", [pid["result"]], {"phone": "+1 555 0100"}, cookie=cookie)["result"] is True
    found = call(
        "res.partner",
        "search_read",
        [["is_company", "=", True], ["name", "=", "Acme"]],
        fields=["name", "phone"],
        cookie=cookie,
    )["result"]
    assert found == [{"id": pid["result"], "name": "Acme", "phone": "+1 555 0100"}]
    assert call("res.partner", "search_count", [], cookie=cookie)["result"] == before + 3
    assert psql(pg, "db1", "SELECT count(*) FROM res_partner WHERE active").stdout.strip() == str(before + 3)

    data = b"%PDF-1.4\n" + secrets.token_bytes(40_000)
    sha = hashlib.sha1(data).hexdigest()
    vals = {
        "name": "scan.pdf",
        "datas": base64.b64encode(data).decode(),
        "res_model": "res.partner",
        "res_id": pid["result"],
    }
    att = call("ir.attachment", "create", vals, cookie=cookie)["result"]
    rec = call(
        "ir.attachment", "read", [att], ["store_fname", "checksum", "file_size", "mimetype", "datas"], cookie=cookie
    )
    got = rec["result"][0]
    assert (got["store_fname"], got["checksum"], got["file_size"]) == (f"{sha[:2]}/{sha}", sha, len(data))
    assert got["mimetype"] == "application/pdf" and base64.b64decode(got["datas"]) == data
    on_disk = docker("exec", c, "sha1sum", f"/var/lib/odoo/filestore/db1/{sha[:2]}/{sha}").stdout.split()[0]
    assert on_disk == sha
    row = psql(
        pg, "db1", f"SELECT store_fname, checksum, file_size, db_datas IS NULL FROM ir_attachment WHERE id = {att}"
    )
    assert row.stdout.strip() == f"{sha[:2]}/{sha}|{sha}|{len(data)}|t"
    # Content-addressed: the same bytes again share the file.
    again = call("ir.attachment", "create", {**vals, "name": "copy.pdf"}, cookie=cookie)["result"]
    assert (
        call("ir.attachment", "read", [again], ["store_fname"], cookie=cookie)["result"][0]["store_fname"]
        == got["store_fname"]
    )
    count = call("ir.attachment", "search_count", [["res_model", "=", "res.partner"]], cookie=cookie)["result"]
    assert count == 2

    status, headers, content = http_raw(f"{base}/web/content/{att}", {"Cookie": cookie or ""})
    assert status == 200 and content == data and headers["Content-Type"] == "application/pdf"
    assert http_raw(f"{base}/web/content/{att}")[0] == 404  # not public: anonymous visitors do not see it


# ---------------------------------------------------------------------------------------------- odoo: database manager


def test_database_manager_closed_with_list_db_false_like_odoo(net: Net) -> None:
    pg = start_pg(net)
    _, base = serve_db1(net, pg)
    for path in ("/web/database/selector", "/web/database/manager"):
        status, _, page = http_get(base + path)
        assert status == 200 and "The database manager has been disabled by the administrator" in page
        assert "db1" not in page
    dbs = xmlrpc.client.ServerProxy(f"{base}/xmlrpc/2/db")
    assert dbs.server_version() == "18.0"
    for call in (lambda: dbs.list(), lambda: dbs.drop("admin", "db1"), lambda: dbs.dump("admin", "db1", "zip")):
        with pytest.raises(xmlrpc.client.Fault) as fault:
            call()
        assert (fault.value.faultCode, fault.value.faultString) == (3, "Access Denied")
    common = xmlrpc.client.ServerProxy(f"{base}/xmlrpc/2/common")
    version = common.version()
    assert isinstance(version, dict) and version["server_version"] == "18.0"
    uid = common.authenticate("db1", "admin", "admin", {})
    assert uid == 2 and common.authenticate("db1", "admin", "wrong", {}) is False
    models = xmlrpc.client.ServerProxy(f"{base}/xmlrpc/2/object")
    assert models.execute_kw("db1", uid, "admin", "res.partner", "search_count", [[]]) == 3
    with pytest.raises(xmlrpc.client.Fault) as fault:
        models.execute_kw("db1", uid, "wrong", "res.partner", "search_count", [[]])
    assert fault.value.faultCode == 3


# ---------------------------------------------------------------------------------------------- odoo: modules


def test_modules_from_addons_path_and_pip_dependencies_first_missing_ones_refused_and_upgrades(net: Net) -> None:
    addons, pip_mod = net.tmp / "addons", net.tmp / "pip_mod"
    manifests = {
        addons / "my_mod": "{'name': 'Mine', 'version': '18.0.1.0.0', 'depends': ['contacts']}",
        addons / "bad_mod": "{'name': 'Bad', 'depends': ['base', 'nonexistent']}",
        addons / "glue": "{'name': 'Glue', 'depends': ['my_mod', 'pip_mod'], 'auto_install': True}",
        pip_mod: "{'name': 'From pip', 'version': '1.2'}",
    }
    for folder, text in manifests.items():
        folder.mkdir(parents=True)
        (folder / "__manifest__.py").write_text(text)
    for p in (addons, *addons.iterdir(), pip_mod):
        p.chmod(0o755)
        for f in p.glob("*.py"):
            f.chmod(0o644)
    mounts = (
        f"{addons}:/mnt/extra-addons:ro",
        # where `pip install odoo-addon-pip_mod` puts it in the image (the odoo.addons namespace in site-packages)
        f"{pip_mod}:/usr/local/lib/python3.11/dist-packages/odoo/addons/pip_mod:ro",
    )
    pg = start_pg(net)

    def odoo(db: str, *args: str) -> subprocess.CompletedProcess[str]:
        argv = ("odoo", "-d", db, *args, "--stop-after-init")
        return net.once(odoo_image(), *argv, env={"PASSWORD": pg.password}, mounts=mounts)

    res = odoo("db1", "-i", "my_mod,pip_mod")
    assert res.returncode == 0, res.stderr
    states = module_states(pg, "db1")
    assert {states[m] for m in ("base", "mail", "contacts", "my_mod", "pip_mod", "glue")} == {"installed"}
    assert states["bad_mod"] == "uninstalled"
    loaded = [
        line.split("Loading module ", 1)[1].split()[0] for line in res.stderr.splitlines() if "Loading module " in line
    ]
    assert loaded.index("mail") < loaded.index("contacts") < loaded.index("my_mod") < loaded.index("glue")
    versions = dict(
        line.split("|") for line in psql(pg, "db1", "SELECT name, latest_version FROM ir_module_module").stdout.split()
    )
    assert versions["my_mod"] == "18.0.1.0.0" and versions["pip_mod"] == "18.0.1.2"

    res = odoo("db1", "-i", "bad_mod")
    assert res.returncode == 255
    assert "You try to install module 'bad_mod' that depends on module 'nonexistent'" in res.stderr
    assert module_states(pg, "db1")["bad_mod"] == "uninstalled"
    deps = psql(
        pg,
        "db1",
        "SELECT d.name FROM ir_module_module_dependency d JOIN ir_module_module m ON m.id = d.module_id"
        " WHERE m.name = 'bad_mod' ORDER BY d.name",
    )
    assert deps.stdout.split() == ["base", "nonexistent"]
    # On a new database base still loads first; the module whose dependency is missing stays uninstalled.
    res = odoo("db2", "-i", "bad_mod")
    assert res.returncode == 255
    states = module_states(pg, "db2")
    assert states["base"] == "installed" and states["bad_mod"] == "uninstalled"

    (addons / "my_mod" / "__manifest__.py").write_text(
        "{'name': 'Mine', 'version': '18.0.1.1.0', 'depends': ['contacts']}"
    )
    res = odoo("db1", "-u", "my_mod")
    assert res.returncode == 0, res.stderr
    assert "Loading module my_mod" in res.stderr and "Loading module glue" in res.stderr  # glue depends on it
    assert "Loading module contacts" not in res.stderr
    assert psql(
        pg, "db1", "SELECT state, latest_version FROM ir_module_module WHERE name = 'my_mod'"
    ).stdout.strip() == ("installed|18.0.1.1.0")


def test_entrypoint_leaves_database_settings_from_odoo_conf_off_the_command_line(net: Net) -> None:
    pg = start_pg(net)
    c, base = serve_db1(net, pg)  # db_password is in odoo.conf; PASSWORD in the environment is wrong on purpose
    args = docker("exec", c, "cat", "/proc/1/cmdline").stdout.split("\0")
    assert "--db_password" not in args and pg.password not in args and "wrong-on-purpose" not in args
    assert "--db_host" in args  # not in the file: from HOST, as the official entrypoint does
    assert http_get(f"{base}/web/login")[0] == 200  # and the password from the file is the one used
