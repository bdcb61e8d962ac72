#!/usr/bin/env python3
"""odoo-droplet local stand-in for the official `odoo:18.0` image's `odoo` command (rehearsal and tests only).

No registry that carries the real Odoo image is reachable from the machines this project is developed and
tested on, so the local cloud runs this small program under the official image's interface instead: same
user, ports, volumes, ODOO_RC, entrypoint contract and CLI flags the deploy uses. It answers what a deploy
touches, the way Odoo 18.0 does (checked against the 18.0 source; see DESIGN.md section 4):

- `odoo -d DB -i MODS --stop-after-init`: creates DB when missing (as `odoo/cli/server.py` does for `-d`),
  writes real rows to `ir_module_module` (name, state, latest_version, ...) in the real PostgreSQL, warns
  about unknown module names and exits 0 (Odoo ignores them); a failed install exits 255.
- server mode: `/web/health` (200 even when PostgreSQL is down; `?db_server_status=1` checks it: 500 with
  `"status": "fail", "db_server_status": false`), `/web/login` (200 with the login form when the database
  is selected and its `base` module installed; 303 to the database selector when no database can be chosen,
  PostgreSQL down or the database missing included; 500 when the database answers but base is not installed),
  `/web/login?db=NAME` (200 when NAME is the session's or the only database; else 302 setting the session's
  database, then 200), `/websocket` (RFC 6455 101 on the gevent port when workers > 0; 400 "Empty or missing
  header(s): origin" without Origin; 500 "Couldn't bind the websocket" on the HTTP port when workers > 0;
  served on the HTTP port when workers == 0, with nothing on the gevent port), `/longpolling/poll` 404.

Simplifications (documented, not hidden): one process with threads instead of prefork workers; only the
module table of a database is created; routes other than those above answer 404; POST /web/login never logs in.

Misbehaviour is chosen by ODL_STANDIN_BEHAVIOUR, baked into each image tag at build time:
good | crashloop | neverready | failinstall | nogevent | slowstart.

Invoked as `wait-for-psql.py` (argv[0]) it is the official image's database wait script.
"""

from __future__ import annotations

import argparse
import base64
import configparser
import hashlib
import html
import json
import logging
import os
import re
import secrets
import signal
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

SERVER_VERSION = "18.0"
MODULE_VERSION = "18.0.1.0"
WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
WS_REQUIRED_HEADERS = ("connection", "host", "sec-websocket-key", "sec-websocket-version", "upgrade", "origin")
BEHAVIOURS = ("good", "crashloop", "neverready", "failinstall", "nogevent", "slowstart")

# Real Odoo 18.0 Community module names (a subset of the addons shipped with the 18.0 image).
KNOWN_MODULES = (
    "base",
    "web",
    "bus",
    "base_setup",
    "base_import",
    "web_tour",
    "web_editor",
    "html_editor",
    "auth_signup",
    "mail",
    "contacts",
    "calendar",
    "resource",
    "uom",
    "product",
    "analytic",
    "utm",
    "digest",
    "portal",
    "phone_validation",
    "sms",
    "iap",
    "http_routing",
    "sales_team",
    "payment",
    "account",
    "account_payment",
    "sale",
    "sale_management",
    "purchase",
    "stock",
    "stock_account",
    "sale_stock",
    "purchase_stock",
    "crm",
    "project",
    "hr",
    "hr_timesheet",
    "hr_holidays",
    "hr_expense",
    "website",
    "website_sale",
    "mrp",
    "point_of_sale",
    "l10n_generic_coa",
    "fleet",
    "lunch",
    "maintenance",
    "survey",
    "event",
    "mass_mailing",
    "note",
    "im_livechat",
)
# Modules installed with base on a new database (auto_install with only base-level dependencies).
BASE_AUTO_INSTALL = ("base", "web", "bus", "base_setup", "base_import", "web_tour", "html_editor", "auth_signup")
# Enough of the real dependency graph that `-i sale` leaves what Odoo would leave installed.
DEPENDS: dict[str, tuple[str, ...]] = {
    "mail": ("base", "web", "bus"),
    "contacts": ("mail",),
    "calendar": ("mail",),
    "product": ("mail", "uom"),
    "sales_team": ("mail",),
    "account": ("product", "analytic", "portal", "digest"),
    "account_payment": ("account", "payment"),
    "payment": ("portal",),
    "portal": ("mail", "http_routing"),
    "sale": ("sales_team", "account_payment", "utm"),
    "sale_management": ("sale", "digest"),
    "purchase": ("account",),
    "stock": ("product",),
    "crm": ("sales_team", "calendar", "utm", "contacts", "phone_validation"),
    "project": ("analytic", "portal", "resource", "digest"),
    "hr": ("resource", "mail", "contacts", "digest", "phone_validation"),
    "website": ("web_editor", "http_routing", "portal"),
}

