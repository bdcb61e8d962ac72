"""The nginx site, block by block: what Odoo 18 needs in each location (the live proof is in
tests/integration/test_nginx_live.py)."""

from __future__ import annotations

import dataclasses
import itertools
import re

import pytest

from firstboot.config import Deploy, EdgeSpec, PostgresSpec, RedisSpec
from firstboot.render.nginx import render_nginx_site

FORWARDED = [
    "proxy_set_header Host $host;",
    "proxy_set_header X-Forwarded-Host $host;",
    "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
    "proxy_set_header X-Forwarded-Proto https;",
    "proxy_set_header X-Real-IP $remote_addr;",
]


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


def _servers(text: str) -> tuple[str, str]:
    servers = _blocks(text, "server")
    plain = [body for _, body in servers if "listen 80;" in _directives(body)]
    tls = [body for _, body in servers if "listen 443 ssl http2;" in _directives(body)]
    assert len(plain) == 1 and len(tls) == 1, servers
    return plain[0], tls[0]


@pytest.mark.parametrize("pg,redis,domain", MATRIX)
def test_every_proxied_location_carries_the_forwarding_headers(pg, redis, domain):
    name = domain or "203.0.113.10"
    _, tls = _servers(_site(_deploy(pg, redis, domain), name))
    locations = dict(_blocks(tls, "location"))
    assert set(locations) == {"location /websocket", "location /web/static/", "location /"}
    for header, body in locations.items():
        directives = _directives(body)
        assert any(d.startswith("proxy_pass ") for d in directives), header
        for line in FORWARDED:
            assert line in directives, f"{header} lacks {line}"
    assert f"server_name {name};" in _directives(tls)


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
    _, tls = _servers(text)
    ws = _directives(dict(_blocks(tls, "location"))["location /websocket"])
    assert "proxy_pass http://odoo_gevent;" in ws
    assert "proxy_http_version 1.1;" in ws
    assert "proxy_set_header Upgrade $http_upgrade;" in ws
    assert "proxy_set_header Connection $connection_upgrade;" in ws
    assert "longpolling" not in text  # gone since Odoo 16; 8072 only speaks /websocket


def test_tls_server_settings():
    _, tls = _servers(_site(Deploy()))
    d = _directives(tls)
    for line in [
        "ssl_protocols TLSv1.2 TLSv1.3;",
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


def test_port_80_serves_acme_and_redirects_the_rest():
    text = render_nginx_site(Deploy(), "erp.example.com", "/c.pem", "/k.pem", acme_webroot="/srv/acme/")
    plain, _ = _servers(text)
    locations = {h: _directives(b) for h, b in _blocks(plain, "location")}
    assert "root /srv/acme;" in locations["location ^~ /.well-known/acme-challenge/"]
    assert locations["location /"] == ["return 301 https://$host$request_uri;"]
    assert not any(d.startswith("proxy_pass") for d in _directives(plain))


def test_ports_and_addresses_are_parameters():
    text = render_nginx_site(
        Deploy(),
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
    assert "server 127.0.0.2:18069;" in text and "server 127.0.0.2:18072;" in text


def test_hsts_only_with_a_publicly_trusted_certificate():
    assert "Strict-Transport-Security" in _site(_deploy("selfhost", True, "erp.example.com"))
    assert "Strict-Transport-Security" not in _site(_deploy("selfhost", True, None))


@pytest.mark.parametrize("name", ["a.example;", "a b", "x{", "$host", "a'b"])
def test_values_that_would_inject_directives_are_refused(name):
    with pytest.raises(ValueError):
        render_nginx_site(Deploy(), name, "/c.pem", "/k.pem")
    with pytest.raises(ValueError):
        render_nginx_site(Deploy(), "ok.example", f"/c{name}.pem", "/k.pem")
