#!/usr/bin/env python3
"""odoo-droplet local stand-in for the official `odoo:18.0` image's `odoo` command (rehearsal and tests only).

No registry that carries the real Odoo image is reachable from the machines this project is developed and
tested on, so the local cloud runs this small program under the official image's interface instead: same
user, ports, volumes, ODOO_RC, entrypoint contract and CLI flags the deploy uses. It answers what a deploy
touches, the way Odoo 18.0 does (checked against the 18.0 source; see DESIGN.md section 4 and README.md):

- `odoo -d DB -i MODS --stop-after-init` / `-u MODS`: creates DB when missing (as `odoo/cli/server.py` does
  for `-d`), resolves modules as Odoo does (`standin_modules`: built-ins, `addons_path`, pip's
  `odoo/addons`), writes real rows to `ir_module_module` in the real PostgreSQL, and with base the tables
  and records of `standin_orm` (the `admin` user with password `admin`, `database.secret`/`uuid`,
  `web.base.url`); unknown names are only warned about (exit 0); a missing dependency or a failed install
  exits 255 (`preload_registries` returns -1).
- `odoo shell -d DB` with a script on stdin (`standin_shell`): how a deploy sets the admin password and login.
- `odoo neutralize -d DB` (`standin_orm.neutralize`): crons off but the autovacuum, outgoing mail servers off,
  `database.is_neutralized = true` (what the restore drill runs on its scratch copy).
- server mode: `/web/health` (200 even when PostgreSQL is down; `?db_server_status=1` checks it: 500 with
  `"status": "fail", "db_server_status": false`), `/web/login` (the form with a CSRF token; a POST logs in:
  303 to `/odoo` and a new `session_id`, or the form again with "Wrong login/password"; 303 to the database
  selector when no database can be chosen, PostgreSQL down or the database missing included; 500 when the
  database answers but base is not installed), `/web/login?db=NAME`, `/web/session/authenticate`,
  `/web/session/logout`, `/web/dataset/call_kw`, `/web/content/<id>`, `/web/database/selector|manager`,
  `/xmlrpc/2/db|common|object`, `/websocket` (RFC 6455 101 on the gevent port when workers > 0; 400 "Empty
  or missing header(s): origin" without Origin; 500 "Couldn't bind the websocket" on the HTTP port when
  workers > 0; served on the HTTP port when workers == 0, with nothing on the gevent port), and
  `/longpolling/poll` 404. Sessions live in `<data_dir>/sessions` like Odoo's (`standin_web`).

Simplifications (documented, not hidden): one process with threads instead of prefork workers; only the
tables above exist; routes other than those above answer 404. README.md lists what is and is not modelled.

Misbehaviour is chosen by ODL_STANDIN_BEHAVIOUR, baked into each image tag at build time:
good | crashloop | neverready | failinstall | nogevent | slowstart | keepadmin | wrongbaseurl (the last two
misbehave in `odoo shell`: see standin_shell).

Invoked as `wait-for-psql.py` (argv[0]) it is the official image's database wait script.
"""

from __future__ import annotations

import argparse
import base64
import configparser
import contextlib
import hashlib
import hmac
import html
import json
import logging
import os
import re
import signal
import socket
import sys
import threading
import time
import xmlrpc.client
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

# The sibling modules live beside this file (also when it runs through the /usr/bin/odoo symlink).
sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))

import standin_modules as modules  # noqa: E402
import standin_orm as orm  # noqa: E402
import standin_passwords as passwords  # noqa: E402
import standin_shell  # noqa: E402
import standin_web as web  # noqa: E402
from standin_modules import BASE_AUTO_INSTALL, DEPENDS, KNOWN_MODULES, MODULE_VERSION, with_dependencies  # noqa: E402

__all__ = ["BASE_AUTO_INSTALL", "DEPENDS", "KNOWN_MODULES", "MODULE_VERSION", "with_dependencies"]

SERVER_VERSION = "18.0"
WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
WS_REQUIRED_HEADERS = ("connection", "host", "sec-websocket-key", "sec-websocket-version", "upgrade", "origin")
BEHAVIOURS = ("good", "crashloop", "neverready", "failinstall", "nogevent", "slowstart", "keepadmin", "wrongbaseurl")
MAX_CONTENT_LENGTH = 128 * 1024 * 1024  # odoo.http.DEFAULT_MAX_CONTENT_LENGTH

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
        flag = conf.get(key)
        conf[key] = _truthy(flag if isinstance(flag, bool) else None if flag is None else str(flag))
    conf["db_name"] = conf.get("db_name") or ""
    conf["dbfilter"] = conf.get("dbfilter") or ""
    return conf


