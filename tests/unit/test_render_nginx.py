"""The nginx site, block by block: what Odoo 18 needs in each location (the live proof is in
tests/integration/test_nginx_live.py)."""

from __future__ import annotations

import dataclasses
import itertools
import re
import ssl

import pytest

from firstboot.config import Deploy, EdgeSpec, PostgresSpec, RedisSpec
from firstboot.render.nginx import render_nginx_site

FORWARDED_COMMON = [
    "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
    "proxy_set_header X-Forwarded-Proto https;",
    "proxy_set_header X-Real-IP $remote_addr;",
]


def _forwarded(domain: str | None) -> list[str]:
    """With a domain, Odoo's Host comes from the server name, never from the client."""
    host = "$server_name" if domain else "$host"
    return [f"proxy_set_header Host {host};", f"proxy_set_header X-Forwarded-Host {host};", *FORWARDED_COMMON]


SECURITY_HEADERS = [
    'add_header X-Content-Type-Options "nosniff" always;',
    'add_header Referrer-Policy "strict-origin-when-cross-origin" always;',
    "add_header Content-Security-Policy \"frame-ancestors 'self'\" always;",
]
HSTS = 'add_header Strict-Transport-Security "max-age=31536000" always;'
DATABASE_MANAGER = ["/web/database", "/xmlrpc/db", "/xmlrpc/2/db"]


def _deploy(pg: str, redis: bool, domain: str | None) -> Deploy:
    return dataclasses.replace(
        Deploy(),
        postgres=PostgresSpec(mode="managed", host="pg.example") if pg == "managed" else PostgresSpec(),
        redis=RedisSpec(enabled=redis),
        edge=EdgeSpec(domain=domain, tls="letsencrypt" if domain else "self-signed"),
    )


MATRIX = [
    pytest.param(pg, redis, domain, id=f"{pg}-redis{int(redis)}-{'domain' if domain else 'ip'}")
    for pg, redis, domain in itertools.product(["selfhost", "managed"], [True, False], ["erp.example.com", None])
]


def _blocks(text: str, head: str) -> list[tuple[str, str]]:
    """(header, body) of every `head ... { body }` block at any depth (brace-matched)."""
    found = []
    for match in re.finditer(rf"(?m)^\s*({head}[^{{;]*)\{{", text):
        depth, start = 1, match.end()
        pos = start
        while depth:
            depth += {"{": 1, "}": -1}.get(text[pos], 0)
            pos += 1
        found.append((match.group(1).strip(), text[start : pos - 1]))
    return found


def _directives(body: str) -> list[str]:
    """The directives of a block body, nested blocks removed, comments dropped, whitespace squeezed."""
    body = re.sub(r"#[^\n]*", "", body)
    while re.search(r"\{[^{}]*\}", body):
        body = re.sub(r"[^;{}]*\{[^{}]*\}", "", body)
    return [" ".join(d.split()) + ";" for d in body.split(";") if d.strip()]


def _site(deploy: Deploy, name: str = "erp.example.com") -> str:
    return render_nginx_site(deploy, name, "/etc/odoo-droplet/tls/fullchain.pem", "/etc/odoo-droplet/tls/privkey.pem")


@dataclasses.dataclass
class Servers:
    plain: str  # the site on 80: ACME and the redirect
    tls: str  # the site on 443: the proxy to Odoo
    refusing: list[str]  # the default servers that refuse other names (a domain is configured)


def _servers(text: str) -> Servers:
    servers = [body for _, body in _blocks(text, "server")]
    plain = [b for b in servers if any(d.startswith("listen 80") for d in _directives(b)) and "return 444;" not in _directives(b)]
    tls = [b for b in servers if any(d.startswith("ssl_certificate ") for d in _directives(b))]
    refusing = [b for b in servers if "return 444;" in _directives(b)]
    assert len(plain) == 1 and len(tls) == 1 and len(servers) == 2 + len(refusing), servers
    return Servers(plain[0], tls[0], refusing)


def _listen(body: str) -> str:
    (listen,) = [d for d in _directives(body) if d.startswith("listen ")]
    return listen


@pytest.mark.parametrize("pg,redis,domain", MATRIX)
def test_every_proxied_location_carries_the_forwarding_headers(pg, redis, domain):
    name = domain or "203.0.113.10"
    tls = _servers(_site(_deploy(pg, redis, domain), name)).tls
    locations = dict(_blocks(tls, "location"))
    proxied = {h: b for h, b in locations.items() if any(d.startswith("proxy_pass ") for d in _directives(b))}
    assert set(proxied) == {"location /websocket", "location /web/static/", "location /"}
    for header, body in proxied.items():
        directives = _directives(body)
        for line in _forwarded(domain):
            assert line in directives, f"{header} lacks {line}"
        if domain:  # nothing the client sent as Host reaches Odoo
            assert not any("$host" in d or "$http_host" in d for d in directives), header
    assert f"server_name {name};" in _directives(tls)