_log = logging.getLogger("odoo")


# --------------------------------------------------------------------------------------------- configuration


def _truthy(value: object) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("1", "true", "yes", "on", "t")


def _as_int(value: object) -> int:
    """A numeric setting: a string from the config file or the command line, an int once loaded."""
    if isinstance(value, (int, float, str)):
        return int(value)
    raise TypeError(f"not a number: {value!r}")


def build_parser() -> argparse.ArgumentParser:
    """The `odoo` flags a deploy uses, spelled as Odoo 18 accepts them (underscore and dash forms)."""
    p = argparse.ArgumentParser(prog="odoo", add_help=True)
    p.add_argument("-c", "--config", dest="config")
    p.add_argument("-d", "--database", dest="db_name")
    p.add_argument("-i", "--init", dest="init")
    p.add_argument("-u", "--update", dest="update")
    p.add_argument("--stop-after-init", dest="stop_after_init", action="store_true")
    p.add_argument("--db_host", "--db-host", dest="db_host")
    p.add_argument("--db_port", "--db-port", dest="db_port")
    p.add_argument("--db_user", "--db-user", "-r", dest="db_user")
    p.add_argument("--db_password", "--db-password", "-w", dest="db_password")
    p.add_argument("--db-filter", "--db_filter", dest="dbfilter")
    p.add_argument("--no-database-list", dest="list_db", action="store_false", default=None)
    p.add_argument("-p", "--http-port", "--http_port", dest="http_port")
    p.add_argument("--http-interface", dest="http_interface")
    p.add_argument("--gevent-port", "--gevent_port", dest="gevent_port")
    p.add_argument("--workers", dest="workers")
    p.add_argument("--proxy-mode", dest="proxy_mode", action="store_true", default=None)
    p.add_argument("--without-demo", dest="without_demo")
    p.add_argument("--data-dir", "-D", dest="data_dir")
    p.add_argument("--addons-path", dest="addons_path")
    p.add_argument("--log-level", dest="log_level")
    p.add_argument("--logfile", dest="logfile")
    p.add_argument("--max-cron-threads", dest="max_cron_threads")
    p.add_argument("--load-language", dest="load_language")
    p.add_argument("--version", action="version", version=f"Odoo Server {SERVER_VERSION}")
    return p


DEFAULTS: dict[str, object] = {
    "db_host": None,
    "db_port": 5432,
    "db_user": None,
    "db_password": None,
    "db_name": "",
    "dbfilter": "",
    "list_db": True,
    "http_port": 8069,
    "http_interface": "",
    "gevent_port": 8072,
    "workers": 0,
    "proxy_mode": False,
    "data_dir": "/var/lib/odoo",
    "admin_passwd": "admin",
    "logfile": None,
}


def load_config(args: argparse.Namespace, environ: dict[str, str]) -> dict[str, object]:
    """Odoo's precedence: built-in defaults < config file (-c, else $ODOO_RC) < command line."""
    conf: dict[str, object] = dict(DEFAULTS)
    path = args.config or environ.get("ODOO_RC")
    if path and os.path.exists(path):
        cp = configparser.ConfigParser(interpolation=None)
        cp.read(path)
        if cp.has_section("options"):
            for key, value in cp.items("options"):
                # Odoo treats the literal "False"/"None" in a config file as unset.
                conf[key] = None if value in ("False", "None") and key not in ("list_db", "proxy_mode") else value
    for key, value in vars(args).items():
        if key in ("config", "init", "update", "stop_after_init") or value is None:
            continue
        conf[key] = value
    for key in ("db_port", "http_port", "gevent_port", "workers"):
        conf[key] = _as_int(conf[key]) if conf.get(key) not in (None, "") else DEFAULTS[key]
    for key in ("list_db", "proxy_mode"):
        conf[key] = _truthy(conf.get(key))
    conf["db_name"] = conf.get("db_name") or ""
    conf["dbfilter"] = conf.get("dbfilter") or ""
    return conf


