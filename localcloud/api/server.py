"""The HTTPS server: stdlib ThreadingHTTPServer + ssl, bearer auth, DO-shaped errors, rate-limit headers,
fault injection, and the admin endpoint for the fault knobs. Which handler answers is the router's
(localcloud/api/router.py); the handlers live with their resource (localcloud/api/resources/).
"""

from __future__ import annotations

import hmac
import json
import logging
import ssl
import threading
import time
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlsplit

from localcloud.api.cloud import Cloud
from localcloud.api.request import ApiError, Request
from localcloud.api.resources import ROUTER
from localcloud.backend import Backend
from localcloud.ca import ensure_ca
from localcloud.faults import ADMIN_PATH, SERVICES, FaultBook, FaultError
from localcloud.home import Home
from localcloud.network import NETWORK
from localcloud.services import HostServices
from localcloud.state import State, ensure_credentials

log = logging.getLogger("localcloud.api")

RATE_LIMIT = 5000  # per hour, as DigitalOcean's (the per-minute burst limit is not enforced here)
MAX_BODY = 1024 * 1024


class ServiceControl(Protocol):
    def set_state(self, service: str, running: bool) -> None: ...


Observer = Callable[[str, str, dict[str, str], bytes, int, dict[str, str], bytes], None]


class RateWindow:
    """Counts requests per token per clock hour, for the ratelimit-* headers."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._hour = 0
        self._count = 0

    def hit(self) -> dict[str, str]:
        now = int(time.time())
        hour = now // 3600
        with self._lock:
            if hour != self._hour:
                self._hour, self._count = hour, 0
            self._count += 1
            remaining = max(0, RATE_LIMIT - self._count)
        return {"ratelimit-limit": str(RATE_LIMIT), "ratelimit-remaining": str(remaining),
                "ratelimit-reset": str((hour + 1) * 3600)}


FAULT_BODIES = {
    403: ("forbidden", "You are not authorized to perform this operation."),  # a custom-scoped token missing a scope
    429: ("too_many_requests", "API Rate limit exceeded."),
    500: ("server_error", "Server was unable to give you a response."),
    502: ("bad_gateway", "Bad gateway."),
    503: ("service_unavailable", "The service is temporarily unavailable."),
    504: ("gateway_timeout", "The server did not answer in time."),
}


class ApiServer:
    """The local DO API. `start()` serves in a thread (tests), `serve_forever()` in the caller (daemon)."""

    def __init__(self, home: Home | Path, backend: Backend, host: str = NETWORK.loopback, port: int = NETWORK.api_port,
                 services: ServiceControl | None = None, observer: Observer | None = None,
                 reserved_range: tuple[int, int] = NETWORK.reserved_range):
        self.home = Home.of(home)
        self.token = ensure_credentials(self.home).token
        self.ca = ensure_ca(self.home)
        self.state = State.load(self.home)
        self.faults = FaultBook()
        self.cloud = Cloud(self.state, backend, self.faults, reserved_range)
        # The fault knobs stop/start the services of this state folder unless told otherwise (tests).
        self.services = services or HostServices(self.home)
        self.rate = RateWindow()
        # Sees every exchange (tests validate them against the spec, whoever the client is: Packer too).
        self.observer = observer
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(self.ca.server_cert, self.ca.server_key)
        self.httpd = ThreadingHTTPServer((host, port), _handler_for(self))
        self.httpd.daemon_threads = True
        # Handshake in the handler thread, not in the accept loop, so one slow client cannot stall it.
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True, do_handshake_on_connect=False)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        # An AF_INET server's address is a str; typeshed also allows bytes (AF_UNIX).
        return f"https://{host if isinstance(host, str) else host.decode()}:{port}"

    def start(self) -> ApiServer:
        # A short poll interval: stop() (shutdown) waits for the loop to notice, tests start and stop often.
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="localcloud-api", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self.httpd.serve_forever()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.cloud.close()
        self.state.save()

    # -------------------------------------------------------------- request pipeline

    def authorized(self, header: str | None) -> bool:
        if not header or not header.startswith("Bearer "):
            return False
        return hmac.compare_digest(header[len("Bearer "):].strip().encode(), self.token.encode())

    def handle(self, method: str, target: str, headers: Any, body: bytes) -> tuple[int, Any, dict[str, str]]:
        parts = urlsplit(target)
        path = parts.path
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        extra: dict[str, str] = {}
        if not (path.startswith("/v2/") or path == "/v2" or path == ADMIN_PATH):
            raise ApiError(404, "not_found", "The resource you were accessing could not be found.")
        if not self.authorized(headers.get("Authorization")):
            raise ApiError(401, "unauthorized", "Unable to authenticate you.")
        extra.update(self.rate.hit())
        if path == ADMIN_PATH:
            status, payload = self.admin(method, body)
            return status, payload, extra
        fault = self.faults.take_http(method, path)
        if fault is not None:
            err_id, message = FAULT_BODIES[fault.status]
            if fault.status == 429:
                extra["retry-after"] = str(fault.retry_after)
                extra["ratelimit-remaining"] = "0"
            raise ApiError(fault.status, err_id, message, extra)
        found = ROUTER.route(method, path)
        if found is None:
            raise ApiError(404, "not_found", "The resource you were accessing could not be found.", extra)
        handler, params = found
        if handler is None:
            raise ApiError(405, "method_not_allowed", f"{method} is not allowed on {path}.", extra)
        parsed: Any = None
        if body:
            try:
                parsed = json.loads(body)
            except ValueError:
                raise ApiError(400, "bad_request", "The request body is not valid JSON.", extra) from None
        host = headers.get("Host") or "{}:{}".format(*self.httpd.server_address[:2])
        req = Request(method, path, query, parsed, f"https://{host}", params)
        try:
            status, payload = handler(self.cloud, req)
        except ApiError as e:
            e.headers = {**extra, **e.headers}
            raise
        return status, payload, extra

    def admin(self, method: str, body: bytes) -> tuple[int, Any]:
        if method == "GET":
            return 200, self.faults.listing()
        if method == "DELETE":
            self.faults.clear()
            return 200, self.faults.listing()
        if method != "POST":
            raise ApiError(405, "method_not_allowed", "Use GET, POST or DELETE.")
        try:
            spec = json.loads(body or b"{}")
        except ValueError:
            raise ApiError(400, "bad_request", "The request body is not valid JSON.") from None
        if not isinstance(spec, dict):
            raise ApiError(400, "bad_request", "The request body must be a JSON object.")
        if spec.get("kind") == "service":
            service, wanted = spec.get("service"), spec.get("state")
            if service not in SERVICES or wanted not in ("stopped", "running"):
                raise ApiError(422, "unprocessable_entity",
                               f"service must be one of {SERVICES}, state stopped or running")
            self.services.set_state(service, wanted == "running")
            return 201, {"kind": "service", "service": service, "state": wanted}
        try:
            return 201, self.faults.add(spec)
        except FaultError as e:
            raise ApiError(422, "unprocessable_entity", str(e)) from None


def _render(status: int, payload: Any) -> bytes:
    return b"" if status == 204 or payload is None else json.dumps(payload).encode()


def _handler_for(api: ApiServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "odoo-droplet-localcloud"
        sys_version = ""
        timeout = 120

        def _serve(self) -> None:
            request_id = str(uuid.uuid4())
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY:
                self._send(413, {"id": "request_too_large", "message": "Request body too large.",
                                 "request_id": request_id}, {}, request_id)
                self.close_connection = True
                return
            body = self.rfile.read(length) if length else b""
            try:
                status, payload, headers = api.handle(self.command, self.path, self.headers, body)
            except ApiError as e:
                status, headers = e.status, e.headers
                payload = {"id": e.error_id, "message": e.message, "request_id": request_id}
            except Exception:
                log.exception("%s %s", self.command, self.path)
                status, headers = 500, {}
                payload = {"id": "server_error", "message": "Server was unable to give you a response.",
                           "request_id": request_id}
            data = _render(status, payload)
            # The observer sees the exchange before the client gets its answer, so a test that counts the
            # exchanges when its last call returns counts that one too.
            if api.observer is not None:
                try:
                    api.observer(self.command, self.path, dict(self.headers.items()), body, status,
                                 {**headers, "Content-Type": "application/json"}, data)
                except Exception:
                    log.exception("observer failed")
            self._send(status, payload, headers, request_id)

        def _send(self, status: int, payload: Any, headers: dict[str, str], request_id: str) -> bytes:
            data = _render(status, payload)
            self.send_response(status)
            if data:
                self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("x-request-id", request_id)
            for k, v in headers.items():
                self.send_header(k, v)
            self.end_headers()
            if data and self.command != "HEAD":
                self.wfile.write(data)
            return data

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve  # noqa: N815 - http.server's naming

        def handle_one_request(self) -> None:
            try:
                super().handle_one_request()
            except (ssl.SSLError, ConnectionError, TimeoutError) as e:
                # A client that drops the connection or fails the TLS handshake (e.g. an untrusted CA).
                log.debug("connection from %s ended: %s", self.client_address[0], e)
                self.close_connection = True

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
            # Request line and status only: never headers or bodies (they carry tokens and user-data).
            log.info("%s %s", self.client_address[0], format % args)

    return Handler
