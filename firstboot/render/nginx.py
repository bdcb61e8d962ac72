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

The hardened edge (DESIGN.md section 8, issue 9):
- TLS per Mozilla's "intermediate" server-side guidelines: TLS 1.2 and 1.3 only; for 1.2 only ECDHE
  key exchange with AES-GCM or ChaCha20-Poly1305 (no static RSA, no CBC, no DHE, so no dhparam);
  the client's cipher order (`ssl_prefer_server_ciphers off`), no session tickets. The same settings
  are repeated in every server on 443: OpenSSL picks the protocol version before nginx has switched
  to the server named by SNI, so the default server's settings are the ones a client negotiates.
- With a domain configured, a `default_server` on 80 and on 443 refuses every other name: 444 (the
  connection closed without an answer) and, on 443, `ssl_reject_handshake` (no certificate shown).
  Odoo then only ever sees `Host: <domain>`, and Host/X-Forwarded-Host are set from `$server_name`,
  never copied from the client. Without a domain (a droplet reached by its IP, as one made from the
  console) the site itself is the default server and answers any name, as before.
- Security headers on every answer (`always`: 404, 502 and redirects too): nosniff, Referrer-Policy,
  `Content-Security-Policy: frame-ancestors 'self'`, and HSTS when the certificate is a real one
  (`tls: letsencrypt`). nginx drops the server's add_header in a location that has its own, so a
  location that ever adds one must repeat the whole set (`_security_headers`; the unit test checks).
- Cookies from Odoo get `Secure` and `SameSite=Lax` (`proxy_cookie_flags`, nginx >= 1.19.3; Debian
  12 has 1.22); `server_tokens off` keeps the version out of `Server:` and error pages.
- Odoo's database manager is closed at the edge: /web/database, /web/database/*, /xmlrpc/db and
  /xmlrpc/2/db (with their /... forms) are 404 from nginx and never reach Odoo. The `db` service
  is also reachable as JSON-RPC (`/jsonrpc` with `"service": "db"`), which a path cannot tell apart
  from the external API; there Odoo's own guard holds (with list_db = False it refuses every
  management method) - README.md, "The edge".
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

# Mozilla's "intermediate" configuration (ssl-config.mozilla.org, guidelines 5.7), its ECDHE suites only.
TLS_PROTOCOLS = "TLSv1.2 TLSv1.3"
TLS12_CIPHERS = (
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"
)
TLS_CURVES = "X25519:prime256v1:secp384r1"

HSTS_MAX_AGE = 31536000  # one year; without includeSubDomains: other names of the zone are not ours to pin
SECURITY_HEADERS = (
    ("X-Content-Type-Options", '"nosniff"'),
    ("Referrer-Policy", '"strict-origin-when-cross-origin"'),
    ("Content-Security-Policy", "\"frame-ancestors 'self'\""),
)
# Headers the edge owns: Odoo's copy (its attachments carry nosniff) is dropped so each is sent once.
EDGE_OWNED_HEADERS = ("X-Content-Type-Options", "Referrer-Policy", "Strict-Transport-Security")
COOKIE_FLAGS = "~ secure samesite=lax"  # every cookie Odoo sets (session_id, frontend_lang, ...)

# Odoo's database manager: web pages under /web/database/ and the `db` XML-RPC service (v1 and v2).
DATABASE_MANAGER_PATHS = ("/web/database", "/xmlrpc/db", "/xmlrpc/2/db")

# What may appear in a directive argument we write unquoted: no whitespace, ';', '{', '}', quotes or
# '$' (nginx would read a variable), so a setting cannot inject directives.
_SAFE_ARG = re.compile(r"^[A-Za-z0-9_.:/*\[\]@+-]+$")


def _arg(name: str, value: str) -> str:
    if not _SAFE_ARG.match(value):
        raise ValueError(f"nginx site: {name} {value!r} contains characters nginx would misread")
    return value


def _forwarded_headers(indent: str, host: str) -> list[str]:
    """The headers every proxied location sets (repeated per location: see the module docstring).
    `host` is `$server_name` when a domain is configured (never the client's Host), `$host` otherwise."""
    return [
        f"{indent}proxy_set_header Host {host};",
        f"{indent}proxy_set_header X-Forwarded-Host {host};",
        f"{indent}proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
        f"{indent}proxy_set_header X-Forwarded-Proto https;",
        f"{indent}proxy_set_header X-Real-IP $remote_addr;",
    ]


def _security_headers(indent: str, hsts: bool) -> list[str]:
    """The response headers of every answer. Written at server level; a location with an add_header
    of its own must carry all of them again (nginx inherits add_header only when a level has none)."""
    lines = [f"{indent}add_header {name} {value} always;" for name, value in SECURITY_HEADERS]
    if hsts:
        # Only with a publicly trusted certificate: HSTS behind a self-signed one would lock users out.
        lines.append(f'{indent}add_header Strict-Transport-Security "max-age={HSTS_MAX_AGE}" always;')
    return lines