def split_modules(value: str | None) -> list[str]:
    return [m.strip() for m in (value or "").split(",") if m.strip()]


def with_dependencies(modules: list[str]) -> list[str]:
    """Modules plus what Odoo would install with them (known dependencies and base's auto-install set)."""
    out: list[str] = list(BASE_AUTO_INSTALL)
    todo = list(modules)
    while todo:
        m = todo.pop()
        if m in out:
            continue
        out.append(m)
        todo.extend(DEPENDS.get(m, ()))
    return out


def handshake_problem(headers: dict[str, str]) -> tuple[int, str] | None:
    """Odoo 18's `WebsocketConnectionHandler._assert_handshake_validity`: None when the handshake is valid."""
    missing = [h for h in WS_REQUIRED_HEADERS if h not in headers]
    if missing:
        return 400, f"Empty or missing header(s): {', '.join(missing)}"
    if headers["upgrade"].lower() != "websocket":
        return 400, "Invalid upgrade header"
    if "upgrade" not in headers["connection"].lower():
        return 400, "Invalid connection header"
    if headers["sec-websocket-version"] != "13":
        return 426, "Upgrade Required"
    try:
        key = base64.b64decode(headers["sec-websocket-key"], validate=True)
    except ValueError:
        return 400, "Sec-WebSocket-Key should be b64 encoded"
    if len(key) != 16:
        return 400, "Sec-WebSocket-Key should be of length 16 once decoded"
    return None


def websocket_accept(key: str) -> str:
    return base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()


def db_filter(dbs: list[str], conf: dict[str, object], host: str) -> list[str]:
    """`odoo.http.db_filter`: dbfilter regex (%h host, %d first domain label), else db_name as the list."""
    if conf["dbfilter"]:
        h = host.partition(":")[0]
        h = h[4:] if h.startswith("www.") else h
        d = h.partition(".")[0]
        pattern = str(conf["dbfilter"]).replace("%h", re.escape(h)).replace("%d", re.escape(d))
        return [db for db in dbs if re.match(pattern, db)]
    if conf["db_name"]:
        exposed = {db.strip() for db in str(conf["db_name"]).split(",")}
        return sorted(exposed.intersection(dbs))
    return list(dbs)


# --------------------------------------------------------------------------------------------- database


def _psycopg2():  # imported lazily so the pure helpers above stay importable without it
    import psycopg2

    return psycopg2


def connect(conf: dict[str, object], dbname: str, timeout: int = 5):
    kw: dict[str, object] = {"dbname": dbname, "connect_timeout": timeout}
    for key, arg in (
        ("db_host", "host"),
        ("db_port", "port"),
        ("db_user", "user"),
        ("db_password", "password"),
        ("db_sslmode", "sslmode"),
    ):
        if conf.get(key) not in (None, ""):
            kw[arg] = conf[key]
    return _psycopg2().connect(**kw)


def list_dbs(conf: dict[str, object]) -> list[str]:
    """`odoo.service.db.list_dbs(force=True)`: with db_name and no dbfilter, db_name without asking PostgreSQL."""
    if not conf["dbfilter"] and conf["db_name"]:
        return sorted(db.strip() for db in str(conf["db_name"]).split(","))
    try:
        conn = connect(conf, "postgres", timeout=3)
    except _psycopg2().Error:
        return []
    try:
        with conn.cursor() as cr:
            cr.execute(
                "SELECT datname FROM pg_database WHERE datdba=(SELECT usesysid FROM pg_user WHERE usename=current_user)"
                " AND NOT datistemplate AND datallowconn AND datname NOT IN ('postgres', 'template0') ORDER BY datname"
            )
            return [r[0] for r in cr.fetchall()]
    finally:
        conn.close()


def database_exists(conf: dict[str, object], name: str) -> bool:
    conn = connect(conf, "postgres")
    try:
        with conn.cursor() as cr:
            cr.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            return cr.fetchone() is not None
    finally:
        conn.close()


