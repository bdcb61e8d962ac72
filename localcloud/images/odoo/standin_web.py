"""Odoo 18's HTTP-layer rules the stand-in follows (pure helpers and the session store; stand-in).

- Sessions (`odoo/http.py` FilesystemSessionStore): an 84-character URL-safe id (base64 of 63 bytes of a
  SHA-512), one JSON file per session at `<data_dir>/sessions/<sid[:2]>/<sid>`, the `session_id` cookie
  (`HttpOnly`, `Path=/`, a 7-day `Max-Age`); a login or a logout rotates the id (a new file, a new cookie).
- CSRF (`Request.csrf_token` / `validate_csrf`): `<hmac-sha1(database.secret, sid + max_ts)>o<max_ts>`, with
  max_ts a year ahead; a POST to an HTTP route without a valid token is a 400 "Session expired (invalid
  CSRF token)".
- `web.base.url` at an administrator's login: the request's `url_root` without its slash, where the scheme
  and host come from X-Forwarded-Proto/Host only when `proxy_mode` is on and X-Forwarded-Host is present
  (Odoo applies werkzeug's ProxyFix with one trusted hop only then).
- JSON-RPC answers (`JsonRPCDispatcher`): errors are HTTP 200 bodies `{"error": {"code", "message", "data":
  {"name", "debug", "message", "arguments", "context"}}}`; code 100 "Odoo Session Expired" for a call that
  needs a user without one.
- XML-RPC faults (`/xmlrpc/2/...`, `xmlrpc_handle_exception_int`): 3 AccessDenied, 4 AccessError, 2 other
  user errors, 1 anything else.
"""

from __future__ import annotations

import base64
import email.utils
import hashlib
import hmac
import html
import json
import os
import re
import threading
import time
from collections.abc import Mapping

SESSION_LIFETIME = 60 * 60 * 24 * 7
CSRF_TOKEN_SALT = 60 * 60 * 24 * 365
SID_RE = re.compile(r"^[A-Za-z0-9_-]{84}$")


def default_session(db: str | None = None) -> dict[str, object]:
    """`odoo.http.get_default_session`."""
    return {
        "context": {"lang": "en_US"},
        "db": db,
        "debug": "",
        "login": None,
        "uid": None,
        "session_token": None,
        "_trace": [],
    }