def test_with_a_domain_other_names_are_refused_on_80_and_443():
    site = _servers(_site(_deploy("selfhost", False, "erp.example.com")))
    assert len(site.refusing) == 2
    by_port = {_listen(b).split()[1]: _directives(b) for b in site.refusing}
    assert set(by_port) == {"80", "443"}
    assert "listen 80 default_server;" in by_port["80"]
    assert "listen 443 ssl http2 default_server;" in by_port["443"]
    assert "ssl_reject_handshake on;" in by_port["443"]  # no certificate shown to another name
    for directives in by_port.values():
        assert "server_name _;" in directives and "return 444;" in directives
        assert not any(d.startswith(("proxy_pass", "ssl_certificate", "location")) for d in directives)
    # The site itself is not the default: only its own name reaches it.
    assert _listen(site.plain) == "listen 80;" and _listen(site.tls) == "listen 443 ssl http2;"
    assert ["return 301 https://$server_name$request_uri;"] == _directives(dict(_blocks(site.plain, "location"))["location /"])


def test_without_a_domain_the_site_answers_any_name():
    """A droplet reached by its IP (as one made from the console): the site is the default server."""
    text = _site(_deploy("selfhost", False, None), "_")
    site = _servers(text)
    assert site.refusing == [] and "ssl_reject_handshake" not in text and "444" not in text
    assert _listen(site.plain) == "listen 80 default_server;"
    assert _listen(site.tls) == "listen 443 ssl http2 default_server;"
    assert ["return 301 https://$host$request_uri;"] == _directives(dict(_blocks(site.plain, "location"))["location /"])


def test_websocket_goes_to_the_gevent_port_with_upgrade():
    text = _site(Deploy())
    assert "map $http_upgrade $connection_upgrade {" in text
    ((_, map_body),) = _blocks(text, "map")
    assert "default upgrade;" in _directives(map_body)
    assert "'' close;" in _directives(map_body)
    upstreams = {h: _directives(b) for h, b in _blocks(text, "upstream")}
    assert upstreams == {
        "upstream odoo_http": ["server 127.0.0.1:8069;"],
        "upstream odoo_gevent": ["server 127.0.0.1:8072;"],
    }
    ws = _directives(dict(_blocks(_servers(text).tls, "location"))["location /websocket"])
    assert "proxy_pass http://odoo_gevent;" in ws
    assert "proxy_http_version 1.1;" in ws
    assert "proxy_set_header Upgrade $http_upgrade;" in ws
    assert "proxy_set_header Connection $connection_upgrade;" in ws
    assert "longpolling" not in text  # gone since Odoo 16; 8072 only speaks /websocket


def test_tls_server_settings():
    tls = _servers(_site(Deploy())).tls
    d = _directives(tls)
    for line in [
        "ssl_certificate /etc/odoo-droplet/tls/fullchain.pem;",
        "ssl_certificate_key /etc/odoo-droplet/tls/privkey.pem;",
        "proxy_read_timeout 720s;",
        "proxy_connect_timeout 60s;",
        "proxy_send_timeout 600s;",
        "client_max_body_size 64m;",
        "gzip on;",
    ]:
        assert line in d, line
    gzip_types = next(x for x in d if x.startswith("gzip_types ")).split()
    assert {"text/css", "application/javascript", "application/json"} <= set(gzip_types)
    locations = dict(_blocks(tls, "location"))
    static = _directives(locations["location /web/static/"])
    assert "proxy_pass http://odoo_http;" in static
    assert any(x.startswith("expires ") for x in static)
    assert "proxy_pass http://odoo_http;" in _directives(locations["location /"])


def _tls_settings(body: str) -> dict[str, str]:
    return {d.split()[0]: d for d in _directives(body) if d.startswith("ssl_") and not d.startswith("ssl_certificate")}


@pytest.mark.parametrize("domain", ["erp.example.com", None])
def test_mozilla_intermediate_tls_in_every_server_on_443(domain):
    """The same TLS settings in each 443 server: OpenSSL settles the version before SNI picks a server."""
    text = _site(_deploy("selfhost", False, domain), domain or "_")
    site = _servers(text)
    on_443 = [site.tls] + [b for b in site.refusing if "443" in _listen(b)]
    assert len(on_443) == (2 if domain else 1)
    settings = _tls_settings(site.tls)
    for body in on_443:
        got = _tls_settings(body)
        got.pop("ssl_reject_handshake", None)
        assert got == settings
    assert settings["ssl_protocols"] == "ssl_protocols TLSv1.2 TLSv1.3;"
    assert settings["ssl_prefer_server_ciphers"] == "ssl_prefer_server_ciphers off;"
    assert settings["ssl_session_tickets"] == "ssl_session_tickets off;"
    assert "ssl_dhparam" not in settings  # ECDHE only: no finite-field DH to parameterise