def create_database(conf: dict[str, object], name: str) -> bool:
    """`odoo.service.db._create_empty_database`: True when created, False when it already existed."""
    if database_exists(conf, name):
        return False
    conn = connect(conf, "postgres")
    conn.autocommit = True
    try:
        with conn.cursor() as cr:
            cr.execute(f"""CREATE DATABASE "{name}" ENCODING 'unicode' LC_COLLATE 'C' TEMPLATE template0""")
    finally:
        conn.close()
    _log.info("database %s created", name)
    return True


MODULE_TABLE = """
CREATE TABLE IF NOT EXISTS ir_module_module (
    id serial PRIMARY KEY,
    create_uid integer, create_date timestamp without time zone DEFAULT (now() at time zone 'UTC'),
    write_uid integer, write_date timestamp without time zone DEFAULT (now() at time zone 'UTC'),
    website varchar, summary jsonb, name varchar NOT NULL, author varchar, icon varchar,
    state varchar(16), latest_version varchar, shortdesc jsonb, published_version varchar,
    url varchar, sequence integer DEFAULT 100, auto_install boolean DEFAULT false, demo boolean DEFAULT false,
    license varchar(32) DEFAULT 'LGPL-3', application boolean DEFAULT false, to_buy boolean DEFAULT false,
    CONSTRAINT ir_module_module_name_uniq UNIQUE (name)
)"""


def is_initialized(cr) -> bool:
    cr.execute("SELECT to_regclass('public.ir_module_module') IS NOT NULL")
    return bool(cr.fetchone()[0])


def module_states(cr) -> dict[str, str]:
    cr.execute("SELECT name, state FROM ir_module_module")
    return dict(cr.fetchall())


def install_modules(conf: dict[str, object], db: str, init: list[str], update: list[str], fail: bool) -> int:
    """What `odoo -d DB -i MODS` leaves in the database; returns the process exit status."""
    created = create_database(conf, db)
    # As in odoo/cli/server.py: a database created here gets base installed; otherwise only -i/-u touch it.
    update_module = created or bool(init or update)
    conn = connect(conf, db)
    try:
        with conn, conn.cursor() as cr:
            fresh = not is_initialized(cr)
            if not update_module:
                if fresh:
                    _log.error("Database %s not initialized, you can force it with `-i base`", db)
                return 0
            if fresh:
                _log.info("init db")
                cr.execute(MODULE_TABLE)
            # Odoo's `update_list`: every module of the addons path gets a row, `uninstalled` until installed.
            for name in KNOWN_MODULES:
                cr.execute(
                    "INSERT INTO ir_module_module (name, state, latest_version, shortdesc, auto_install)"
                    " VALUES (%s, 'uninstalled', NULL, %s, %s) ON CONFLICT (name) DO NOTHING",
                    (name, json.dumps({"en_US": name.replace("_", " ").title()}), name in BASE_AUTO_INSTALL),
                )
        wanted = split_modules(",".join(init)) + split_modules(",".join(update))
        unknown = [m for m in wanted if m not in KNOWN_MODULES and m != "all"]
        if unknown:
            _log.warning("invalid module names, ignored: %s", ", ".join(unknown))
        to_install = [m for m in init if m in KNOWN_MODULES]
        if fresh:
            to_install = ["base", *to_install]
        targets = with_dependencies(to_install) if to_install else []
        with conn, conn.cursor() as cr:
            states = module_states(cr)
            targets = [m for m in targets if states.get(m) != "installed"]
            if not targets and not update:
                return 0
            cr.execute(
                "UPDATE ir_module_module SET state='to install', write_date=now() WHERE name = ANY(%s)", (targets,)
            )
        if fail:
            _log.error("Failed to load registry")
            print(
                "Traceback (most recent call last):\n"
                '  File "/usr/lib/python3/dist-packages/odoo/modules/loading.py", line 230, in load_module_graph\n'
                'psycopg2.errors.NotNullViolation: null value in column "name" violates not-null constraint'
                " (odoo-droplet stand-in: failinstall tag)",
                file=sys.stderr,
            )
            return 255
        with conn, conn.cursor() as cr:
            for m in targets:
                _log.info("Loading module %s", m)
            cr.execute(
                "UPDATE ir_module_module SET state='installed', latest_version=%s, write_date=now()"
                " WHERE name = ANY(%s)",
                (MODULE_VERSION, targets),
            )
            upd = [m for m in update if m in KNOWN_MODULES]
            cr.execute(
                "UPDATE ir_module_module SET latest_version=%s, write_date=now()"
                " WHERE state='installed' AND name = ANY(%s)",
                (MODULE_VERSION, upd),
            )
        _log.info("Modules loaded.")
        return 0
    finally:
        conn.close()