def _tls_settings(indent: str) -> list[str]:
    return [
        f"{indent}ssl_protocols {TLS_PROTOCOLS};",
        f"{indent}ssl_ciphers {TLS12_CIPHERS};",
        f"{indent}ssl_ecdh_curve {TLS_CURVES};",
        f"{indent}ssl_prefer_server_ciphers off;",
        f"{indent}ssl_session_cache shared:odoo_tls:10m;",
        f"{indent}ssl_session_timeout 1d;",
        f"{indent}ssl_session_tickets off;",
    ]


def _listen(address: str | None, port: int, extra: str = "") -> str:
    where = f"{_arg('listen address', address)}:{port}" if address else str(port)
    return f"    listen {where}{extra};"


def _closed_database_manager() -> list[str]:
    lines = ["    # Odoo's database manager (create, drop, backup, restore) is not served to the internet."]
    for path in DATABASE_MANAGER_PATHS:
        lines += [f"    location = {path} {{", "        return 404;", "    }",
                  f"    location ^~ {path}/ {{", "        return 404;", "    }"]
    return lines


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
    """The whole site file. `listen_address` (default: all addresses) lets tests bind loopback only.
    With `deploy.edge.domain` set, names other than `server_name` are refused (module docstring)."""
    name = _arg("server_name", server_name)
    cert, key = _arg("cert_path", cert_path), _arg("key_path", key_path)
    webroot = _arg("acme_webroot", acme_webroot.rstrip("/") or "/")
    upstream = _arg("upstream_host", upstream_host)
    strict = bool(deploy.edge.domain)
    hsts = deploy.edge.tls == "letsencrypt"
    host = "$server_name" if strict else "$host"
    # Without a domain the site answers any name: it is the default server itself.
    default = "" if strict else " default_server"
    i1, i2 = "    ", "        "  # server bodies, location bodies

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
    ]
    if strict:
        lines += [
            f"# Any name but {name}: no answer on 80 (444 closes the connection), no handshake on 443.",
            "server {",
            _listen(listen_address, listen_http, " default_server"),
            "    server_name _;",
            "    server_tokens off;",
            "    return 444;",
            "}",
            "",
            "server {",
            _listen(listen_address, listen_https, " ssl http2 default_server"),
            "    server_name _;",
            "    server_tokens off;",
            "    ssl_reject_handshake on;",
            *_tls_settings(i1),
            "    # A client that did the handshake for our name and then asks for another Host lands here.",
            "    return 444;",
            "}",
            "",
        ]
    lines += [
        "server {",
        _listen(listen_address, listen_http, default),
        f"    server_name {name};",
        "    server_tokens off;",
        *_security_headers(i1, hsts=False),  # HSTS is only ever sent over https
        "",
        "    # Let's Encrypt HTTP-01 challenges (certbot --webroot) are answered over plain HTTP.",
        "    location ^~ /.well-known/acme-challenge/ {",
        f"        root {webroot};",
        "        default_type text/plain;",
        "        try_files $uri =404;",
        "    }",
        "",
        "    location / {",
        f"        return 301 https://{host}$request_uri;",
        "    }",
        "}",
        "",
        "server {",
        _listen(listen_address, listen_https, f" ssl http2{default}"),
        f"    server_name {name};",
        "    server_tokens off;",
        "",
        f"    ssl_certificate {cert};",
        f"    ssl_certificate_key {key};",
        *_tls_settings(i1),
        "",
        *_security_headers(i1, hsts=hsts),
        *(f"    proxy_hide_header {h};" for h in EDGE_OWNED_HEADERS),
        f"    proxy_cookie_flags {COOKIE_FLAGS};",
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
        *_closed_database_manager(),
        "",
        "    # Realtime (bus, live chat, notifications): websocket to the gevent port.",
        "    location /websocket {",
        "        proxy_pass http://odoo_gevent;",
        "        proxy_http_version 1.1;",
        "        proxy_set_header Upgrade $http_upgrade;",
        "        proxy_set_header Connection $connection_upgrade;",
        *_forwarded_headers(i2, host),
        "    }",
        "",
        "    # Static assets: cached by browsers.",
        "    location /web/static/ {",
        "        proxy_pass http://odoo_http;",
        *_forwarded_headers(i2, host),
        "        proxy_buffering on;",
        f"        expires {STATIC_EXPIRES_SECONDS};",
        "    }",
        "",
        "    location / {",
        "        proxy_pass http://odoo_http;",
        *_forwarded_headers(i2, host),
        "    }",
        "}",
    ]
    return "\n".join(lines) + "\n"