def test_the_tls12_cipher_list_is_ecdhe_with_aead_only():
    """The list as OpenSSL itself expands it: forward secrecy by ECDHE, AES-GCM or ChaCha20 only."""
    tls = _servers(_site(Deploy())).tls
    (line,) = [d for d in _directives(tls) if d.startswith("ssl_ciphers ")]
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.set_ciphers(line.split()[1].rstrip(";"))
    tls12 = [c for c in ctx.get_ciphers() if c["protocol"] == "TLSv1.2"]
    assert len(tls12) == 6
    for cipher in tls12:
        assert cipher["kea"] == "kx-ecdhe" and cipher["aead"], cipher["name"]
        assert cipher["symmetric"] in {"aes-128-gcm", "aes-256-gcm", "chacha20-poly1305"}, cipher["name"]
        assert cipher["name"].startswith("ECDHE-") and not re.search(r"CBC|CAMELLIA|ARIA", cipher["name"]), cipher


@pytest.mark.parametrize("tls", ["letsencrypt", "self-signed"])
def test_security_headers_on_every_answer_and_hsts_only_with_a_real_certificate(tls):
    deploy = dataclasses.replace(Deploy(), edge=EdgeSpec(domain="erp.example.com", tls=tls))
    site = _servers(_site(deploy))
    tls_directives = _directives(site.tls)
    for line in SECURITY_HEADERS:
        assert line in tls_directives, line
        assert line in _directives(site.plain), line  # the redirect on 80 carries them too
    assert (HSTS in tls_directives) == (tls == "letsencrypt")
    assert "Strict-Transport-Security" not in site.plain  # never over plain HTTP (RFC 6797 7.2)
    # nginx inherits add_header into a location only when the location has none of its own.
    for header, body in _blocks(site.tls, "location") + _blocks(site.plain, "location"):
        own = [d for d in _directives(body) if d.startswith("add_header ")]
        assert not own or set(SECURITY_HEADERS) <= set(own), f"{header} would drop the server's headers"


@pytest.mark.parametrize("domain", ["erp.example.com", None])
def test_cookies_secure_and_no_version_in_server_header(domain):
    text = _site(_deploy("selfhost", False, domain), domain or "_")
    site = _servers(text)
    assert "proxy_cookie_flags ~ secure samesite=lax;" in _directives(site.tls)
    for body in [site.plain, site.tls, *site.refusing]:
        assert "server_tokens off;" in _directives(body)
    for header in ("X-Content-Type-Options", "Referrer-Policy", "Strict-Transport-Security"):
        assert f"proxy_hide_header {header};" in _directives(site.tls)  # sent once, by the edge


@pytest.mark.parametrize("path", DATABASE_MANAGER)
def test_database_manager_routes_are_404_at_the_edge(path):
    locations = {h: _directives(b) for h, b in _blocks(_servers(_site(Deploy())).tls, "location")}
    assert locations[f"location = {path}"] == ["return 404;"]
    assert locations[f"location ^~ {path}/"] == ["return 404;"]  # ^~: no regex location can take it back


def test_port_80_serves_acme_and_redirects_the_rest():
    text = render_nginx_site(Deploy(), "erp.example.com", "/c.pem", "/k.pem", acme_webroot="/srv/acme/")
    plain = _servers(text).plain
    locations = {h: _directives(b) for h, b in _blocks(plain, "location")}
    assert "root /srv/acme;" in locations["location ^~ /.well-known/acme-challenge/"]
    assert locations["location /"][0].startswith("return 301 https://")
    assert not any(d.startswith("proxy_pass") for d in _directives(plain))


def test_ports_and_addresses_are_parameters():
    deploy = _deploy("selfhost", False, "odoo.test")
    text = render_nginx_site(
        deploy,
        "odoo.test",
        "/c.pem",
        "/k.pem",
        upstream_host="127.0.0.2",
        http_port=18069,
        gevent_port=18072,
        listen_http=8080,
        listen_https=8443,
        listen_address="127.0.0.1",
    )
    assert "listen 127.0.0.1:8080;" in text and "listen 127.0.0.1:8443 ssl http2;" in text
    assert "listen 127.0.0.1:8080 default_server;" in text and "listen 127.0.0.1:8443 ssl http2 default_server;" in text
    assert "server 127.0.0.2:18069;" in text and "server 127.0.0.2:18072;" in text
    assert not re.search(r"listen (80|443)\b", text)


@pytest.mark.parametrize("name", ["a.example;", "a b", "x{", "$host", "a'b"])
def test_values_that_would_inject_directives_are_refused(name):
    with pytest.raises(ValueError):
        render_nginx_site(Deploy(), name, "/c.pem", "/k.pem")
    with pytest.raises(ValueError):
        render_nginx_site(Deploy(), "ok.example", f"/c{name}.pem", "/k.pem")
