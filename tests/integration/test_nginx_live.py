"""Real nginx running the rendered site with a self-signed certificate, in front of two small real
upstreams on loopback standing in for Odoo's HTTP port (8069) and gevent port (8072).

The upstreams are not Odoo (its image cannot be pulled here); they keep the part of its contract
nginx touches: plain HTTP/1.x, and on the gevent port a websocket handshake answered with 101. Each
records what it received, so the tests assert what reached Odoo, not only what the client saw.

The certificate is the one the agent makes (firstboot/plans/certificate.py, real openssl). The site is
rendered for a droplet with a domain (odoo.test): every client here connects to 127.0.0.1 with the
domain as SNI and Host, as a browser does once DNS points at the droplet. A second nginx runs the site
of a droplet with no domain, and a third one has no Odoo behind it (502). The edge's hardening (issue
9) is checked from outside as an attacker would: other names get no answer, the database manager is
404 at nginx, the headers are on every answer, and a real TLS scanner (sslyze) grades the TLS.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import hashlib
import http.client
import json
import os
import socket
import ssl
import subprocess
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from cryptography import x509

from firstboot.config import Deploy, EdgeSpec
from firstboot.plans.certificate import self_signed_command
from firstboot.render.nginx import render_nginx_site

from .conftest import LOOPBACK, Nginx, TlsPair, free_port, require_tool

pytestmark = pytest.mark.integration

WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC11B65"  # RFC 6455
WS_GREETING = b"hello from the gevent port"
MB = 1024 * 1024
TIMEOUT = 30  # seconds, for any single exchange
DOMAIN = "odoo.test"
HOSTILE = "evil.example"
SESSION_COOKIE = "session_id=3f1c2a; Expires=Wed, 09 Dec 2026 10:00:00 GMT; Max-Age=604800; HttpOnly; Path=/"
SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "strict-origin-when-cross-origin",
    "content-security-policy": "frame-ancestors 'self'",
}
HSTS = "max-age=31536000"


@dataclass
class Recorder:
    """What one upstream received, keyed by the X-Test-Id header each test request carries."""

    name: str
    seen: dict[str, dict] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, handler: BaseHTTPRequestHandler, body_bytes: int) -> None:
        entry = {
            "method": handler.command,
            "path": handler.path,
            "headers": {k.lower(): v for k, v in handler.headers.items()},
            "body_bytes": body_bytes,
        }
        with self.lock:
            self.seen[handler.headers.get("X-Test-Id", "?")] = entry

    def get(self, test_id: str) -> dict | None:
        with self.lock:
            return self.seen.get(test_id)


def _http_handler(recorder: Recorder) -> type[BaseHTTPRequestHandler]:
    class OdooHttp(BaseHTTPRequestHandler):
        """Stands in for 8069: answers every path, counts request body bytes."""

        def log_message(self, *args: object) -> None:  # keep pytest output clean
            pass

        def _answer(self, body_bytes: int) -> None:
            recorder.record(self, body_bytes)
            status, extra = 200, []
            if self.path.endswith(".css"):
                body, ctype = b"/* static */\n" + b".o_web { color: #714b67; }\n" * 200, "text/css"
                extra.append(("X-Content-Type-Options", "nosniff"))  # as Odoo sends with its files
            else:
                body = json.dumps({"upstream": recorder.name, "path": self.path, "body_bytes": body_bytes})
                body, ctype = body.encode(), "application/json"
            if self.path.startswith("/odoo-redirect"):  # as Odoo's 303 after a login
                status = 303
                extra.append(("Location", f"https://{self.headers.get('Host')}/odoo"))
            elif self.path.startswith("/odoo-missing"):
                status = 404
            if "set_cookie=1" in self.path:  # as Odoo 18 sets its session cookie (no Secure, no SameSite)
                extra += [("Set-Cookie", SESSION_COOKIE), ("Set-Cookie", "frontend_lang=en_US; Path=/")]
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            for name, value in extra:
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            self._answer(0)

        def do_POST(self) -> None:  # noqa: N802
            remaining, total = int(self.headers.get("Content-Length", "0")), 0
            while remaining:
                chunk = self.rfile.read(min(remaining, MB))
                if not chunk:
                    break
                total += len(chunk)
                remaining -= len(chunk)
            self._answer(total)

    return OdooHttp


def _gevent_handler(recorder: Recorder) -> type[BaseHTTPRequestHandler]:
    class OdooGevent(BaseHTTPRequestHandler):
        """Stands in for 8072: completes a websocket handshake (101) and sends one text frame."""

        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802
            recorder.record(self, 0)
            key = self.headers.get("Sec-WebSocket-Key")
            # Odoo 18 refuses a handshake without Origin (400 "Empty or missing header(s): origin").
            if self.headers.get("Upgrade", "").lower() != "websocket" or not key or not self.headers.get("Origin"):
                self.send_error(400, "not a websocket handshake")
                return
            accept = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()
            self.send_response(101, "Switching Protocols")
            self.send_header("Upgrade", "websocket")
            self.send_header("Connection", "Upgrade")
            self.send_header("Sec-WebSocket-Accept", accept)
            self.end_headers()
            # One unmasked text frame (server to client), then close: proof the tunnel is this upstream.
            self.wfile.write(bytes([0x81, len(WS_GREETING)]) + WS_GREETING)
            self.wfile.flush()
            self.close_connection = True

    return OdooGevent


@dataclass
class Edge:
    nginx: Nginx
    http_port: int  # nginx :80 stand-in
    https_port: int  # nginx :443 stand-in
    odoo_http: Recorder
    odoo_gevent: Recorder
    tls: ssl.SSLContext
    acme_webroot: Path
    server_name: str  # the name clients use (SNI and Host)
    hsts: bool


def _serve(handler: type[BaseHTTPRequestHandler]) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer((LOOPBACK, 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()
    return server


@pytest.fixture(scope="module")
def leaf_cert(tmp_path_factory: pytest.TempPathFactory) -> TlsPair:
    """The certificate the agent makes for a droplet named odoo.test, by the agent's own command."""
    d = tmp_path_factory.mktemp("leaf")
    cert, key = d / "fullchain.pem", d / "privkey.pem"
    argv = self_signed_command(DOMAIN, None, str(key), str(cert))
    subprocess.run([require_tool("openssl"), *argv[1:]], check=True, capture_output=True, timeout=60)
    return TlsPair(cert, key, DOMAIN)


