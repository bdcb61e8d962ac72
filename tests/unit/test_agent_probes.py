"""Adapters of the agent: compose commands as data, the parsers of what docker and psql print, the
loopback HTTPS and websocket probes (SNI and Host of the domain, Origin), the metadata reader and host
facts. Servers here are on 127.0.0.1 in-process."""

from __future__ import annotations

import json
import shutil
import ssl
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from firstboot import host
from firstboot.config import Deploy, PostgresSpec
from firstboot.metadata import Metadata, MetadataError
from firstboot.probes import (
    Compose,
    LoopbackHttp,
    module_query,
    parse_compose_ps,
    parse_image_digest,
    parse_inspect,
    parse_module_rows,
    run_command,
)


def test_compose_commands_are_data(tmp_path):
    c = Compose(tmp_path / "docker-compose.yml", "odoo")
    base = ("docker", "compose", "-p", "odoo", "-f", str(tmp_path / "docker-compose.yml"))
    assert c.up("db", "redis") == (*base, "up", "-d", "--no-build", "--remove-orphans", "db", "redis")
    assert c.install("odl-install-x-0", "odoo", ("base", "web")) == (
        *base, "run", "-T", "--name", "odl-install-x-0", "odoo", "odoo", "-d", "odoo", "-i", "base,web",
        "--stop-after-init")
    d = Deploy()
    assert c.pg_isready(d) == (*base, "exec", "-T", "db", "pg_isready", "-h", "127.0.0.1", "-p", "5432", "-U", "odoo", "-d", "odoo")
    assert c.psql(d, "odoo")[-4:] == ("-U", "odoo", "-d", "odoo")
    managed = Deploy(postgres=PostgresSpec(mode="managed", host="db.example", port=25060, sslmode="require"))
    cmd = c.psql(managed, "odoo")
    assert "--no-deps" in cmd and '/etc/odoo/odoo.conf' in cmd[-1] and "$PASSWORD" not in cmd[-1] and "PGSSLMODE=require" in cmd[-1]
    assert "-h" in c.pg_isready(managed) and "db.example" in c.pg_isready(managed)


def test_parsers():
    rows = [{"Name": "odoo-odoo-1", "Service": "odoo"}, {"Name": "odoo-db-1", "Service": "db"}]
    assert parse_compose_ps(json.dumps(rows)) == rows  # compose <= 2.20: one array
    assert parse_compose_ps("\n".join(json.dumps(r) for r in rows)) == rows  # later: one object a line
    assert parse_compose_ps("") == []
    info = parse_inspect(json.dumps([{"Name": "/odoo-odoo-1", "RestartCount": 2, "State": {
        "Status": "running", "Health": {"Status": "healthy"}, "StartedAt": "t"}}]), {"odoo-odoo-1": "odoo"})
    assert info[0].service == "odoo" and info[0].restart_count == 2 and info[0].health == "healthy"
    assert parse_module_rows("base|18.0.1.3|installed\nweb||to install\n") [1].state == "to install"
    assert parse_image_digest('["r/odoo@sha256:abc"] sha256:id\n') == "sha256:abc"
    assert parse_image_digest("[] sha256:id\n") == "sha256:id"
    assert "'base', 'web'" in module_query(("base", "web"))
    with pytest.raises(ValueError):
        module_query(("base'; DROP TABLE x; --",))