def registry_state(conf: dict[str, object], db: str) -> tuple[str, str]:
    """What Odoo's `Registry(db)` would do: ("ok", ""), ("unreachable", why) when PostgreSQL or the database
    cannot be reached (Odoo then serves the request without a database), ("broken", why) when the database
    answers but is not initialised or base is not installed (Odoo answers 500)."""
    try:
        conn = connect(conf, db, timeout=3)
    except _psycopg2().Error as e:
        return "unreachable", f"psycopg2.OperationalError: {str(e).strip()}"
    try:
        with conn.cursor() as cr:
            if not is_initialized(cr):
                return "broken", f"Database {db} not initialized, you can force it with `-i base`"
            cr.execute("SELECT state FROM ir_module_module WHERE name='base'")
            row = cr.fetchone()
            if not row or row[0] != "installed":
                return "broken", f"KeyError: 'ir.http' (base module of {db} is not installed)"
            return "ok", ""
    except _psycopg2().Error as e:
        return "broken", str(e).strip()
    finally:
        conn.close()


def db_server_ok(conf: dict[str, object]) -> bool:
    try:
        connect(conf, "postgres", timeout=3).close()
        return True
    except _psycopg2().Error:
        return False


# --------------------------------------------------------------------------------------------- http

LOGIN_PAGE = """<!DOCTYPE html>
<html lang="en-US">
<head><meta charset="utf-8"/><title>Login | Odoo</title>
<meta name="generator" content="Odoo (odoo-droplet local stand-in)"/></head>
<body class="bg-100">
<main class="o_database_list">
<form class="oe_login_form" role="form" action="/web/login" method="post"
      onsubmit="this.action = '/web/login' + location.hash" data-db="{db}">
  <input type="hidden" name="csrf_token" value="{csrf}"/>
  <div class="mb-3 field-login"><label for="login" class="form-label">Email</label>
    <input type="text" name="login" id="login" class="form-control" required="required" autofocus="autofocus"/></div>
  <div class="mb-3"><label for="password" class="form-label">Password</label>
    <input type="password" name="password" id="password" class="form-control" required="required"/></div>
  {error}
  <input type="hidden" name="redirect"/>
  <div class="clearfix oe_login_buttons text-center gap-1 d-grid mb-1 pt-3">
    <button type="submit" class="btn btn-primary">Log in</button></div>
</form>
</main>
</body>
</html>
"""


def error_page(code: int, title: str, text: str) -> bytes:
    return (
        f"<!doctype html>\n<html lang=en>\n<title>{code} {title}</title>\n<h1>{title}</h1>\n"
        f"<p>{html.escape(text)}</p>\n"
    ).encode()


class Server:
    """Shared state of the HTTP threads: configuration, mode and sessions (Odoo keeps them on disk)."""

    def __init__(self, conf: dict[str, object], behaviour: str, prefork: bool) -> None:
        self.conf = conf
        self.behaviour = behaviour
        self.prefork = prefork
        self.sessions: dict[str, str | None] = {}
        self.lock = threading.Lock()