def _two_ports() -> tuple[int, int]:
    http_port = free_port()
    https_port = free_port()
    while https_port == http_port:
        https_port = free_port()
    return http_port, https_port


@contextlib.contextmanager
def _running_edge(prefix: Path, cert: TlsPair, deploy: Deploy, odoo_up: bool = True) -> Iterator[Edge]:
    """nginx with the rendered site in front of the two recording upstreams (or, with `odoo_up`
    False, in front of ports where nothing listens)."""
    odoo_http, odoo_gevent = Recorder("8069"), Recorder("8072")
    servers = [_serve(_http_handler(odoo_http)), _serve(_gevent_handler(odoo_gevent))] if odoo_up else []
    upstream_ports = [srv.server_address[1] for srv in servers] if odoo_up else [free_port(), free_port()]
    nginx = Nginx(prefix=prefix, binary=require_tool("nginx"))
    try:
        webroot = nginx.prefix / "acme"
        (webroot / ".well-known" / "acme-challenge").mkdir(parents=True)
        http_port, https_port = _two_ports()
        site = render_nginx_site(
            deploy,
            deploy.edge.domain or "_",  # as the agent names it (firstboot/contract/layout.server_name)
            str(cert.cert),
            str(cert.key),
            acme_webroot=str(webroot),
            upstream_host=LOOPBACK,
            http_port=upstream_ports[0],
            gevent_port=upstream_ports[1],
            listen_http=http_port,
            listen_https=https_port,
            listen_address=LOOPBACK,
        )
        nginx.write(site)
        check = nginx.check()
        assert check.returncode == 0, check.stderr
        nginx.start([http_port, https_port])
        tls = ssl.create_default_context(cafile=str(cert.cert))  # verifies: no "insecure" shortcut
        hsts = deploy.edge.tls == "letsencrypt"
        yield Edge(nginx, http_port, https_port, odoo_http, odoo_gevent, tls, webroot, cert.name, hsts)
    finally:
        nginx.stop()
        for server in servers:
            server.shutdown()
            server.server_close()