def split_modules(value: str | None) -> list[str]:
    return [m.strip() for m in (value or "").split(",") if m.strip()]


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
DEPENDENCY_TABLE = """
CREATE TABLE IF NOT EXISTS ir_module_module_dependency (
    id serial PRIMARY KEY, name varchar, module_id integer REFERENCES ir_module_module(id) ON DELETE CASCADE,
    auto_install_required boolean DEFAULT true,
    create_uid integer, create_date timestamp without time zone DEFAULT (now() at time zone 'UTC'),
    write_uid integer, write_date timestamp without time zone DEFAULT (now() at time zone 'UTC')
)"""


def is_initialized(cr) -> bool:
    cr.execute("SELECT to_regclass('public.ir_module_module') IS NOT NULL")
    return bool(cr.fetchone()[0])


def module_states(cr) -> dict[str, str]:
    cr.execute("SELECT name, state FROM ir_module_module")
    return dict(cr.fetchall())


def update_list(cr, cat: dict[str, modules.Manifest]) -> None:
    """`ir.module.module.update_list`: a row per module Odoo can see (`uninstalled`, or `uninstallable` when
    its manifest says so), descriptive columns refreshed, dependencies recorded; states of installed modules
    are left alone."""
    for name, m in cat.items():
        state = "uninstalled" if m.installable else "uninstallable"
        cr.execute(
            "INSERT INTO ir_module_module (name, state, latest_version, shortdesc, summary, author, license,"
            " application, auto_install) VALUES (%s, %s, NULL, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (name) DO UPDATE SET shortdesc = EXCLUDED.shortdesc, summary = EXCLUDED.summary,"
            " author = EXCLUDED.author, license = EXCLUDED.license, application = EXCLUDED.application,"
            " auto_install = EXCLUDED.auto_install, state = CASE WHEN ir_module_module.state IN"
            " ('uninstalled', 'uninstallable') THEN EXCLUDED.state ELSE ir_module_module.state END"
            " RETURNING id",
            (
                name,
                state,
                json.dumps({"en_US": m.shortdesc or name}),
                json.dumps({"en_US": m.summary}),
                m.author,
                m.license,
                m.application,
                bool(m.auto_install),
            ),
        )
        module_id = cr.fetchone()[0]
        cr.execute("DELETE FROM ir_module_module_dependency WHERE module_id = %s", (module_id,))
        for dep in m.depends:
            cr.execute("INSERT INTO ir_module_module_dependency (name, module_id) VALUES (%s, %s)", (dep, module_id))


def module_catalogue(conf: dict[str, object]) -> dict[str, modules.Manifest]:
    cat, warnings = modules.catalogue(modules.split_path(conf.get("addons_path")), sys.path)
    for warning in warnings:
        _log.warning(warning)
    return cat


