"""The nginx site in front of Odoo 18 (/etc/nginx/sites-available/odoo.conf). Pure.

The file is included in nginx's `http` context (Debian's nginx.conf includes sites-enabled/*), so it
carries its own `map` and upstreams. What Odoo 18 needs from its proxy (DESIGN.md section 4):
- /websocket goes to the gevent port (8072) over HTTP/1.1 with Upgrade and a map-based Connection;
  there is no /longpolling route any more (gone since Odoo 16).
- X-Forwarded-Host/For/Proto and X-Real-IP in EVERY location: a proxy_set_header inside a location
  drops all the server-level ones, so each location gets the whole block (`_forwarded_headers`).
  Odoo's proxy_mode applies X-Forwarded-* only when X-Forwarded-Host is present.
- Timeouts that match odoo.conf: nginx waits 720 s for long reports and Odoo's limit_time_real is
  not shorter (firstboot/render/odoo_conf.py).
"""

from __future__ import annotations

import re

from firstboot.config import Deploy
from firstboot.render.odoo_conf import (
    GEVENT_PORT,
    HTTP_PORT,
    NGINX_CONNECT_TIMEOUT,
    NGINX_READ_TIMEOUT,
    NGINX_SEND_TIMEOUT,
)

CLIENT_MAX_BODY_SIZE = "64m"
STATIC_EXPIRES_SECONDS = 864000  # Odoo's own deployment docs: /web/static/ cached for 10 days
GZIP_TYPES = (
    "text/css text/plain text/xml text/javascript application/javascript application/json "
    "application/xml application/rss+xml image/svg+xml"
)

# What may appear in a directive argument we write unquoted: no whitespace, ';', '{', '}', quotes or
# '$' (nginx would read a variable), so a setting cannot inject directives.
_SAFE_ARG = re.compile(r"^[A-Za-z0-9_.:/*\[\]@+-]+$")


def _arg(name: str, value: str) -> str:
    if not _SAFE_ARG.match(value):
        raise ValueError(f"nginx site: {name} {value!r} contains characters nginx would misread")
    return value


def _forwarded_headers(indent: str) -> list[str]:
    """The headers every proxied location sets (repeated per location: see the module docstring)."""
    return [
        f"{indent}proxy_set_header Host $host;",
        f"{indent}proxy_set_header X-Forwarded-Host $host;",
        f"{indent}proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
        f"{indent}proxy_set_header X-Forwarded-Proto https;",
        f"{indent}proxy_set_header X-Real-IP $remote_addr;",
    ]


def _listen(address: str | None, port: int, extra: str = "") -> str:
    where = f"{_arg('listen address', address)}:{port}" if address else str(port)
    return f"    listen {where}{extra};"


def render_nginx_site(
    deploy: Deploy,
    server_name: str,
    cert_path: str,
    key_path: str,
    acme_webroot: str = "/var/www/letsencrypt",
    upstream_host: str = "127.0.0.1",
    http_port: int = HTTP_PORT,
    gevent_port: int = GEVENT_PORT,
    listen_http: int = 80,
    listen_https: int = 443,
    listen_address: str | None = None,
) -> str:
    """The whole site file. `listen_address` (default: all addresses) lets tests bind loopback only."""
    name = _arg("server_name", server_name)
    cert, key = _arg("cert_path", cert_path), _arg("key_path", key_path)
    webroot = _arg("acme_webroot", acme_webroot.rstrip("/") or "/")
    upstream = _arg("upstream_host", upstream_host)
    i2 = "        "  # location bodies

    lines = [
        f"# nginx site for {deploy.project} {deploy.ship_version} (Odoo 18), rendered by odoo-droplet.",
        "# Included in nginx's http context. The agent rewrites it: edit the settings, not this file.",
        "",
        "# Connection: upgrade when the client asks for a websocket, close otherwise.",
        "map $http_upgrade $connection_upgrade {",
        "    default upgrade;",
        "    ''      close;",
        "}",
        "",
        "upstream odoo_http {",
        f"    server {upstream}:{http_port};",
        "}",
        "",
        "# Odoo's gevent process (workers > 0): /websocket lives here, not on the HTTP port.",
        "upstream odoo_gevent {",
        f"    server {upstream}:{gevent_port};",
        "}",
        "",
        "server {",
        _listen(listen_address, listen_http),
        f"    server_name {name};",
        "",
        "    # Let's Encrypt HTTP-01 challenges (certbot --webroot) are answered over plain HTTP.",
        "    location ^~ /.well-known/acme-challenge/ {",
        f"        root {webroot};",
        "        default_type text/plain;",
        "        try_files $uri =404;",
        "    }",
        "",
        "    location / {",
        "        return 301 https://$host$request_uri;",
        "    }",
        "}",
        "",
        "server {",
        _listen(listen_address, listen_https, " ssl http2"),
        f"    server_name {name};",
        "",
        f"    ssl_certificate {cert};",
        f"    ssl_certificate_key {key};",
        "    ssl_protocols TLSv1.2 TLSv1.3;",
        "    ssl_prefer_server_ciphers off;",
        "    ssl_session_cache shared:odoo_tls:10m;",
        "    ssl_session_timeout 1d;",
        "    ssl_session_tickets off;",
    ]
    if deploy.edge.tls == "letsencrypt":
        # Only with a publicly trusted certificate: HSTS behind a self-signed one would lock users out.
        lines.append('    add_header Strict-Transport-Security "max-age=31536000" always;')
    lines += [
        "",
        "    # Long reports and imports: Odoo's limit_time_real is not shorter than the read timeout.",
        f"    proxy_read_timeout {NGINX_READ_TIMEOUT}s;",
        f"    proxy_connect_timeout {NGINX_CONNECT_TIMEOUT}s;",
        f"    proxy_send_timeout {NGINX_SEND_TIMEOUT}s;",
        f"    client_max_body_size {CLIENT_MAX_BODY_SIZE};",
        "    proxy_redirect off;",
        "",
        "    gzip on;",
        "    gzip_vary on;",
        "    gzip_proxied any;",
        "    gzip_min_length 1024;",
        f"    gzip_types {GZIP_TYPES};",
        "",
        "    # Realtime (bus, live chat, notifications): websocket to the gevent port.",
        "    location /websocket {",
        "        proxy_pass http://odoo_gevent;",
        "        proxy_http_version 1.1;",
        "        proxy_set_header Upgrade $http_upgrade;",
        "        proxy_set_header Connection $connection_upgrade;",
        *_forwarded_headers(i2),
        "    }",
        "",
        "    # Static assets: cached by browsers.",
        "    location /web/static/ {",
        "        proxy_pass http://odoo_http;",
        *_forwarded_headers(i2),
        "        proxy_buffering on;",
        f"        expires {STATIC_EXPIRES_SECONDS};",
        "    }",
        "",
        "    location / {",
        "        proxy_pass http://odoo_http;",
        *_forwarded_headers(i2),
        "    }",
        "}",
    ]
    return "\n".join(lines) + "\n"