def make_handler(server: Server, evented: bool) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "Werkzeug/2.2.2"
        sys_version = "Python/3.11"

        def log_message(self, fmt: str, *args: object) -> None:
            _log.info("%s - - %s", self.client_address[0], fmt % args)

        # -- plumbing
        def _send(
            self,
            status: int,
            body: bytes,
            ctype: str = "text/html; charset=utf-8",
            headers: dict[str, str] | None = None,
        ) -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _redirect(self, status: int, location: str, headers: dict[str, str] | None = None) -> None:
            body = (
                f"<!doctype html>\n<html lang=en>\n<title>Redirecting...</title>\n<h1>Redirecting...</h1>\n"
                f'<p>You should be redirected automatically to the target URL: <a href="{html.escape(location)}">'
                f"{html.escape(location)}</a>. If not, click the link.\n"
            ).encode()
            self._send(status, body, headers={"Location": location, **(headers or {})})

        def _session(self) -> tuple[str | None, str | None]:
            cookie = self.headers.get("Cookie", "")
            m = re.search(r"(?:^|;\s*)session_id=([A-Za-z0-9_\-]+)", cookie)
            if not m:
                return None, None
            with server.lock:
                return (m.group(1), server.sessions.get(m.group(1))) if m.group(1) in server.sessions else (None, None)

        def _new_session(self, db: str | None) -> str:
            sid = secrets.token_urlsafe(30)
            with server.lock:
                server.sessions[sid] = db
            return sid

        def _host(self) -> str:
            if server.conf["proxy_mode"] and self.headers.get("X-Forwarded-Host"):
                return self.headers["X-Forwarded-Host"]
            return self.headers.get("Host", "")

        def _session_db(self) -> tuple[str | None, str | None]:
            """`Request._get_session_and_dbname`: (session id, db) - the session's db if the filter allows it,
            else the only database there is (monodb), else None."""
            host = self._host()
            sid, sdb = self._session()
            if sdb and db_filter([sdb], server.conf, host):
                return sid, sdb
            dbs = db_filter(list_dbs(server.conf), server.conf, host)
            return sid, (dbs[0] if len(dbs) == 1 else None)

        def _ensure_db(self, requested: str | None, session_db: str | None) -> tuple[str | None, int, str]:
            """`odoo.addons.web.controllers.utils.ensure_db`: (db, 0, "") or (None, redirect status, cookie)."""
            host = self._host()
            db = requested if requested and db_filter([requested], server.conf, host) else None
            if db and not session_db:
                return None, 302, self._new_session(db)
            if not db:
                db = session_db
            if not db:  # monodb, asked again (with db_name and no dbfilter, without asking PostgreSQL)
                dbs = db_filter(list_dbs(server.conf), server.conf, host)
                db = dbs[0] if len(dbs) == 1 else None
            if not db:
                return None, 303, ""
            if db != session_db:
                return None, 302, self._new_session(db)
            return db, 0, ""

        def _cookie(self, sid: str) -> dict[str, str]:
            return {"Set-Cookie": f"session_id={sid}; Path=/; HttpOnly; SameSite=Lax"}

        # -- routes
        def do_HEAD(self) -> None:  # noqa: N802 - http.server naming
            self.do_GET()

        def do_POST(self) -> None:  # noqa: N802
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(min(length, 1 << 20))
            self.do_GET()

        def do_GET(self) -> None:  # noqa: N802
            if server.behaviour == "neverready":
                self._send(503, error_page(503, "Service Unavailable", "The server is loading, try again later."))
                return
            url = urlsplit(self.path)
            query = {k: v[-1] for k, v in parse_qs(url.query).items()}
            path = url.path.rstrip("/") or "/"
            if path == "/web/health":
                self._health(query)
            elif path == "/websocket":
                self._websocket()
            elif path in ("/web/login", "/odoo", "/web", "/"):
                self._login(path, query)
            elif path == "/web/database/selector":
                if not server.conf["list_db"]:
                    self._send(
                        403, error_page(403, "Forbidden", "The database manager has been disabled by the administrator")
                    )
                else:
                    items = "".join(
                        f'<a href="/odoo?db={html.escape(d)}">{html.escape(d)}</a>' for d in list_dbs(server.conf)
                    )
                    self._send(200, f"<html><body><h1>Select a database</h1>{items}</body></html>".encode())
            else:
                self._send(404, error_page(404, "Not Found", "The requested URL was not found on the server."))

        def _health(self, query: dict[str, str]) -> None:
            info: dict[str, object] = {"status": "pass"}
            status = 200
            if query.get("db_server_status"):
                ok = db_server_ok(server.conf)
                info["db_server_status"] = ok
                if not ok:
                    info["status"] = "fail"
                    status = 500
            self._send(status, json.dumps(info).encode(), "application/json", {"Cache-Control": "no-store"})

        def _login(self, path: str, query: dict[str, str]) -> None:
            sid, session_db = self._session_db()
            if session_db:
                state, why = registry_state(server.conf, session_db)
                if state == "broken":
                    _log.error("Failed to load registry of %s: %s", session_db, why)
                    self._send(
                        500,
                        error_page(
                            500,
                            "Internal Server Error",
                            "The server encountered an internal error and was unable to "
                            "complete your request. Either the server is overloaded or there "
                            "is an error in the application.",
                        ),
                    )
                    return
                if state == "unreachable":
                    # Request._serve_db: the registry cannot be built; the session forgets its database and the
                    # request is served without one (ensure_db below then redirects).
                    _log.warning("cannot load the registry of %s: %s", session_db, why)
                    if sid:
                        with server.lock:
                            server.sessions[sid] = None
                    session_db = None
            db, redirect, new_sid = self._ensure_db(query.get("db"), session_db)
            if redirect == 303:
                self._redirect(303, "/web/database/selector")
                return
            if redirect == 302:
                self._redirect(302, self.path, self._cookie(new_sid))
                return
            if path != "/web/login":
                self._redirect(303, "/web/login?redirect=%2Fodoo")
                return
            headers = {} if sid else self._cookie(self._new_session(db))
            error = (
                '<p class="alert alert-danger" role="alert">Wrong login/password</p>' if self.command == "POST" else ""
            )
            page = LOGIN_PAGE.format(db=html.escape(str(db)), csrf=secrets.token_hex(20), error=error)
            self._send(200, page.encode(), headers={"X-Frame-Options": "SAMEORIGIN", **headers})

        def _websocket(self) -> None:
            _, db = self._session_db()
            if db is None or registry_state(server.conf, db)[0] != "ok":
                # The /websocket route lives in the `bus` module: without a database there is no such route.
                self._send(404, error_page(404, "Not Found", "The requested URL was not found on the server."))
                return
            headers = {k.lower(): v for k, v in self.headers.items()}
            problem = handshake_problem(headers)
            if problem:
                code, text = problem
                _log.error(text)
                self._send(code, error_page(code, "Bad Request" if code == 400 else "Upgrade Required", text))
                return
            if server.prefork and not evented:
                gp = server.conf["gevent_port"]
                _log.error("Couldn't bind the websocket. Is the connection opened on the evented port (%s)?", gp)
                self._send(
                    500,
                    error_page(
                        500,
                        "Internal Server Error",
                        "The server encountered an internal error and was unable to complete your request.",
                    ),
                )
                return
            self.send_response(101)
            self.send_header("Upgrade", "websocket")
            self.send_header("Connection", "Upgrade")
            self.send_header("Sec-WebSocket-Accept", websocket_accept(headers["sec-websocket-key"]))
            self.end_headers()
            self.wfile.flush()
            self._serve_websocket()
            self.close_connection = True

        def _serve_websocket(self) -> None:
            """Enough RFC 6455 to be a polite peer: answer pings, echo a close, drop after an idle minute."""
            conn = self.connection
            conn.settimeout(60)
            try:
                while True:
                    head = conn.recv(2)
                    if len(head) < 2:
                        return
                    opcode, length = head[0] & 0x0F, head[1] & 0x7F
                    masked = head[1] & 0x80
                    if length == 126:
                        length = int.from_bytes(conn.recv(2), "big")
                    elif length == 127:
                        length = int.from_bytes(conn.recv(8), "big")
                    mask = conn.recv(4) if masked else b"\0\0\0\0"
                    data = b""
                    while len(data) < length:
                        chunk = conn.recv(length - len(data))
                        if not chunk:
                            return
                        data += chunk
                    payload = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
                    if opcode == 0x8:
                        conn.sendall(bytes([0x88, len(payload[:125])]) + payload[:125])
                        return
                    if opcode == 0x9:
                        conn.sendall(bytes([0x8A, len(payload[:125])]) + payload[:125])
            except OSError:
                return

    return Handler