def _deploy(domain: str | None, tls: str) -> Deploy:
    return dataclasses.replace(Deploy(), edge=EdgeSpec(domain=domain, tls=tls))  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def edge(tmp_path_factory: pytest.TempPathFactory, leaf_cert: TlsPair) -> Iterator[Edge]:
    """A droplet with a domain. `tls: letsencrypt` for the headers it adds (HSTS); the certificate on
    disk is the self-signed one, as it is until certbot has succeeded."""
    with _running_edge(tmp_path_factory.mktemp("nginx-live"), leaf_cert, _deploy(DOMAIN, "letsencrypt")) as e:
        yield e


@pytest.fixture(scope="module")
def open_edge(tmp_path_factory: pytest.TempPathFactory, leaf_cert: TlsPair) -> Iterator[Edge]:
    """A droplet with no domain (reached by its address, as one made from the console)."""
    with _running_edge(tmp_path_factory.mktemp("nginx-open"), leaf_cert, _deploy(None, "self-signed")) as e:
        yield e


@pytest.fixture(scope="module")
def edge_without_odoo(tmp_path_factory: pytest.TempPathFactory, leaf_cert: TlsPair) -> Iterator[Edge]:
    deploy = _deploy(DOMAIN, "letsencrypt")
    with _running_edge(tmp_path_factory.mktemp("nginx-502"), leaf_cert, deploy, odoo_up=False) as e:
        yield e


def _tls_socket(edge: Edge, sni: str | None = "") -> ssl.SSLSocket:
    """A TLS connection to the edge on loopback, with the domain as SNI unless `sni` says otherwise
    (None: no SNI at all, as a client that connects by address)."""
    raw = socket.create_connection((LOOPBACK, edge.https_port), timeout=TIMEOUT)
    ctx = edge.tls
    if sni is None or (sni and sni != edge.server_name):
        ctx = ssl.create_default_context()
        ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE  # the handshake itself is under test
    try:
        return ctx.wrap_socket(raw, server_hostname=edge.server_name if sni == "" else sni)
    except BaseException:
        raw.close()
        raise


def _https(edge: Edge, method: str, path: str, headers: dict[str, str] | None = None, body: bytes | None = None):
    """One request over TLS with the site's name as SNI and Host; returns (response, body, test id)."""
    test_id = uuid.uuid4().hex
    conn = http.client.HTTPConnection(LOOPBACK, edge.https_port, timeout=TIMEOUT)
    conn.sock = _tls_socket(edge)
    try:
        conn.request(method, path, body=body,
                     headers={"Host": edge.server_name, "X-Test-Id": test_id, **(headers or {})})
        response = conn.getresponse()
        return response, response.read(), test_id
    finally:
        conn.close()


def _http(edge: Edge, path: str, host: str | None = None):
    test_id = uuid.uuid4().hex
    conn = http.client.HTTPConnection(LOOPBACK, edge.http_port, timeout=TIMEOUT)
    try:
        conn.request("GET", path, headers={"Host": host or edge.server_name, "X-Test-Id": test_id})
        response = conn.getresponse()
        return response, response.read(), test_id
    finally:
        conn.close()


