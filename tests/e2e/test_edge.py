"""The hardened edge of a real droplet, checked from outside as an attacker would (issue 9): a droplet deployed
from the snapshot with a domain, reached through its reserved IP on the local cloud.

- another name gets no answer from Odoo: `Host: evil.example` on 80 (444: no byte back), a handshake for
  another name on 443 (refused), another Host after a good handshake (444);
- the database manager (`/web/database/manager|selector`, `/xmlrpc/2/db`) is 404 from nginx, where the
  stand-in Odoo (like real Odoo with `list_db = False`) would answer 200 pages and XML-RPC faults;
- the security headers on pages, errors and redirects, `Server: nginx` without a version, Odoo's session
  cookie Secure and SameSite=Lax;
- a real TLS scanner (sslyze) against the droplet: nothing but the self-signed certificate's trust.

Set ODL_E2E_SNAPSHOT_ID to use a snapshot that exists already (built from the same code) instead of baking.
"""

from __future__ import annotations

import http.client
import os
import socket
import ssl
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from localcloud.testing import Api, Boot, boot, make_deploy, make_secrets, wait_active

pytestmark = pytest.mark.e2e

FINISH_SECONDS = 600  # a whole first boot under load on 2 cores
TIMEOUT = 20  # one exchange
HOSTILE = "evil.example"
SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "strict-origin-when-cross-origin",
    "content-security-policy": "frame-ancestors 'self'",
}


@pytest.fixture(scope="module")
def snapshot(request: pytest.FixtureRequest) -> dict[str, Any]:
    wanted = os.environ.get("ODL_E2E_SNAPSHOT_ID")
    if wanted:
        return {"snapshot_id": int(wanted), "env": request.getfixturevalue("local_cloud_env")}
    return request.getfixturevalue("baked_snapshot")


@pytest.fixture(scope="module")
def deployed(snapshot: dict[str, Any], timings: dict[str, float]) -> Iterator[tuple[Boot, str]]:
    """One droplet with the example's domain and a reserved IP of its own; (boot, reserved IP)."""
    env = {k: v for k, v in snapshot["env"].items() if k not in ("DB_PASSWORD", "ADMIN_PASSWD")}
    api = Api(env)
    ip = api.create_reserved_ip()
    b: Boot | None = None
    try:
        deploy = make_deploy(env, bucket=f"odl-e2e-edge-{uuid.uuid4().hex[:6]}", reserved_ip=ip, dns=False)
        assert deploy.edge.domain, "examples/deploy.yaml names a domain: this test is about a droplet with one"
        start = time.monotonic()
        b = boot(api, "edge", deploy, make_secrets(env), int(snapshot["snapshot_id"]))
        wait_active(api, b)
        final = b.wait_finished(FINISH_SECONDS)
        timings["edge e2e: droplet deployed"] = time.monotonic() - start
        assert final and final["status"] == "success", final
        assert api.holder(ip) == b.droplet_id
        yield b, ip
    finally:
        if b is not None and b.droplet_id:
            api.cloud.delete_droplet(b.droplet_id)
        api.delete_reserved_ip(ip)


def _domain(deployed: tuple[Boot, str]) -> str:
    return str(deployed[0].deploy.edge.domain)


def _tls(ip: str, sni: str | None) -> ssl.SSLSocket:
    """TLS to the reserved IP; certificates unchecked here (the self-signed one is the scanner's business)."""
    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    raw = socket.create_connection((ip, 443), timeout=TIMEOUT)
    try:
        return ctx.wrap_socket(raw, server_hostname=sni)
    except BaseException:
        raw.close()
        raise


def _read_to_close(sock: socket.socket) -> bytes:
    data = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except (ssl.SSLError, ConnectionResetError):
            return data
        if not chunk:
            return data
        data += chunk


def _request(ip: str, name: str, method: str, path: str, *, tls: bool = True, body: bytes | None = None,
             headers: dict[str, str] | None = None) -> tuple[http.client.HTTPResponse, bytes]:
    conn = http.client.HTTPConnection(ip, 443 if tls else 80, timeout=TIMEOUT)
    if tls:
        conn.sock = _tls(ip, name)
    try:
        conn.request(method, path, body=body, headers={"Host": name, **(headers or {})})
        response = conn.getresponse()
        return response, response.read()
    finally:
        conn.close()


def test_another_name_gets_no_answer_on_80_and_443(deployed):
    _, ip = deployed
    with socket.create_connection((ip, 80), timeout=TIMEOUT) as sock:
        sock.sendall(f"GET /web/login HTTP/1.1\r\nHost: {HOSTILE}\r\n\r\n".encode())
        assert _read_to_close(sock) == b""  # no redirect to https://evil.example, no page
    for sni in (HOSTILE, None):
        with pytest.raises(ssl.SSLError, match="UNRECOGNIZED_NAME"):
            _tls(ip, sni).close()
    with _tls(ip, _domain(deployed)) as sock:
        sock.sendall(f"GET /web/login HTTP/1.1\r\nHost: {HOSTILE}\r\n\r\n".encode())
        assert _read_to_close(sock) == b""
    response, body = _request(ip, _domain(deployed), "GET", "/web/login")  # the real name still works
    assert response.status == 200 and b"oe_login_form" in body


