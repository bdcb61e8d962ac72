"""odoo.conf for Odoo 18, mounted read-only at /etc/odoo/odoo.conf in the official image. Pure.

Every line is `key = value` with single spaces: the official image's entrypoint reads db_host,
db_port, db_user and db_password back out of this file with `cut -d " " -f3` and passes them to
`odoo` on the command line (where they win over the file), so a value with a space or a double quote
would arrive cut short. Such values are refused here instead of failing later as a login error.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import re
import secrets as pysecrets

from firstboot.config import REDACTED, Deploy, Secrets
from firstboot.contract.layout import Layout
from firstboot.workers import WorkerPlan

HTTP_PORT = 8069
GEVENT_PORT = 8072
DATA_DIR = "/var/lib/odoo"
EXTRA_ADDONS = "/mnt/extra-addons"
SELFHOST_DB_HOST = "db"  # the compose service name (firstboot/render/compose.py)

# nginx waits up to NGINX_READ_TIMEOUT for an answer (long reports, big imports). Odoo's real-time
# limit must not be shorter, or Odoo kills the worker while nginx is still waiting and the user gets
# a 502 instead of the report. The CPU limit sits below it: CPU time never exceeds wall time, and
# a worker spinning in a loop is still stopped.
NGINX_READ_TIMEOUT = 720
NGINX_CONNECT_TIMEOUT = 60
NGINX_SEND_TIMEOUT = 600
LIMIT_TIME_REAL = NGINX_READ_TIMEOUT
LIMIT_TIME_CPU = 600

# What the official entrypoint's `cut -d " " -f3 | sed 's/["\n\r]//g'` would mangle.
_ENTRYPOINT_UNSAFE = re.compile(r"[\s\"]")
_LINE_BREAK = re.compile(r"[\r\n]")


def _value(key: str, value: object, *, entrypoint_parsed: bool = False) -> str:
    text = str(value)
    if _LINE_BREAK.search(text):
        # A line break would end the value and start a new option (config injection).
        raise ValueError(f"odoo.conf: {key} must be one line")
    if entrypoint_parsed and _ENTRYPOINT_UNSAFE.search(text):
        raise ValueError(
            f"odoo.conf: {key} may not contain spaces or double quotes: the official odoo image's "
            "entrypoint splits odoo.conf lines on spaces and would pass a truncated value to Odoo"
        )
    if text != text.strip():
        raise ValueError(f"odoo.conf: {key} may not start or end with whitespace (Odoo would strip it)")
    return text


# The master password (`admin_passwd`) is stored as passlib's pbkdf2-sha512 string, which Odoo 18 verifies
# (`odoo/tools/config.py`: CryptContext(['pbkdf2_sha512', 'plaintext'], pbkdf2_sha512__rounds=600_000)), so
# the file holds no usable secret. Odoo's own rounds; the salt is random unless a test injects one.
MASTER_PASSWORD_ROUNDS = 600_000
SALT_BYTES = 16


def _ab64(data: bytes) -> str:
    """passlib's "adapted base64": standard base64 with '.' for '+', no padding."""
    return base64.b64encode(data).decode("ascii").rstrip("=").replace("+", ".")


@functools.lru_cache(maxsize=16)  # the agent renders odoo.conf once per attempt: hash once per salt
def passlib_pbkdf2_sha512(password: str, salt: bytes, rounds: int = MASTER_PASSWORD_ROUNDS) -> str:
    """`$pbkdf2-sha512$<rounds>$<salt>$<digest>`, byte for byte what passlib's pbkdf2_sha512.hash gives."""
    digest = hashlib.pbkdf2_hmac("sha512", password.encode("utf-8"), salt, rounds)
    return f"$pbkdf2-sha512${rounds}${_ab64(salt)}${_ab64(digest)}"


@functools.lru_cache(maxsize=16)
def _process_salt(password: str) -> bytes:
    # One random salt per password for this process: renders of one run agree (and hash once).
    return pysecrets.token_bytes(SALT_BYTES)


def master_password_line(password: str, salt: bytes | None = None, rounds: int = MASTER_PASSWORD_ROUNDS) -> str:
    """The value of `admin_passwd`: the hash, `<redacted>` in a preview, empty (manager refused) when unset."""
    if not password or password == REDACTED:
        return password
    return passlib_pbkdf2_sha512(password, salt if salt is not None else _process_salt(password), rounds)