def test_run_command_bounded():
    r = run_command(("sh", "-c", "echo hi; exit 3"), timeout=10)
    assert r.returncode == 3 and r.stdout == "hi\n"
    assert run_command(("sleep", "5"), timeout=0.2).returncode == 124
    assert run_command(("/nonexistent/cmd",), timeout=5).returncode == 127


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory):
    assert shutil.which("openssl"), "openssl is part of Debian's base system (ca-certificates needs it)"
    d = tmp_path_factory.mktemp("tls")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
                    "/CN=erp.example.test", "-keyout", str(d / "k.pem"), "-out", str(d / "c.pem")],
                   check=True, capture_output=True)
    seen: dict[str, list] = {"sni": [], "host": [], "origin": []}

    class H(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def do_GET(self):
            seen["host"].append(self.headers.get("Host"))
            if self.path == "/websocket":
                seen["origin"].append(self.headers.get("Origin"))
                if not self.headers.get("Origin"):
                    body = b"Empty or missing header(s): origin"
                    self.send_response(400)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                self.send_response(101)
                self.send_header("Upgrade", "websocket")
                self.send_header("Connection", "Upgrade")
                self.end_headers()
                return
            if self.path == "/web/login?db=odoo" and "session_id=s1" not in (self.headers.get("Cookie") or ""):
                # What Odoo does: set the session's database, then send the client back.
                self.send_response(302)
                self.send_header("Location", "/web/login?db=odoo")
                self.send_header("Set-Cookie", "session_id=s1; Path=/; HttpOnly")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            body = b'<form><input name="login"/><input name="password"/></form>'
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(d / "c.pem", d / "k.pem")
    ctx.sni_callback = lambda sock, name, c: seen["sni"].append(name)
    srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True).start()
    yield srv.server_address[1], seen
    srv.shutdown()
    srv.server_close()


def test_https_probe_sends_sni_and_host_of_the_domain_to_loopback(tls_server):
    port, seen = tls_server
    r = LoopbackHttp().get("https://erp.example.test/web/login", connect_host="127.0.0.1", port=port,
                           tls=True, host_header="erp.example.test", timeout=5)
    assert r.status == 200 and 'name="login"' in r.body and r.latency_ms >= 0
    assert seen["sni"][-1] == "erp.example.test" and seen["host"][-1] == "erp.example.test"


def test_websocket_handshake_with_origin(tls_server):
    port, seen = tls_server
    r = LoopbackHttp().websocket("wss://erp.example.test/websocket", connect_host="127.0.0.1", port=port,
                                 tls=True, host_header="erp.example.test", origin="https://erp.example.test",
                                 timeout=5)
    assert r.status == 101 and r.headers.get("Upgrade") == "websocket"
    assert seen["origin"][-1] == "https://erp.example.test"


def test_probe_reports_refused_connection():
    r = LoopbackHttp().get("http://127.0.0.1:9/web/health", connect_host="127.0.0.1", port=9, tls=False,
                           host_header="127.0.0.1:9", timeout=2)
    assert r.status == 0 and "ConnectionRefused" in (r.error or "")


@pytest.fixture
def metadata_server():
    data = {"/metadata/v1/id": "4242", "/metadata/v1/region": "nyc3",
            "/metadata/v1/interfaces/public/0/ipv4/address": "10.213.0.42"}

    class H(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_GET(self):
            body = data.get(self.path)
            self.send_response(200 if body else 404)
            raw = (body or "not found").encode()
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

    srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_address[1]}/metadata/v1"
    srv.shutdown()
    srv.server_close()


def test_metadata_reader(metadata_server):
    md = Metadata(metadata_server, timeout=2)
    assert md.droplet_id() == 4242 and md.region() == "nyc3" and md.public_ipv4() == "10.213.0.42"
    assert md.user_data() == ""  # none given: the console case
    with pytest.raises(MetadataError):
        md.get("reserved_ip/ipv4/ip_address")


def test_host_facts(tmp_path):
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:        8039928 kB\nMemFree: 1 kB\n")
    limit = tmp_path / "memory.max"
    limit.write_text("4294967296\n")
    assert host.memory_mb(meminfo, limit) == 4096  # a droplet container's cgroup limit wins
    limit.write_text("max\n")
    assert host.memory_mb(meminfo, limit) == 7851
    res = host.resources()
    assert res.vcpus >= 1 and res.memory_mb > 0 and res.disk_gb > 0


def test_registry_probe_follows_the_db_redirect_with_its_cookie(tls_server):
    port, _ = tls_server
    kw = dict(connect_host="127.0.0.1", port=port, tls=True, host_header="erp.example.test", timeout=5)
    assert LoopbackHttp().get("https://erp.example.test/web/login?db=odoo", **kw).status == 302
    r = LoopbackHttp().get("https://erp.example.test/web/login?db=odoo", follow=3, **kw)
    assert r.status == 200 and 'name="password"' in r.body