def install_modules(conf: dict[str, object], db: str, init: list[str], update: list[str], fail: bool) -> int:
    """What `odoo -d DB -i MODS -u MODS` leaves in the database; returns the process exit status."""
    created = create_database(conf, db)
    # As in odoo/cli/server.py: a database created here gets base installed; otherwise only -i/-u touch it.
    update_module = created or bool(init or update)
    cat = module_catalogue(conf)
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
            cr.execute(DEPENDENCY_TABLE)
            _log.info("updating modules list")
            update_list(cr, cat)
            states = module_states(cr)
        unknown = [m for m in [*init, *update] if m not in cat and m != "all"]
        if unknown:
            _log.warning("invalid module names, ignored: %s", ", ".join(unknown))
        asked = (["base"] if fresh or states.get("base") != "installed" else []) + [m for m in init if m in cat]
        error = ""
        try:
            to_install = modules.plan_install(cat, states, asked)
            to_upgrade, upgrade_adds = modules.plan_upgrade(cat, states, [m for m in update if m in cat or m == "all"])
        except modules.MissingDependency as e:
            # button_install/button_upgrade raise before marking anything; a new database has base loaded first.
            error = str(e)
            to_install = modules.plan_install(cat, states, ["base"]) if "base" in asked else []
            to_upgrade, upgrade_adds = [], []
        to_install += [m for m in upgrade_adds if m not in to_install]
        if not to_install and not to_upgrade and not error and not fail:
            return 0
        with conn, conn.cursor() as cr:
            cr.execute(
                "UPDATE ir_module_module SET state='to install', write_date=now() WHERE name = ANY(%s)", (to_install,)
            )
            cr.execute(
                "UPDATE ir_module_module SET state='to upgrade', write_date=now() WHERE name = ANY(%s)", (to_upgrade,)
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
        order = modules.dependency_order(cat, [*to_install, *to_upgrade])
        for n, name in enumerate(order, start=1):
            _log.info("Loading module %s (%d/%d)", name, n, len(order))
            # load_module_graph commits after each module: a later failure keeps what loaded before it.
            with conn, conn.cursor() as cr:
                if name == "base":
                    orm.ensure_base(cr, int(str(conf["http_port"])))
                cr.execute(
                    "UPDATE ir_module_module SET state='installed', latest_version=%s, write_date=now() WHERE name = %s",
                    (cat[name].version, name),
                )
        if error:
            _log.critical("Failed to initialize database `%s`.", db)
            print(
                "Traceback (most recent call last):\n"
                '  File "/usr/lib/python3/dist-packages/odoo/service/server.py", line 1345, in preload_registries\n'
                '  File "/usr/lib/python3/dist-packages/odoo/addons/base/models/ir_module.py", in _state_update\n'
                f"odoo.exceptions.UserError: {error}",
                file=sys.stderr,
            )
            return 255
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

error_page = web.error_page
NOT_FOUND = ("Not Found", "The requested URL was not found on the server.")
INTERNAL_ERROR = (
    "Internal Server Error",
    "The server encountered an internal error and was unable to complete your request. Either the server is "
    "overloaded or there is an error in the application.",
)


@contextlib.contextmanager
def db_cursor(conf: dict[str, object], db: str) -> Iterator[orm.Cursor]:
    """One transaction on `db`: committed when the block ends normally, rolled back when it raises."""
    conn = connect(conf, db)
    try:
        with conn, conn.cursor() as cr:
            yield cr
    finally:
        conn.close()


def local_url(location: str, default: str) -> str:
    """`request.redirect(..., local=True)`: only the path and query of `location` are kept."""
    if not location:
        return default
    parts = urlsplit(location)
    rest = parts.path + (f"?{parts.query}" if parts.query else "")
    return "/" + rest.lstrip("/\\")


class Server:
    """Shared state of the HTTP threads: configuration, mode and the session store (on disk, like Odoo's)."""

    def __init__(self, conf: dict[str, object], behaviour: str, prefork: bool) -> None:
        self.conf = conf
        self.behaviour = behaviour
        self.prefork = prefork
        self.data_dir = str(conf.get("data_dir") or "/var/lib/odoo")
        self.sessions = web.SessionStore(os.path.join(self.data_dir, "sessions"))

    def filestore(self, db: str) -> str:
        return orm.filestore(self.data_dir, db)


JSON_ROUTES = (
    "/web/session/authenticate",
    "/web/session/get_session_info",
    "/web/session/destroy",
    "/web/dataset/call_kw",
)
VERSION_INFO = {
    "server_version": SERVER_VERSION,
    "server_version_info": [18, 0, 0, "final", 0, ""],
    "server_serie": SERVER_VERSION,
    "protocol_version": 1,
}
# `odoo.service.db` methods that take the master password first; with list_db = False they are refused
# (`check_db_management_enabled`) even with the right one.
DB_MANAGEMENT_METHODS = (
    "create_database",
    "duplicate_database",
    "drop",
    "dump",
    "restore",
    "rename",
    "change_admin_password",
    "migrate_databases",
    "list_countries",
)


def rpc_db(conf: dict[str, object], method: str, params: list[object]) -> object:
    """`odoo.service.db.dispatch` as `/xmlrpc/2/db` serves it."""
    if method == "server_version":
        return SERVER_VERSION
    if method == "list":
        if not conf["list_db"]:
            raise orm.access_denied()
        return list_dbs(conf)
    if method == "db_exist":
        return database_exists(conf, str(params[0]))
    if method == "list_lang":
        return [["en_US", "English (US)"]]
    if method in DB_MANAGEMENT_METHODS:
        master = str(params[0]) if params else ""
        if not master or not passwords.verify(master, str(conf.get("admin_passwd") or "")):
            raise orm.access_denied()
        if not conf["list_db"]:
            _log.error("Database management functions blocked, admin disabled database listing")
            raise orm.access_denied()
        raise orm.OrmError("builtins.NotImplementedError", f"db.{method} is not modelled by the odoo-droplet stand-in")
    raise orm.OrmError("builtins.KeyError", f"Method not found: {method}")


class JsonRpcError(Exception):
    """An error a JSON-RPC route answers with (HTTP 200, `error` member)."""

    def __init__(self, name: str, message: str, code: int = 200) -> None:
        super().__init__(message)
        self.name, self.message, self.code = name, message, code


def session_expired() -> JsonRpcError:
    return JsonRpcError("odoo.http.SessionExpiredException", "Session expired", 100)


def make_handler(server: Server, evented: bool) -> type[BaseHTTPRequestHandler]:
    conf = server.conf

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "Werkzeug/2.2.2"
        sys_version = "Python/3.11"
        body = b""

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

        def _not_found(self) -> None:
            self._send(404, error_page(404, *NOT_FOUND))

        # -- sessions
        def _cookie_sid(self) -> str | None:
            m = re.search(r"(?:^|;\s*)session_id=([A-Za-z0-9_\-]+)", self.headers.get("Cookie", ""))
            return m.group(1) if m else None

        def _session(self) -> tuple[str | None, str | None]:
            """(sid, db) of the request's stored session, (None, None) without one."""
            sid = self._cookie_sid()
            data = server.sessions.get(sid)
            if data is None:
                return None, None
            db = data.get("db")
            return sid, (str(db) if db else None)

        def _new_session(self, db: str | None) -> str:
            return server.sessions.new(web.default_session(db))

        def _cookie(self, sid: str) -> dict[str, str]:
            return {"Set-Cookie": web.session_cookie(sid)}

        def _header_map(self) -> dict[str, str]:
            """The request's headers with their names in one spelling (HTTP names are case-insensitive)."""
            return {k.title(): v for k, v in self.headers.items()}

        def _host(self) -> str:
            return web.request_host(self._header_map(), bool(conf["proxy_mode"]))

        def _session_db(self) -> tuple[str | None, str | None]:
            """`Request._get_session_and_dbname`: (session id, db) - the session's db if the filter allows it,
            else the only database there is (monodb), else None."""
            host = self._host()
            sid, sdb = self._session()
            if sdb and db_filter([sdb], conf, host):
                return sid, sdb
            dbs = db_filter(list_dbs(conf), conf, host)
            return sid, (dbs[0] if len(dbs) == 1 else None)

        def _ensure_db(self, requested: str | None, session_db: str | None) -> tuple[str | None, int, str]:
            """`odoo.addons.web.controllers.utils.ensure_db`: (db, 0, "") or (None, redirect status, cookie)."""
            host = self._host()
            db = requested if requested and db_filter([requested], conf, host) else None
            if db and not session_db:
                return None, 302, self._new_session(db)
            if not db:
                db = session_db
            if not db:  # monodb, asked again (with db_name and no dbfilter, without asking PostgreSQL)
                dbs = db_filter(list_dbs(conf), conf, host)
                db = dbs[0] if len(dbs) == 1 else None
            if not db:
                return None, 303, ""
            if db != session_db:
                return None, 302, self._new_session(db)
            return db, 0, ""

        def _user(self, db: str) -> int | None:
            """The logged-in user of the request's session on `db`, after Odoo's `check_session`: a session
            whose token no longer matches (password or login changed since) is logged out."""
            sid = self._cookie_sid()
            data = server.sessions.get(sid)
            if not sid or not data or data.get("db") != db or not data.get("uid"):
                return None
            uid = int(str(data["uid"]))
            with db_cursor(conf, db) as cr:
                token = orm.session_token(cr, uid, sid)
            if not token or not hmac.compare_digest(token, str(data.get("session_token") or "")):
                _log.info("session of user %s on %s is no longer valid: logged out", uid, db)
                server.sessions.save(sid, web.default_session(db))
                return None
            return uid

        def _authenticate(self, db: str, login: str, password: str) -> int | None:
            """`res.users.authenticate`: the user id or None; an administrator's login through the web writes
            `web.base.url` from the request unless `web.base.url.freeze` is set."""
            with db_cursor(conf, db) as cr:
                uid = orm.authenticate(cr, login, password)
                if uid and uid in orm.SYSTEM_USERS and not orm.get_param(cr, "web.base.url.freeze"):
                    orm.set_param(
                        cr, "web.base.url", web.base_location(self._header_map(), bool(conf["proxy_mode"])), uid
                    )
            peer = self.client_address[0]
            if uid:
                _log.info("Login successful for db:%s login:%s from %s", db, login, peer)
            else:
                _log.info("Login failed for db:%s login:%s from %s", db, login, peer)
            return uid

        def _start_session(self, old_sid: str | None, db: str, uid: int, login: str) -> str:
            """`Session.finalize` + rotation: a logged-in session under a new id; the old one is gone."""
            if old_sid:
                server.sessions.delete(old_sid)
            sid = server.sessions.generate_key()
            with db_cursor(conf, db) as cr:
                token = orm.session_token(cr, uid, sid)
            data = web.default_session(db)
            data.update(uid=uid, login=login, session_token=token, context={"lang": "en_US", "tz": False, "uid": uid})
            server.sessions.save(sid, data)
            return sid

        def _secret(self, db: str) -> str:
            with db_cursor(conf, db) as cr:
                return orm.get_param(cr, "database.secret") or ""

        def _form(self) -> dict[str, str]:
            if self.command != "POST" or not self.body:
                return {}
            text = self.body.decode("utf-8", errors="replace")
            return {k: v[-1] for k, v in parse_qs(text, keep_blank_values=True).items()}

        # -- routes
        def do_HEAD(self) -> None:  # noqa: N802 - http.server naming
            self.do_GET()

        def do_POST(self) -> None:  # noqa: N802
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_CONTENT_LENGTH:
                self._send(
                    413,
                    error_page(
                        413, "Request Entity Too Large", "The data value transmitted exceeds the capacity limit."
                    ),
                )
                self.close_connection = True
                return
            self.body = self.rfile.read(length) if length else b""
            self._dispatch()

        def do_GET(self) -> None:  # noqa: N802
            self.body = b""
            self._dispatch()

        def _dispatch(self) -> None:
            if server.behaviour == "neverready":
                self._send(503, error_page(503, "Service Unavailable", "The server is loading, try again later."))
                return
            url = urlsplit(self.path)
            query = {k: v[-1] for k, v in parse_qs(url.query).items()}
            path = url.path.rstrip("/") or "/"
            try:
                self._route(path, query)
            except _psycopg2().Error as e:
                _log.error("Exception during request handling: %s", str(e).strip())
                self._send(500, error_page(500, *INTERNAL_ERROR))

        def _route(self, path: str, query: dict[str, str]) -> None:
            if path == "/web/health":
                self._health(query)
            elif path == "/websocket":
                self._websocket()
            elif path in ("/web/login", "/odoo", "/web", "/") or path.startswith("/odoo/"):
                self._login(path, query)
            elif path == "/web/session/logout":
                self._logout(query)
            elif path in JSON_ROUTES or path.startswith("/web/dataset/call_kw/"):
                self._jsonrpc(path)
            elif path == "/web/content" or path.startswith("/web/content/"):
                self._content(path, query)
            elif path in ("/web/database/selector", "/web/database/manager"):
                # Odoo 18 renders its database manager page either way; with list_db = False it says it is
                # disabled and names no database.
                dbs = db_filter(list_dbs(conf), conf, self._host()) if conf["list_db"] else []
                page = web.db_manager_page(bool(conf["list_db"]), dbs, manage=path.endswith("manager"))
                self._send(200, page)
            elif path in ("/xmlrpc/2/db", "/xmlrpc/2/common", "/xmlrpc/2/object"):
                self._xmlrpc(path.rsplit("/", 1)[1])
            else:
                self._not_found()

        def _health(self, query: dict[str, str]) -> None:
            info: dict[str, object] = {"status": "pass"}
            status = 200
            if query.get("db_server_status"):
                ok = db_server_ok(conf)
                info["db_server_status"] = ok
                if not ok:
                    info["status"] = "fail"
                    status = 500
            self._send(status, json.dumps(info).encode(), "application/json", {"Cache-Control": "no-store"})

        def _login(self, path: str, query: dict[str, str]) -> None:
            sid, session_db = self._session_db()
            if session_db:
                state, why = registry_state(conf, session_db)
                if state == "broken":
                    _log.error("Failed to load registry of %s: %s", session_db, why)
                    self._send(500, error_page(500, *INTERNAL_ERROR))
                    return
                if state == "unreachable":
                    # Request._serve_db: the registry cannot be built; the session forgets its database and the
                    # request is served without one (ensure_db below then redirects).
                    _log.warning("cannot load the registry of %s: %s", session_db, why)
                    if sid:
                        server.sessions.save(sid, web.default_session(None))
                    session_db = None
            db, redirect, new_sid = self._ensure_db(query.get("db"), session_db)
            if redirect == 303:
                self._redirect(303, "/web/database/selector")
                return
            if redirect == 302:
                self._redirect(302, self.path, self._cookie(new_sid))
                return
            assert db is not None  # _ensure_db returns a database whenever it does not redirect
            uid = self._user(db) if sid else None
            if path != "/web/login":
                if uid and path in ("/", "/web"):
                    self._redirect(303, "/odoo")
                elif uid:
                    page = web.WEBCLIENT_PAGE.format(db=html.escape(db), uid=uid).encode()
                    self._send(200, page, headers={"Cache-Control": "no-cache"})
                else:
                    self._redirect(303, "/web/login?redirect=" + quote(path if path != "/" else "/odoo", safe=""))
                return
            self._login_form(db, sid, uid, query)

        def _login_form(self, db: str, sid: str | None, uid: int | None, query: dict[str, str]) -> None:
            """`Home.web_login`: the form (GET), or a login attempt (POST) checked against its CSRF token."""
            params = {**query, **self._form()}
            target = params.get("redirect", "")
            if self.command == "GET" and target and uid:
                self._redirect(303, local_url(target, "/odoo"))
                return
            headers = {"Cache-Control": "no-cache", "X-Frame-Options": "SAMEORIGIN"}
            headers["Content-Security-Policy"] = "frame-ancestors 'self'"
            if not sid:
                sid = self._new_session(db)
                headers.update(self._cookie(sid))
            secret = self._secret(db)
            error = ""
            if self.command == "POST":
                if not web.validate_csrf(secret, sid, params.get("csrf_token")):
                    _log.warning("CSRF validation failed on path '/web/login'")
                    text = "Session expired (invalid CSRF token)"
                    self._send(400, error_page(400, "Bad Request", text), headers=headers)
                    return
                login = params.get("login", "")
                new_uid = self._authenticate(db, login, params.get("password", ""))
                if new_uid:
                    new_sid = self._start_session(sid, db, new_uid, login)
                    self._redirect(303, local_url(target, "/odoo"), self._cookie(new_sid))
                    return
                error = "Wrong login/password"
            page = web.login_page(
                db, web.csrf_token(secret, sid), params.get("login", ""), error, target, bool(conf["list_db"])
            )
            self._send(200, page, headers=headers)

        def _logout(self, query: dict[str, str]) -> None:
            """`/web/session/logout`: the session logged out (its database kept) under a new id, 303 onwards."""
            sid, db = self._session()
            if sid:
                server.sessions.delete(sid)
            new_sid = server.sessions.new(web.default_session(db))
            self._redirect(303, local_url(query.get("redirect", ""), "/odoo"), self._cookie(new_sid))

        # -- JSON-RPC
        def _jsonrpc(self, path: str) -> None:
            ctype = self.headers.get("Content-Type", "").split(";")[0].strip().lower()
            if self.command != "POST" or ctype not in ("application/json", "application/json-rpc"):
                text = f"Request inferred type is compatible with ['http'] but '{path}' is type='jsonrpc'."
                self._send(400, error_page(400, "Bad Request", text))
                return
            try:
                request = json.loads(self.body or b"{}")
                params = request.get("params") or {}
                if not isinstance(params, dict):
                    raise AttributeError("params")
            except (ValueError, AttributeError):
                self._send(400, b"Invalid JSON data", "text/html; charset=utf-8")
                return
            request_id = request.get("id")
            headers: dict[str, str] = {}
            try:
                result = self._jsonrpc_call(path, params, headers)
                body = web.jsonrpc_result(request_id, result)
            except JsonRpcError as e:
                body = web.jsonrpc_error(request_id, e.name, e.message, e.code)
            except orm.OrmError as e:
                body = web.jsonrpc_error(request_id, e.name, e.message)
            except _psycopg2().Error as e:
                _log.error("Exception during JSON request handling: %s", str(e).strip())
                body = web.jsonrpc_error(request_id, f"psycopg2.errors.{type(e).__name__}", str(e).strip())
            self._send(200, body, "application/json; charset=utf-8", headers)

        def _jsonrpc_call(self, path: str, params: dict[str, object], headers: dict[str, str]) -> object:
            if path == "/web/session/authenticate":
                return self._session_authenticate(params, headers)
            sid, db = self._session_db()
            if db is None:
                raise JsonRpcError("werkzeug.exceptions.NotFound", NOT_FOUND[1], 404)
            uid = self._user(db)
            if uid is None:
                raise session_expired()
            if path == "/web/session/get_session_info":
                return self._session_info(db, uid)
            if path == "/web/session/destroy":
                if sid:
                    server.sessions.delete(sid)
                headers.update(self._cookie(server.sessions.new(web.default_session(db))))
                return None
            model, method = params.get("model"), params.get("method")
            args, kwargs = params.get("args") or [], params.get("kwargs") or {}
            if not isinstance(model, str) or not isinstance(method, str):
                raise JsonRpcError("builtins.TypeError", "call_kw() missing required arguments: 'model' and 'method'")
            if not isinstance(args, list) or not isinstance(kwargs, dict):
                raise JsonRpcError("builtins.TypeError", "args must be a list and kwargs an object")
            with db_cursor(conf, db) as cr:
                env = orm.Env(cr, uid, {"lang": "en_US", "uid": uid}, server.filestore(db))
                return orm.call_kw(env, model, method, args, dict(kwargs))

        def _session_authenticate(self, params: dict[str, object], headers: dict[str, str]) -> object:
            """`/web/session/authenticate` (params db, login, password): the session info and a new session
            cookie; AccessError "Database not found." or AccessDenied as Odoo raises them."""
            db, login, password = (str(params.get(k) or "") for k in ("db", "login", "password"))
            if not db or not db_filter([db], conf, self._host()):
                raise JsonRpcError("odoo.exceptions.AccessError", "Database not found.")
            state, why = registry_state(conf, db)
            if state != "ok":
                raise JsonRpcError(
                    "odoo.exceptions.RegistryError" if state == "broken" else "psycopg2.OperationalError", why
                )
            uid = self._authenticate(db, login, password)
            if uid is None:
                raise JsonRpcError("odoo.exceptions.AccessDenied", "Access Denied")
            old_sid, _ = self._session()
            sid = self._start_session(old_sid, db, uid, login)
            headers.update(self._cookie(sid))
            return self._session_info(db, uid)

        def _session_info(self, db: str, uid: int) -> dict[str, object]:
            with db_cursor(conf, db) as cr:
                user = orm.user_info(cr, uid)
                base_url = orm.get_param(cr, "web.base.url") or ""
            return web.session_info(uid, db, user, uid in orm.SYSTEM_USERS, base_url)

        # -- files
        def _content(self, path: str, query: dict[str, str]) -> None:
            """`/web/content/<id>[/<name>]` and `/web/content?id=`: the attachment's bytes for a logged-in user,
            public attachments for anyone, 404 otherwise (Odoo hides what it refuses)."""
            m = re.fullmatch(r"/web/content/(\d+)(?:[-/][^/]*)?", path)
            raw_id = m.group(1) if m else (query.get("id", "") if path == "/web/content" else "")
            if not raw_id.isdigit():
                self._not_found()
                return
            _, db = self._session_db()
            if db is None:
                self._not_found()
                return
            uid = self._user(db)
            with db_cursor(conf, db) as cr:
                env = orm.Env(cr, uid or orm.PUBLIC_USER_ID, {}, server.filestore(db))
                got = orm.attachment_content(env, int(raw_id), public_only=uid is None)
            if got is None:
                self._not_found()
                return
            data, mime, name, checksum = got
            disposition = "attachment" if _truthy(query.get("download")) else "inline"
            headers = {
                "Content-Disposition": f"{disposition}; filename*=UTF-8''{quote(name or 'file', safe='')}",
                "X-Content-Type-Options": "nosniff",
                "Cache-Control": "no-cache",
            }
            if checksum:
                headers["ETag"] = f'"{checksum}"'
            if mime.startswith("image/"):
                headers["Content-Security-Policy"] = "default-src 'none'"
            self._send(200, data, mime, headers)

        # -- XML-RPC
        def _xmlrpc(self, service: str) -> None:
            if self.command != "POST":
                self._send(
                    405, error_page(405, "Method Not Allowed", "The method is not allowed for the requested URL.")
                )
                return
            try:
                params, method = xmlrpc.client.loads(self.body)
            except Exception:  # noqa: BLE001 - expat raises several types for a body that is not XML-RPC
                self._send(400, error_page(400, "Bad Request", "The XML-RPC request could not be parsed."))
                return
            try:
                # Any: whatever the method returns is marshalled as it is (ints, strings, lists, dicts).
                result: Any = self._rpc(service, str(method), list(params))
                body = xmlrpc.client.dumps((result,), methodresponse=True, allow_none=True)
            except orm.OrmError as e:
                body = xmlrpc.client.dumps(xmlrpc.client.Fault(web.xmlrpc_fault_code(e.name), e.message))
            except _psycopg2().Error as e:
                body = xmlrpc.client.dumps(xmlrpc.client.Fault(1, str(e).strip()))
            except (TypeError, ValueError, IndexError) as e:
                body = xmlrpc.client.dumps(xmlrpc.client.Fault(1, f"{type(e).__name__}: {e}"))
            self._send(200, body.encode(), "text/xml; charset=utf-8")

        def _rpc(self, service: str, method: str, params: list[object]) -> object:
            if service == "db":
                return rpc_db(conf, method, params)
            if service == "common":
                if method == "version":
                    return VERSION_INFO
                if method == "about":
                    return "See http://openerp.com"
                if method in ("login", "authenticate"):
                    return self._rpc_login(str(params[0]), str(params[1]), str(params[2])) or False
                raise orm.OrmError("builtins.KeyError", f"Method not found: {method}")
            if method not in ("execute", "execute_kw"):
                raise orm.OrmError("builtins.NameError", f"Method not available {method}")
            db, uid, secret, model, name = params[:5]
            with db_cursor(conf, str(db)) as cr:
                cr.execute("SELECT password FROM res_users WHERE id = %s AND active", (int(str(uid)),))
                row = cr.fetchone()
                if row is None or not passwords.verify(str(secret), row[0]):
                    raise orm.access_denied()
                if method == "execute_kw":
                    args = params[5] if len(params) > 5 else []
                    kwargs = params[6] if len(params) > 6 else {}
                else:
                    args, kwargs = params[5:], {}
                if not isinstance(args, list) or not isinstance(kwargs, dict):
                    raise orm.OrmError("builtins.TypeError", "execute_kw takes a list of arguments and a dict")
                env = orm.Env(cr, int(str(uid)), {"lang": "en_US"}, server.filestore(str(db)))
                return orm.call_kw(env, str(model), str(name), args, dict(kwargs))

        def _rpc_login(self, db: str, login: str, password: str) -> int | None:
            """`common.login`/`authenticate` over XML-RPC: no base location, so web.base.url is left alone."""
            with db_cursor(conf, db) as cr:
                return orm.authenticate(cr, login, password)

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


def shell_main(argv: list[str], environ: dict[str, str]) -> int:
    """`odoo shell -d DB`: the script on stdin runs with `env` (see standin_shell); exit 1 when it raises."""
    args, unknown = build_parser().parse_known_args(argv)
    conf = load_config(args, environ)
    setup_logging(conf)
    if unknown:
        _log.info("odoo-droplet stand-in: shell options ignored: %s", " ".join(unknown))
    dbs = split_modules(str(conf["db_name"]))
    if not dbs:
        _log.error("No environment set, use `odoo shell -d dbname` to get one.")
        return 1
    state, why = registry_state(conf, dbs[0])
    if state != "ok":
        _log.critical("Failed to load the registry of %s: %s", dbs[0], why)
        return 1
    conn = connect(conf, dbs[0])
    try:
        return standin_shell.run(conn, orm.filestore(str(conf.get("data_dir") or "/var/lib/odoo"), dbs[0]))
    finally:
        conn.close()


def neutralize_main(argv: list[str], environ: dict[str, str]) -> int:
    """`odoo neutralize -d DB` (Odoo 16+, odoo/cli/neutralize.py): crons off (but the autovacuum), outgoing mail
    servers off, `database.is_neutralized` set, in one transaction; exit 1 when the database cannot be."""
    args, unknown = build_parser().parse_known_args(argv)
    conf = load_config(args, environ)
    setup_logging(conf)
    if unknown:
        _log.info("odoo-droplet stand-in: neutralize options ignored: %s", " ".join(unknown))
    dbs = split_modules(str(conf["db_name"]))
    if len(dbs) != 1:
        _log.error("Neutralize needs exactly one database (-d).")
        return 1
    try:
        conn = connect(conf, dbs[0])
    except _psycopg2().Error as e:
        _log.error("Cannot connect to %s: %s", dbs[0], str(e).strip())
        return 1
    try:
        with conn.cursor() as cr:
            orm.neutralize(cr)
        conn.commit()
    except (orm.OrmError, _psycopg2().Error) as e:
        conn.rollback()
        _log.error("Neutralization of %s failed: %s", dbs[0], str(e).strip())
        return 1
    finally:
        conn.close()
    _log.info("Neutralization finished")
    return 0


def main(argv: list[str], environ: dict[str, str]) -> int:
    if argv[:1] == ["shell"]:
        return shell_main(argv[1:], environ)
    if argv[:1] == ["neutralize"]:
        return neutralize_main(argv[1:], environ)
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


def wait_for_psql(argv: list[str], environ: dict[str, str] | None = None) -> int:
    """The official image's wait-for-psql.py: connect to `postgres` until it answers or the timeout ends.
    Settings not given on the command line come from the config file ($ODOO_RC), so the entrypoint need not
    put a password that odoo.conf holds on any command line."""
    p = argparse.ArgumentParser()
    for flag in ("--db_host", "--db_port", "--db_user", "--db_password"):
        p.add_argument(flag)
    p.add_argument("--timeout", type=int, default=5)
    a = p.parse_args(argv)
    conf: dict[str, object] = {
        "db_host": a.db_host,
        "db_port": a.db_port,
        "db_user": a.db_user,
        "db_password": a.db_password,
    }
    rc_path = (environ if environ is not None else dict(os.environ)).get("ODOO_RC")
    if rc_path and os.path.exists(rc_path):
        cp = configparser.ConfigParser(interpolation=None)
        cp.read(rc_path)
        for key in conf:
            if conf[key] is None and cp.has_option("options", key) and cp.get("options", key) not in ("False", "None"):
                conf[key] = cp.get("options", key)
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