@pytest.mark.parametrize("method,path", [("GET", "/web/database/manager"), ("GET", "/web/database/selector"),
                                         ("POST", "/xmlrpc/2/db")])
def test_the_database_manager_is_404_from_nginx(deployed, method, path):
    call = b"<?xml version='1.0'?><methodCall><methodName>server_version</methodName><params/></methodCall>"
    response, body = _request(deployed[1], _domain(deployed), method, path, body=call if method == "POST" else None,
                              headers={"Content-Type": "text/xml"})
    assert response.status == 404
    assert b"<center>nginx</center>" in body and b"methodResponse" not in body and b"database" not in body.lower()


def _assert_headers(response: http.client.HTTPResponse, hsts: bool) -> None:
    for name, value in SECURITY_HEADERS.items():
        got = response.headers.get_all(name) or []
        if name == "content-security-policy":
            # Odoo sends the same policy on its pages (and `default-src 'none'` on files): every CSP header
            # is enforced, so the edge's is added beside Odoo's, never in place of it.
            assert value in got, (name, response.status, response.headers.items())
        else:  # the edge's own (proxy_hide_header drops Odoo's copy): exactly once
            assert got == [value], (name, response.status, response.headers.items())
    assert (response.getheader("Strict-Transport-Security") is not None) == hsts
    assert response.getheader("Server") == "nginx"


def test_security_headers_and_cookies_from_outside(deployed):
    b, ip = deployed
    name, hsts = _domain(deployed), b.deploy.edge.tls == "letsencrypt"
    page, _ = _request(ip, name, "GET", "/web/login")
    assert page.status == 200
    _assert_headers(page, hsts)
    missing, _ = _request(ip, name, "GET", "/web/database/manager")
    _assert_headers(missing, hsts)
    redirect, _ = _request(ip, name, "GET", "/web/login", tls=False)
    assert redirect.status == 301 and redirect.getheader("Location") == f"https://{name}/web/login"
    _assert_headers(redirect, hsts=False)
    # Odoo opens a session for the database and sets its cookie: Secure and SameSite=Lax at the edge.
    login, _ = _request(ip, name, "GET", f"/web/login?db={b.deploy.odoo.database}")
    cookies = [c for c in login.headers.get_all("set-cookie") or [] if c.startswith("session_id=")]
    assert cookies, login.headers.items()
    for cookie in cookies:
        attributes = [a.strip().lower() for a in cookie.split(";")[1:]]
        assert "secure" in attributes and "samesite=lax" in attributes and "httponly" in attributes, cookie


@pytest.mark.filterwarnings("ignore:Parsed a serial number which wasn't positive")
def test_a_tls_scanner_finds_nothing_but_the_self_signed_trust(deployed):
    import sslyze
    from sslyze.mozilla_tls_profile.tls_config_checker import (
        SCAN_COMMANDS_NEEDED_BY_MOZILLA_CHECKER,
        MozillaTlsConfiguration,
        ServerNotCompliantWithTlsConfiguration,
        TlsConfigurationEnum,
        check_server_against_tls_configuration,
    )

    _, ip = deployed
    location = sslyze.ServerNetworkLocation(hostname=_domain(deployed), port=443, ip_address=ip)
    scanner = sslyze.Scanner(per_server_concurrent_connections_limit=4)
    scanner.queue_scans([sslyze.ServerScanRequest(server_location=location,
                                                  scan_commands=set(SCAN_COMMANDS_NEEDED_BY_MOZILLA_CHECKER))])
    (result,) = list(scanner.get_results())
    assert result.scan_status == sslyze.ServerScanStatusEnum.COMPLETED, result.connectivity_error_trace
    try:
        check_server_against_tls_configuration(result, MozillaTlsConfiguration.get(TlsConfigurationEnum.MOZILLA_INTERMEDIATE))
        issues: dict[str, str] = {}
    except ServerNotCompliantWithTlsConfiguration as e:
        issues = e.issues
    assert set(issues) == {"certificate_path_validation"}, issues
    scan = result.scan_result
    for old in ("ssl_2_0_cipher_suites", "ssl_3_0_cipher_suites", "tls_1_0_cipher_suites", "tls_1_1_cipher_suites"):
        assert getattr(scan, old).result.is_tls_version_supported is False, old
    leaf = scan.certificate_info.result.certificate_deployments[0].received_certificate_chain[0]
    from cryptography import x509

    assert leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