def _read_to_close(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes (bounded by the socket's timeout)."""
    data = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except (ssl.SSLError, ConnectionResetError):
            return data  # closed without TLS close_notify or with a reset: nothing more came
        if not chunk:
            return data
        data += chunk


def _unseen(edge: Edge, test_id: str) -> bool:
    return edge.odoo_http.get(test_id) is None and edge.odoo_gevent.get(test_id) is None


def _read_head(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """Status and headers of one response; returns what was read past them too."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise AssertionError(f"connection closed before the response head: {data!r}")
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(status_line.split()[1]), headers, rest


def _upload(edge: Edge, size: int) -> tuple[int, dict, str]:
    """POST `size` bytes the way browsers' large uploads can: announce it, wait for 100 Continue
    (or the refusal), then send. Returns (final status, upstream JSON or {}, test id)."""
    test_id = uuid.uuid4().hex
    with _tls_socket(edge) as sock:
        sock.sendall(
            (
                f"POST /web/binary/upload_attachment HTTP/1.1\r\nHost: {edge.server_name}\r\n"
                f"X-Test-Id: {test_id}\r\nContent-Type: application/octet-stream\r\n"
                f"Content-Length: {size}\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n"
            ).encode()
        )
        status, headers, rest = _read_head(sock)
        if status == 100:
            block = os.urandom(MB)
            sent = 0
            while sent < size:
                piece = block[: min(MB, size - sent)]
                sock.sendall(piece)
                sent += len(piece)
            status, headers, rest = _read_head(sock)
        length = int(headers.get("content-length", "0"))
        while len(rest) < length:
            chunk = sock.recv(65536)
            if not chunk:
                break
            rest += chunk
    body = json.loads(rest) if status == 200 else {}
    return status, body, test_id


def _assert_forwarded(entry: dict | None, edge: Edge) -> None:
    assert entry is not None, "the request did not reach the expected upstream"
    h = entry["headers"]
    assert h.get("x-forwarded-host") == edge.server_name
    assert h.get("x-forwarded-proto") == "https"
    assert LOOPBACK in h.get("x-forwarded-for", "").split(", ")
    assert h.get("x-real-ip") == LOOPBACK
    assert h.get("host") == edge.server_name


def _ws_handshake(edge: Edge) -> tuple[int, dict[str, str], bytes, str, str]:
    """A browser's websocket handshake on /websocket: (status, headers, bytes after the head, key, id)."""
    test_id = uuid.uuid4().hex
    key = base64.b64encode(os.urandom(16)).decode()
    with _tls_socket(edge) as sock:
        sock.sendall(
            (
                "GET /websocket HTTP/1.1\r\n"
                f"Host: {edge.server_name}\r\nX-Test-Id: {test_id}\r\n"
                "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                f"Origin: https://{edge.server_name}\r\n\r\n"
            ).encode()
        )
        status, headers, rest = _read_head(sock)
        # After a 101 the connection is a tunnel: read the first frame the upstream sent, if any.
        while status == 101 and len(rest) < 2 + len(WS_GREETING):
            chunk = sock.recv(4096)
            if not chunk:
                break
            rest += chunk
    return status, headers, rest, key, test_id


def test_websocket_handshake_reaches_the_gevent_port(edge):
    status, headers, rest, key, test_id = _ws_handshake(edge)
    assert status == 101, (status, headers, edge.nginx.error_log())
    assert headers["upgrade"].lower() == "websocket"
    expected = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()
    assert headers["sec-websocket-accept"] == expected
    # The first frame through the tunnel came from the 8072 stand-in.
    assert rest[:2] == bytes([0x81, len(WS_GREETING)]) and rest[2:] == WS_GREETING

    seen = edge.odoo_gevent.get(test_id)
    assert seen is not None and seen["path"] == "/websocket"
    assert seen["headers"]["upgrade"].lower() == "websocket"
    assert seen["headers"]["connection"].lower() == "upgrade"
    assert seen["headers"]["origin"] == f"https://{edge.server_name}"
    assert seen["headers"]["sec-websocket-version"] == "13"
    _assert_forwarded(seen, edge)
    assert edge.odoo_http.get(test_id) is None  # not the HTTP port: it cannot serve /websocket


@pytest.mark.parametrize("path", ["/", "/web/login", "/web/health?db_server_status=1"])
def test_pages_reach_the_http_port(edge, path):
    response, body, test_id = _https(edge, "GET", path)
    assert response.status == 200
    assert json.loads(body) == {"upstream": "8069", "path": path, "body_bytes": 0}
    assert edge.odoo_gevent.get(test_id) is None


@pytest.mark.parametrize("path", ["/", "/web/login", "/web/static/src/x.css", "/websocket"])
def test_forwarding_headers_arrive_from_every_location(edge, path):
    if path == "/websocket":
        status, _, _, _, test_id = _ws_handshake(edge)
        assert status == 101
        entry = edge.odoo_gevent.get(test_id)
    else:
        response, _, test_id = _https(edge, "GET", path)
        assert response.status == 200
        entry = edge.odoo_http.get(test_id)
    _assert_forwarded(entry, edge)


def test_static_files_are_cached_and_compressed(edge):
    response, body, _ = _https(edge, "GET", "/web/static/src/x.css", {"Accept-Encoding": "gzip"})
    assert response.status == 200
    assert "max-age=864000" in response.getheader("Cache-Control", "")
    assert response.getheader("Content-Encoding") == "gzip"


def test_a_60_mb_upload_passes_whole(edge):
    status, body, test_id = _upload(edge, 60 * MB)
    assert status == 200, edge.nginx.error_log()
    assert body["body_bytes"] == 60 * MB
    assert edge.odoo_http.get(test_id)["body_bytes"] == 60 * MB


def test_a_70_mb_upload_is_refused_with_413(edge):
    status, _, test_id = _upload(edge, 70 * MB)
    assert status == 413
    assert edge.odoo_http.get(test_id) is None  # refused at the edge, Odoo never saw it


def test_port_80_redirects_to_https(edge):
    test_id = uuid.uuid4().hex
    conn = http.client.HTTPConnection(LOOPBACK, edge.http_port, timeout=TIMEOUT)
    try:
        conn.request("GET", "/web/login?redirect=%2Fodoo", headers={"Host": edge.server_name, "X-Test-Id": test_id})
        response = conn.getresponse()
        response.read()
    finally:
        conn.close()
    assert response.status == 301
    assert response.getheader("Location") == f"https://{edge.server_name}/web/login?redirect=%2Fodoo"
    assert edge.odoo_http.get(test_id) is None


def test_port_80_serves_the_acme_challenge(edge):
    token = uuid.uuid4().hex
    (edge.acme_webroot / ".well-known" / "acme-challenge" / "tok").write_text(token)
    conn = http.client.HTTPConnection(LOOPBACK, edge.http_port, timeout=TIMEOUT)
    try:
        conn.request("GET", "/.well-known/acme-challenge/tok", headers={"Host": edge.server_name})
        response = conn.getresponse()
        body = response.read()
        conn.request("GET", "/.well-known/acme-challenge/missing", headers={"Host": edge.server_name})
        missing = conn.getresponse()
        missing.read()
    finally:
        conn.close()
    assert response.status == 200 and body.decode() == token
    assert missing.status == 404  # not redirected to https: certbot's validator must see it here


# --- the hardened edge (issue 9): other names, the database manager, headers, cookies, TLS ----------------


def test_another_host_on_port_80_gets_no_answer(edge):
    for request in (f"GET / HTTP/1.1\r\nHost: {HOSTILE}\r\n", "GET / HTTP/1.0\r\n"):  # another name; no name
        test_id = uuid.uuid4().hex
        with socket.create_connection((LOOPBACK, edge.http_port), timeout=TIMEOUT) as sock:
            sock.sendall(f"{request}X-Test-Id: {test_id}\r\n\r\n".encode())
            assert _read_to_close(sock) == b"", request  # 444: closed without a byte, no redirect to evil
        assert _unseen(edge, test_id)


@pytest.mark.parametrize("sni", [HOSTILE, None], ids=["other-name", "no-sni"])
def test_another_name_on_443_gets_no_handshake(edge, sni):
    with pytest.raises(ssl.SSLError) as refused:
        _tls_socket(edge, sni=sni).close()
    # The server's alert (ssl_reject_handshake): no certificate was shown, nothing was proxied.
    assert "UNRECOGNIZED_NAME" in str(refused.value), refused.value


def test_another_host_after_a_good_handshake_gets_no_answer(edge):
    """SNI says odoo.test, the Host header something else: the default server closes, Odoo never sees it."""
    test_id = uuid.uuid4().hex
    with _tls_socket(edge) as sock:
        sock.sendall(f"GET /web/login HTTP/1.1\r\nHost: {HOSTILE}\r\nX-Test-Id: {test_id}\r\n\r\n".encode())
        assert _read_to_close(sock) == b""
    assert _unseen(edge, test_id)


def test_odoo_gets_the_server_name_whatever_the_client_sends(edge):
    response, _, test_id = _https(edge, "GET", "/web/login", {
        "Host": f"{DOMAIN.upper()}:443",  # the same name, another spelling
        "X-Forwarded-Host": HOSTILE, "X-Forwarded-Proto": "http",
    })
    assert response.status == 200
    seen = edge.odoo_http.get(test_id)
    assert seen is not None
    assert seen["headers"]["host"] == DOMAIN and seen["headers"]["x-forwarded-host"] == DOMAIN
    assert seen["headers"]["x-forwarded-proto"] == "https"


def test_port_80_redirects_to_the_server_name_only(edge):
    response, _, test_id = _http(edge, "/web/login", host=f"{DOMAIN.upper()}:80")
    assert response.status == 301
    assert response.getheader("Location") == f"https://{DOMAIN}/web/login"
    assert _unseen(edge, test_id)


def test_without_a_domain_any_name_is_served(open_edge):
    """A droplet reached by its address keeps answering whatever name the client uses."""
    for sni in (open_edge.server_name, None):
        test_id = uuid.uuid4().hex
        with _tls_socket(open_edge, sni=sni) as sock:
            sock.sendall(f"GET /web/login HTTP/1.1\r\nHost: 203.0.113.10\r\nX-Test-Id: {test_id}\r\n"
                         "Connection: close\r\n\r\n".encode())
            status, headers, _ = _read_head(sock)
        assert status == 200
        seen = open_edge.odoo_http.get(test_id)
        assert seen is not None and seen["headers"]["host"] == "203.0.113.10"
        assert "strict-transport-security" not in headers  # a self-signed certificate: no HSTS
    response, _, _ = _http(open_edge, "/", host="203.0.113.10")
    assert response.status == 301 and response.getheader("Location") == "https://203.0.113.10/"


DATABASE_MANAGER = [
    "/web/database/manager",
    "/web/database/selector",
    "/web/database/create",
    "/web/database/backup",
    "/web/database/list",
    "/web/database",
    "/xmlrpc/2/db",
    "/xmlrpc/2/db/",
    "/xmlrpc/db",
    # Spellings that nginx normalises before it chooses a location (and that Odoo would route the same).
    "//web/database/manager",
    "/web/%64atabase/selector",
    "/web/static/../database/manager",
    "/xmlrpc/2/db?x=1",
]


@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize("path", DATABASE_MANAGER)
def test_the_database_manager_is_404_at_nginx(edge, path, method):
    body = b"<?xml version='1.0'?><methodCall><methodName>list</methodName></methodCall>"
    response, text, test_id = _https(edge, method, path, {"Content-Type": "text/xml"},
                                     body=body if method == "POST" else None)
    assert response.status == 404
    assert b"upstream" not in text and b"<center>nginx</center>" in text  # nginx's own page, no version
    assert _unseen(edge, test_id)  # the upstream never saw it


@pytest.mark.parametrize("path", ["/xmlrpc/2/common", "/xmlrpc/2/object", "/jsonrpc", "/web/databases-x"])
def test_the_external_api_still_reaches_odoo(edge, path):
    response, text, test_id = _https(edge, "POST", path, {"Content-Type": "text/xml"}, body=b"<methodCall/>")
    assert response.status == 200 and json.loads(text)["path"] == path
    assert edge.odoo_http.get(test_id) is not None


def _assert_security_headers(response: http.client.HTTPResponse, hsts: bool) -> None:
    for name, value in SECURITY_HEADERS.items():
        got = response.headers.get_all(name) or []
        if name == "content-security-policy":
            # Odoo sends the same policy on its pages (and `default-src 'none'` on files): every CSP header
            # is enforced, so the edge's is added beside Odoo's, never in place of it.
            assert value in got, (name, response.status, response.headers.items())
        else:  # the edge's own (proxy_hide_header drops Odoo's copy): exactly once
            assert got == [value], (name, response.status, response.headers.items())
    assert response.headers.get_all("strict-transport-security") == ([HSTS] if hsts else None)
    assert response.getheader("Server") == "nginx"  # no version, not the upstream's


@pytest.mark.parametrize(
    "path,status",
    [("/web/login", 200), ("/web/static/src/x.css", 200), ("/odoo-redirect", 303), ("/odoo-missing", 404),
     ("/web/database/manager", 404)],
)
def test_security_headers_on_every_answer(edge, path, status):
    response, _, _ = _https(edge, "GET", path)
    assert response.status == status
    _assert_security_headers(response, hsts=True)


def test_security_headers_on_a_502_when_odoo_is_down(edge_without_odoo):
    response, _, _ = _https(edge_without_odoo, "GET", "/web/login")
    assert response.status == 502
    _assert_security_headers(response, hsts=True)


def test_security_headers_on_the_port_80_redirect(edge):
    response, _, _ = _http(edge, "/web/login")
    assert response.status == 301
    _assert_security_headers(response, hsts=False)  # HSTS only ever over https


def test_odoos_cookies_become_secure_and_samesite(edge):
    response, _, _ = _https(edge, "GET", "/web/login?set_cookie=1")
    cookies = response.headers.get_all("set-cookie")
    assert cookies and len(cookies) == 2, response.headers.items()
    for cookie in cookies:
        attributes = [a.strip().lower() for a in cookie.split(";")[1:]]
        assert attributes.count("secure") == 1 and attributes.count("samesite=lax") == 1, cookie
    session = next(c for c in cookies if c.startswith("session_id="))
    assert "httponly" in session.lower() and "max-age=604800" in session.lower()  # Odoo's own attributes kept


def _sslyze_scan(edge: Edge):
    import sslyze  # the dev extras install it; missing, this test fails (never a silent skip)
    from sslyze.mozilla_tls_profile.tls_config_checker import SCAN_COMMANDS_NEEDED_BY_MOZILLA_CHECKER

    location = sslyze.ServerNetworkLocation(hostname=DOMAIN, port=edge.https_port, ip_address=LOOPBACK)
    request = sslyze.ServerScanRequest(server_location=location, scan_commands=set(SCAN_COMMANDS_NEEDED_BY_MOZILLA_CHECKER))
    scanner = sslyze.Scanner(per_server_concurrent_connections_limit=4)
    scanner.queue_scans([request])
    (result,) = list(scanner.get_results())
    assert result.scan_status == sslyze.ServerScanStatusEnum.COMPLETED, result.connectivity_error_trace
    return result


# sslyze loads its bundled trust stores, one of which holds a root with a negative serial number.
@pytest.mark.filterwarnings("ignore:Parsed a serial number which wasn't positive")
def test_a_tls_scanner_finds_nothing_but_the_self_signed_trust(edge):
    """sslyze (a real scanner) against the live edge: Mozilla's "intermediate" profile, checked by the
    scanner's own checker, flags only that the self-signed certificate is not publicly trusted."""
    from sslyze.mozilla_tls_profile.tls_config_checker import (
        MozillaTlsConfiguration,
        ServerNotCompliantWithTlsConfiguration,
        TlsConfigurationEnum,
        check_server_against_tls_configuration,
    )

    result = _sslyze_scan(edge)
    scan = result.scan_result
    try:
        check_server_against_tls_configuration(result, MozillaTlsConfiguration.get(TlsConfigurationEnum.MOZILLA_INTERMEDIATE))
        issues: dict[str, str] = {}
    except ServerNotCompliantWithTlsConfiguration as e:
        issues = e.issues
    assert set(issues) == {"certificate_path_validation"}, issues

    # What the profile implies, said outright.
    for old in ("ssl_2_0_cipher_suites", "ssl_3_0_cipher_suites", "tls_1_0_cipher_suites", "tls_1_1_cipher_suites"):
        assert getattr(scan, old).result.is_tls_version_supported is False, old
    tls12 = [c.cipher_suite.name for c in scan.tls_1_2_cipher_suites.result.accepted_cipher_suites]
    assert tls12 and all(name.startswith("TLS_ECDHE_") for name in tls12), tls12  # no static RSA, no DHE
    assert all("_GCM_" in n or "CHACHA20_POLY1305" in n for n in tls12), tls12  # no CBC
    assert not [n for n in tls12 if "CAMELLIA" in n or "ARIA" in n or "_CBC_" in n], tls12
    assert scan.tls_1_3_cipher_suites.result.is_tls_version_supported
    assert scan.heartbleed.result.is_vulnerable_to_heartbleed is False
    assert scan.openssl_ccs_injection.result.is_vulnerable_to_ccs_injection is False
    assert scan.tls_compression.result.supports_compression is False
    assert scan.session_renegotiation.result.is_vulnerable_to_client_renegotiation_dos is False
    assert scan.tls_fallback_scsv.result.supports_fallback_scsv is True

    # The certificate is a leaf for the name, not a CA, and not valid longer than 398 days.
    (deployment,) = scan.certificate_info.result.certificate_deployments
    leaf = deployment.received_certificate_chain[0]
    assert leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    assert x509.oid.ExtendedKeyUsageOID.SERVER_AUTH in leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert (leaf.not_valid_after_utc - leaf.not_valid_before_utc).days <= 398
    assert leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
        x509.DNSName) == [DOMAIN]
    assert deployment.verified_certificate_chain is None  # the one finding: no public store trusts it