# --------------------------------------------------------------------------------------------- commands


def setup_logging(conf: dict[str, object]) -> None:
    fmt = f"%(asctime)s {os.getpid()} %(levelname)s {conf.get('db_name') or '?'} %(name)s: %(message)s"
    logging.basicConfig(level=logging.INFO, format=fmt, stream=sys.stderr)


def serve(conf: dict[str, object], behaviour: str) -> int:
    if behaviour == "slowstart":
        delay = float(os.environ.get("ODL_STANDIN_SLOWSTART_SECONDS", "20"))
        _log.info("loading the registries (stand-in slow start: %.0f s before binding)", delay)
        time.sleep(delay)  # the misbehaviour itself, not synchronisation
    prefork = _as_int(conf["workers"]) > 0
    iface = str(conf.get("http_interface") or "0.0.0.0")
    state = Server(conf, behaviour, prefork)
    servers = [ThreadingHTTPServer((iface, _as_int(conf["http_port"])), make_handler(state, evented=False))]
    _log.info("HTTP service (werkzeug) running on %s:%s", socket.gethostname(), conf["http_port"])
    if prefork and behaviour != "nogevent":
        servers.append(ThreadingHTTPServer((iface, _as_int(conf["gevent_port"])), make_handler(state, evented=True)))
        _log.info("Evented Service (longpolling) running on %s:%s", iface, conf["gevent_port"])
    if prefork:
        _log.info("Multiprocessing mode: %s workers (stand-in: threads in one process)", conf["workers"])
    for s in servers:
        s.daemon_threads = True
        threading.Thread(target=s.serve_forever, daemon=True).start()
    if behaviour == "crashloop":
        time.sleep(2)  # the misbehaviour itself: up for two seconds, then a crash
        _log.critical("Failed to initialize database (odoo-droplet stand-in: crashloop tag)")
        print("Traceback (most recent call last):\nRuntimeError: stand-in crash loop", file=sys.stderr)
        return 1
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    _log.info("Initiating shutdown")
    for s in servers:
        s.shutdown()
    return 0