class SessionStore:
    """Sessions on disk as Odoo keeps them; in memory (with a warning, once) when the folder is not writable."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.memory: dict[str, dict[str, object]] = {}
        self.lock = threading.Lock()
        self.disk = True

    @staticmethod
    def generate_key() -> str:
        key = str(time.time()).encode() + os.urandom(64)
        return base64.urlsafe_b64encode(hashlib.sha512(key).digest()[:-1]).decode()

    def filename(self, sid: str) -> str:
        return os.path.join(self.path, sid[:2], sid)

    def get(self, sid: str | None) -> dict[str, object] | None:
        if not sid or not SID_RE.match(sid):
            return None
        with self.lock:
            if sid in self.memory:
                return dict(self.memory[sid])
        try:
            with open(self.filename(sid), encoding="utf-8") as fh:
                data = json.load(fh)
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def save(self, sid: str, data: Mapping[str, object]) -> None:
        if self.disk:
            try:
                folder = os.path.dirname(self.filename(sid))
                os.makedirs(folder, mode=0o755, exist_ok=True)
                tmp = f"{self.filename(sid)}.{threading.get_ident()}.tmp"
                with open(tmp, "w", encoding="utf-8") as fh:
                    json.dump(dict(data), fh)
                os.replace(tmp, self.filename(sid))
                return
            except OSError:
                self.disk = False  # e.g. a read-only data_dir: keep serving, sessions then die with the process
        with self.lock:
            self.memory[sid] = dict(data)

    def delete(self, sid: str) -> None:
        with self.lock:
            self.memory.pop(sid, None)
        if SID_RE.match(sid):
            try:
                os.unlink(self.filename(sid))
            except OSError:
                pass

    def new(self, data: Mapping[str, object]) -> str:
        sid = self.generate_key()
        self.save(sid, data)
        return sid


def session_cookie(sid: str, max_age: int = SESSION_LIFETIME) -> str:
    """The Set-Cookie value Odoo sends (werkzeug's format: Expires, Max-Age, HttpOnly, Path)."""
    expires = email.utils.formatdate(time.time() + max_age, usegmt=True)
    return f"session_id={sid}; Expires={expires}; Max-Age={max_age}; HttpOnly; Path=/"


def csrf_token(secret: str, sid: str, now: float | None = None) -> str:
    max_ts = int((now if now is not None else time.time()) + CSRF_TOKEN_SALT)
    hm = hmac.new(secret.encode(), f"{sid}{max_ts}".encode(), hashlib.sha1).hexdigest()
    return f"{hm}o{max_ts}"


def validate_csrf(secret: str, sid: str, token: str | None, now: float | None = None) -> bool:
    if not token:
        return False
    hm, _, max_ts = token.rpartition("o")
    try:
        if int(max_ts) < int(now if now is not None else time.time()):
            return False
    except ValueError:
        return False
    expected = hmac.new(secret.encode(), f"{sid}{max_ts}".encode(), hashlib.sha1).hexdigest()
    return hmac.compare_digest(hm, expected)


def _last(value: str) -> str:
    """ProxyFix with one trusted hop takes the last value of a comma-separated forwarding header."""
    return value.split(",")[-1].strip()


def base_location(headers: Mapping[str, str], proxy_mode: bool) -> str:
    """`request.httprequest.url_root.rstrip('/')` as Odoo 18 computes it."""
    scheme, host = "http", headers.get("Host", "")
    if proxy_mode and headers.get("X-Forwarded-Host"):
        host = _last(headers["X-Forwarded-Host"])
        if headers.get("X-Forwarded-Proto"):
            scheme = _last(headers["X-Forwarded-Proto"])
    return f"{scheme}://{host}"


def request_host(headers: Mapping[str, str], proxy_mode: bool) -> str:
    if proxy_mode and headers.get("X-Forwarded-Host"):
        return _last(headers["X-Forwarded-Host"])
    return headers.get("Host", "")


# ----------------------------------------------------------------------------------------- RPC envelopes


def jsonrpc_result(request_id: object, result: object) -> bytes:
    return json.dumps({"jsonrpc": "2.0", "id": request_id, "result": result}).encode()


def jsonrpc_error(request_id: object, name: str, message: str, code: int = 200) -> bytes:
    """`JsonRPCDispatcher.handle_error`: 100 for an expired session, 404 for no route, else 200 (Odoo sends
    0 in some versions; clients look at data.name)."""
    top = {100: "Odoo Session Expired", 404: "404: Not Found"}.get(code, "Odoo Server Error")
    error = {
        "code": code,
        "message": top,
        "data": {"name": name, "debug": "", "message": message, "arguments": [message], "context": {}},
    }
    return json.dumps({"jsonrpc": "2.0", "id": request_id, "error": error}).encode()


XMLRPC_FAULT_CODES = {
    "odoo.exceptions.AccessDenied": 3,
    "odoo.exceptions.AccessError": 4,
    "odoo.exceptions.UserError": 2,
    "odoo.exceptions.ValidationError": 2,
    "odoo.exceptions.MissingError": 2,
    "odoo.exceptions.RedirectWarning": 2,
}


def xmlrpc_fault_code(name: str) -> int:
    return XMLRPC_FAULT_CODES.get(name, 1)


def session_info(uid: int, db: str, user: Mapping[str, object], is_system: bool, base_url: str) -> dict[str, object]:
    """A subset of `ir.http.session_info()`: what a client reads after `/web/session/authenticate`."""
    return {
        "uid": uid,
        "is_system": is_system,
        "is_admin": is_system,
        "is_public": False,
        "is_internal_user": True,
        "user_context": {"lang": "en_US", "tz": False, "uid": uid},
        "db": db,
        "server_version": "18.0",
        "server_version_info": [18, 0, 0, "final", 0, ""],
        "name": user.get("name"),
        "username": user.get("login"),
        "partner_display_name": user.get("name"),
        "partner_id": user.get("partner_id"),
        "web.base.url": base_url,
        "user_companies": {"current_company": 1, "allowed_companies": {"1": {"id": 1, "name": "My Company"}}},
    }


# ----------------------------------------------------------------------------------------- pages

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
    <input type="text" name="login" id="login" value="{login}" class="form-control" required="required"
           autofocus="autofocus"/></div>
  <div class="mb-3"><label for="password" class="form-label">Password</label>
    <input type="password" name="password" id="password" class="form-control" required="required"/></div>
  {error}
  <input type="hidden" name="redirect" value="{redirect}"/>
  <div class="clearfix oe_login_buttons text-center gap-1 d-grid mb-1 pt-3">
    <button type="submit" class="btn btn-primary">Log in</button></div>
  {manager}
</form>
</main>
</body>
</html>
"""

LOGIN_ERROR = '<p class="alert alert-danger" role="alert">{}</p>'
MANAGER_LINK = (
    '<div class="text-center small mt-4 pt-3 border-top"><a href="/web/database/manager">Manage Databases</a></div>'
)

DB_MANAGER_PAGE = """<!DOCTYPE html>
<html>
<head><meta charset="utf-8"/><title>Odoo</title>
<meta name="generator" content="Odoo (odoo-droplet local stand-in)"/></head>
<body>
<div class="container">
{body}
</div>
</body>
</html>
"""
DB_MANAGER_DISABLED = (
    '<div class="alert alert-warning text-center">The database manager has been disabled by the administrator</div>'
)

WEBCLIENT_PAGE = """<!DOCTYPE html>
<html lang="en-US">
<head><meta charset="utf-8"/><title>Odoo</title>
<meta name="generator" content="Odoo (odoo-droplet local stand-in)"/></head>
<body class="o_web_client" data-db="{db}" data-uid="{uid}"></body>
</html>
"""


def login_page(
    db: str, csrf: str, login: str = "", error: str = "", redirect: str = "", list_db: bool = False
) -> bytes:
    return LOGIN_PAGE.format(
        db=html.escape(db),
        csrf=html.escape(csrf),
        login=html.escape(login),
        error=LOGIN_ERROR.format(html.escape(error)) if error else "",
        redirect=html.escape(redirect),
        manager=MANAGER_LINK if list_db else "",
    ).encode()


def db_manager_page(list_db: bool, dbs: list[str], manage: bool) -> bytes:
    """`/web/database/selector` (manage=False) and `/web/database/manager`: 200 either way, the names only
    when listing databases is allowed."""
    if not list_db:
        body = DB_MANAGER_DISABLED
    else:
        action = "Manage Databases" if manage else "Select a database"
        items = "".join(f'<a href="/odoo?db={html.escape(d)}">{html.escape(d)}</a>' for d in dbs)
        body = f"<h1>{action}</h1>{items}"
    return DB_MANAGER_PAGE.format(body=body).encode()


def error_page(code: int, title: str, text: str) -> bytes:
    return (
        f"<!doctype html>\n<html lang=en>\n<title>{code} {title}</title>\n<h1>{title}</h1>\n"
        f"<p>{html.escape(text)}</p>\n"
    ).encode()
