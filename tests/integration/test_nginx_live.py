"""Real nginx running the rendered site with a self-signed certificate, in front of two small real
upstreams on loopback standing in for Odoo's HTTP port (8069) and gevent port (8072).

The upstreams are not Odoo (its image cannot be pulled here); they keep the part of its contract
nginx touches: plain HTTP/1.x, and on the gevent port a websocket handshake answered with 101. Each
records what it received, so the tests assert what reached Odoo, not only what the client saw.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import os
import socket
import ssl
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from firstboot.config import Deploy
from firstboot.render.nginx import render_nginx_site

from .conftest import LOOPBACK, Nginx, free_port, require_tool

pytestmark = pytest.mark.integration

WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC11B65"  # RFC 6455
WS_GREETING = b"hello from the gevent port"
MB = 1024 * 1024
TIMEOUT = 30  # seconds, for any single exchange


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
            if self.path.endswith(".css"):
                body, ctype = b"/* static */\n" + b".o_web { color: #714b67; }\n" * 200, "text/css"
            else:
                body = json.dumps({"upstream": recorder.name, "path": self.path, "body_bytes": body_bytes})
                body, ctype = body.encode(), "application/json"
            self.send_response(200)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
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
    server_name: str


def _serve(handler: type[BaseHTTPRequestHandler]) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer((LOOPBACK, 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()
    return server


@pytest.fixture(scope="module")
def edge(tmp_path_factory: pytest.TempPathFactory, tls_cert) -> Iterator[Edge]:
    odoo_http, odoo_gevent = Recorder("8069"), Recorder("8072")
    servers = [_serve(_http_handler(odoo_http)), _serve(_gevent_handler(odoo_gevent))]
    nginx = Nginx(prefix=tmp_path_factory.mktemp("nginx-live"), binary=require_tool("nginx"))
    try:
        webroot = nginx.prefix / "acme"
        (webroot / ".well-known" / "acme-challenge").mkdir(parents=True)
        http_port = free_port()
        https_port = free_port()
        while https_port == http_port:
            https_port = free_port()
        site = render_nginx_site(
            Deploy(),
            tls_cert.name,
            str(tls_cert.cert),
            str(tls_cert.key),
            acme_webroot=str(webroot),
            upstream_host=LOOPBACK,
            http_port=servers[0].server_address[1],
            gevent_port=servers[1].server_address[1],
            listen_http=http_port,
            listen_https=https_port,
            listen_address=LOOPBACK,
        )
        nginx.write(site)
        nginx.start([http_port, https_port])
        tls = ssl.create_default_context(cafile=str(tls_cert.cert))  # verifies: no "insecure" shortcut
        yield Edge(nginx, http_port, https_port, odoo_http, odoo_gevent, tls, webroot, tls_cert.name)
    finally:
        nginx.stop()
        for server in servers:
            server.shutdown()
            server.server_close()


def _https(edge: Edge, method: str, path: str, headers: dict[str, str] | None = None):
    """One request over TLS with the site's Host; returns (response, body, test id)."""
    test_id = uuid.uuid4().hex
    conn = http.client.HTTPSConnection(LOOPBACK, edge.https_port, context=edge.tls, timeout=TIMEOUT)
    try:
        conn.request(method, path, headers={"Host": edge.server_name, "X-Test-Id": test_id, **(headers or {})})
        response = conn.getresponse()
        return response, response.read(), test_id
    finally:
        conn.close()


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


def _tls_socket(edge: Edge) -> ssl.SSLSocket:
    raw = socket.create_connection((LOOPBACK, edge.https_port), timeout=TIMEOUT)
    return edge.tls.wrap_socket(raw, server_hostname=LOOPBACK)


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