def dbfilter_for(database: str) -> str:
    """Exactly the one database: with more than one and no filter /web/login goes to the selector."""
    return f"^{re.escape(database)}$"


def render_odoo_conf(deploy: Deploy, secrets: Secrets, plan: WorkerPlan, *, salt: bytes | None = None,
                     rounds: int = MASTER_PASSWORD_ROUNDS) -> str:
    """The [options] of odoo.conf. Pass `secrets.redacted()` for a preview. `salt` (and `rounds`) of the
    master password's hash: given, the output is deterministic (tests); None, a random salt."""
    _value("admin_passwd", secrets.admin_passwd)  # a line break is refused before it is hashed away
    pg = deploy.postgres
    if pg.mode == "managed":
        if not pg.host:
            raise ValueError("odoo.conf: postgres.host is required when postgres.mode is managed")
        db_host = pg.host
    else:
        db_host = SELFHOST_DB_HOST
    database = deploy.odoo.database

    lines = [
        f"; odoo.conf for {deploy.project} {deploy.ship_version}, rendered by odoo-droplet.",
        f"; The first-boot agent rewrites it from {Layout().deploy_json}: edit the settings, not this.",
        "[options]",
        "; --- database",
        f"db_host = {_value('db_host', db_host, entrypoint_parsed=True)}",
        f"db_port = {_value('db_port', pg.port, entrypoint_parsed=True)}",
        f"db_user = {_value('db_user', pg.user, entrypoint_parsed=True)}",
        f"db_password = {_value('db_password', secrets.db_password, entrypoint_parsed=True)}",
    ]
    if pg.mode == "managed":
        # DigitalOcean's managed PostgreSQL accepts TLS connections only.
        lines.append(f"db_sslmode = {_value('db_sslmode', pg.sslmode)}")
    lines += [
        "; One database, always selected: with no db_name/dbfilter and more than one database,",
        "; /web/login redirects to the selector and /websocket answers 404.",
        f"db_name = {_value('db_name', database)}",
        f"dbfilter = {_value('dbfilter', dbfilter_for(database))}",
        "; The database manager (create, drop, backup over HTTP) stays closed.",
        "list_db = False",
        "; The master password, hashed (passlib pbkdf2-sha512, which Odoo verifies): nothing to steal here.",
        f"admin_passwd = {_value('admin_passwd', master_password_line(secrets.admin_passwd, salt, rounds))}",
        "; No demo data in a production database.",
        "without_demo = all",
        "; --- behind nginx: trust X-Forwarded-Host/For/Proto (applied only when X-Forwarded-Host is set),",
        "; so web.base.url and redirects use https and the public name.",
        "proxy_mode = True",
        f"http_port = {HTTP_PORT}",
        "; /websocket is served by the gevent process on this port when workers > 0 (longpolling_port is",
        "; ignored since Odoo 16, so it is not set).",
        f"gevent_port = {GEVENT_PORT}",
        "; --- processes and limits (firstboot/workers.py: 2 x vCPU + 1, bounded by memory, at least 2)",
        f"workers = {plan.workers}",
        f"max_cron_threads = {plan.max_cron_threads}",
        "; A worker past soft is recycled after its request; past hard it is killed at once, before the",
        "; kernel's OOM killer would pick PostgreSQL.",
        f"limit_memory_soft = {plan.limit_memory_soft}",
        f"limit_memory_hard = {plan.limit_memory_hard}",
        f"; nginx's proxy_read_timeout is {NGINX_READ_TIMEOUT}s: Odoo must not kill a request nginx still",
        "; waits for (the user would get a 502 instead of the long report), so limit_time_real is not",
        "; shorter. CPU time cannot exceed wall time, so the CPU limit stays below it.",
        f"limit_time_real = {LIMIT_TIME_REAL}",
        f"limit_time_cpu = {LIMIT_TIME_CPU}",
        "; --- files",
        f"data_dir = {DATA_DIR}",
        "; Odoo adds its own addons directory itself; extra addons are mounted here.",
        f"addons_path = {EXTRA_ADDONS}",
        "; Logs go to stdout, so `docker compose logs` and the proofs see them.",
        "log_level = info",
    ]
    return "\n".join(lines) + "\n"
