"""The stand-in images keep the official images' contracts and Odoo 18's behaviours (DESIGN.md sections 4, 6).

Real Docker, real PostgreSQL (the postgres stand-in is Debian's PostgreSQL), a throwaway Docker network per
test; containers are named `odl-test-*` and removed at teardown. Waits poll a condition with a deadline.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from localcloud import services
from localcloud.home import Home

pytestmark = pytest.mark.integration

REGISTRY = services.DEFAULT_REGISTRY
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


def http_get(url: str, headers: dict[str, str] | None = None, timeout: float = 5) -> tuple[int, dict[str, str], str]:
    """GET without following redirects: (status, headers, body)."""

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):  # noqa: ANN002, ANN003
            return None

    opener = urllib.request.build_opener(NoRedirect)
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with opener.open(req, timeout=timeout) as r:
            return r.status, dict(r.headers), r.read().decode(errors="replace")
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read().decode(errors="replace")


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
        self, image: str, *args: str, env: dict[str, str] | None = None, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        """`docker run --rm` on this network, returning the completed process (exit status and output)."""
        argv = ["run", "--rm", "--network", self.name]
        for k, v in (env or {}).items():
            argv += ["-e", f"{k}={v}"]
        return docker(*argv, image, *args, check=False, timeout=timeout)

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
    status, _, body = wait_for("login page", lambda: (r := http_get(f"http://{ip}:8069/web/login"))[0] == 200 and r)
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