def main(argv: list[str], environ: dict[str, str]) -> int:
    # Odoo accepts many more flags than a deploy uses; the stand-in ignores those (with a warning) rather
    # than failing on a valid real-Odoo command line.
    args, unknown = build_parser().parse_known_args(argv)
    conf = load_config(args, environ)
    setup_logging(conf)
    if unknown:
        _log.warning("odoo-droplet stand-in: options ignored: %s", " ".join(unknown))
    behaviour = environ.get("ODL_STANDIN_BEHAVIOUR", "good")
    if behaviour not in BEHAVIOURS:
        _log.warning("unknown ODL_STANDIN_BEHAVIOUR %r, behaving well", behaviour)
        behaviour = "good"
    _log.info(
        "Odoo version %s (odoo-droplet local stand-in, tag %s)", SERVER_VERSION, environ.get("ODL_STANDIN_TAG", "?")
    )
    if conf.get("db_user") == "postgres":
        _log.error("Using the database user 'postgres' is a security risk, aborting.")
        return 1
    init, update = split_modules(args.init), split_modules(args.update)
    if (init or update) and not conf["db_name"]:
        _log.error("The -i and -u options need a database (-d).")
        return 1
    psycopg2 = _psycopg2()
    try:
        for db in split_modules(str(conf["db_name"])):
            # odoo/cli/server.py creates the database named by -d/db_name and initialises base when it was missing.
            rc = install_modules(conf, db, init, update, fail=behaviour == "failinstall" and bool(init or update))
            if rc:
                return rc
            if conf.get("data_dir"):
                try:
                    os.makedirs(os.path.join(str(conf["data_dir"]), "filestore", db), exist_ok=True)
                except OSError as e:
                    _log.warning("cannot create the filestore: %s", e)
    except psycopg2.Error as e:
        _log.error("Failed to initialize database: %s", str(e).strip())
        return 255 if args.stop_after_init else 1
    if args.stop_after_init:
        return 0
    return serve(conf, behaviour)


def wait_for_psql(argv: list[str]) -> int:
    """The official image's wait-for-psql.py: connect to `postgres` until it answers or the timeout ends."""
    p = argparse.ArgumentParser()
    for flag in ("--db_host", "--db_port", "--db_user", "--db_password"):
        p.add_argument(flag, required=True)
    p.add_argument("--timeout", type=int, default=5)
    a = p.parse_args(argv)
    conf = {"db_host": a.db_host, "db_port": a.db_port, "db_user": a.db_user, "db_password": a.db_password}
    deadline = time.monotonic() + a.timeout
    error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            connect(conf, "postgres", timeout=max(1, int(deadline - time.monotonic()))).close()
            return 0
        except _psycopg2().OperationalError as e:
            error = e
        time.sleep(1)  # retry pace of the official script
    print(f"Database connection failure: {error}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    if os.path.basename(sys.argv[0]).startswith("wait-for-psql"):
        sys.exit(wait_for_psql(sys.argv[1:]))
    sys.exit(main(sys.argv[1:], dict(os.environ)))
