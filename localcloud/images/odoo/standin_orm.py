"""The few tables and ORM methods of Odoo 18 the stand-in models, on the real PostgreSQL (stand-in).

Tables created when `base` is installed, with the columns Odoo 18 gives them (a subset): `res_partner`,
`res_users` (passwords hashed as in `standin_passwords`), `ir_config_parameter` (with `database.secret`,
`database.uuid`, `database.create_date` and `web.base.url` = `http://localhost:<http_port>` as base's
`_default_parameters` writes them), `ir_attachment` (binary data in the filestore, as `ir_attachment.py`:
`<data_dir>/filestore/<db>/<sha1[:2]>/<sha1>`, `store_fname` = `<sha1[:2]>/<sha1>`, `checksum` = sha1,
`file_size`, `mimetype`; the file written once, content-addressed, and marked in `checklist/` for the
garbage collector). Records are those `-i base` leaves: partners 1-4 (company, OdooBot, Administrator,
Public user) and users 1 (`__system__`, inactive) and 2 (`admin`, password `admin`).

`call_kw` answers `create`, `read`, `search`, `search_read`, `search_count`, `write` and `unlink` on
`res.partner`, `ir.attachment` and (read, search and write of login/password) `res.users`, with Odoo's
domain syntax (prefix `&`, `|`, `!`), `active_test`, and `ir.attachment`'s hiding of field attachments.
Every authenticated user may do all of it (the stand-in has no access rules beyond "logged in").
"""

from __future__ import annotations

import base64
import binascii
import datetime
import hashlib
import hmac
import mimetypes
import os
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import standin_passwords as passwords

SUPERUSER_ID = 1
ADMIN_ID = 2
PUBLIC_USER_ID = 4
SYSTEM_USERS = frozenset({SUPERUSER_ID, ADMIN_ID})  # members of base.group_system after `-i base`
DEFAULT_ADMIN_PASSWORD = "admin"  # base's data, as real Odoo: change it at install


class Cursor(Protocol):
    """The psycopg2 cursor methods used here."""

    rowcount: int

    def execute(self, query: str, params: Sequence[object] | dict[str, object] | None = ...) -> None: ...
    def fetchone(self) -> tuple | None: ...
    def fetchall(self) -> list[tuple]: ...


class OrmError(Exception):
    """An exception as Odoo's JSON-RPC serialises it: `name` is the Python class path Odoo reports."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(message)
        self.name = name
        self.message = message


def access_denied() -> OrmError:
    return OrmError("odoo.exceptions.AccessDenied", "Access Denied")


SCHEMA = (
    """CREATE TABLE IF NOT EXISTS res_partner (
        id serial PRIMARY KEY, name varchar, complete_name varchar, email varchar, phone varchar,
        street varchar, city varchar, zip varchar, ref varchar, comment text, type varchar DEFAULT 'contact',
        is_company boolean DEFAULT false, active boolean DEFAULT true, company_id integer,
        create_uid integer, create_date timestamp without time zone DEFAULT (now() at time zone 'UTC'),
        write_uid integer, write_date timestamp without time zone DEFAULT (now() at time zone 'UTC'))""",
    """CREATE TABLE IF NOT EXISTS res_users (
        id serial PRIMARY KEY, login varchar NOT NULL, password varchar, active boolean DEFAULT true,
        partner_id integer NOT NULL REFERENCES res_partner(id), company_id integer DEFAULT 1,
        share boolean DEFAULT false,
        create_uid integer, create_date timestamp without time zone DEFAULT (now() at time zone 'UTC'),
        write_uid integer, write_date timestamp without time zone DEFAULT (now() at time zone 'UTC'),
        CONSTRAINT res_users_login_key UNIQUE (login))""",
    """CREATE TABLE IF NOT EXISTS ir_config_parameter (
        id serial PRIMARY KEY, key varchar NOT NULL, value text NOT NULL,
        create_uid integer, create_date timestamp without time zone DEFAULT (now() at time zone 'UTC'),
        write_uid integer, write_date timestamp without time zone DEFAULT (now() at time zone 'UTC'),
        CONSTRAINT ir_config_parameter_key_uniq UNIQUE (key))""",
    """CREATE TABLE IF NOT EXISTS ir_attachment (
        id serial PRIMARY KEY, name varchar NOT NULL, description text, res_model varchar, res_field varchar,
        res_id integer, company_id integer, type varchar NOT NULL DEFAULT 'binary', url varchar(1024),
        public boolean DEFAULT false, access_token varchar, db_datas bytea, store_fname varchar,
        file_size integer, checksum varchar(40), mimetype varchar, index_content text, original_id integer,
        create_uid integer, create_date timestamp without time zone DEFAULT (now() at time zone 'UTC'),
        write_uid integer, write_date timestamp without time zone DEFAULT (now() at time zone 'UTC'))""",
    """CREATE TABLE IF NOT EXISTS ir_cron (
        id serial PRIMARY KEY, cron_name varchar NOT NULL, active boolean DEFAULT true,
        interval_number integer DEFAULT 1, interval_type varchar DEFAULT 'days', nextcall timestamp without time zone,
        create_uid integer, create_date timestamp without time zone DEFAULT (now() at time zone 'UTC'),
        write_uid integer, write_date timestamp without time zone DEFAULT (now() at time zone 'UTC'))""",
    """CREATE TABLE IF NOT EXISTS ir_mail_server (
        id serial PRIMARY KEY, name varchar NOT NULL, smtp_host varchar, smtp_port integer DEFAULT 25,
        active boolean DEFAULT true,
        create_uid integer, create_date timestamp without time zone DEFAULT (now() at time zone 'UTC'),
        write_uid integer, write_date timestamp without time zone DEFAULT (now() at time zone 'UTC'))""",
    "CREATE INDEX IF NOT EXISTS ir_attachment_res_idx ON ir_attachment (res_model, res_id)",
    "CREATE INDEX IF NOT EXISTS ir_attachment_checksum_index ON ir_attachment (checksum)",
)

# (id, name, is_company, active, email) of the partners `-i base` creates, in Odoo's order.
BASE_PARTNERS = (
    (1, "My Company", True, True, None),
    (2, "OdooBot", False, True, "odoobot@example.com"),
    (3, "Administrator", False, True, "admin@yourcompany.example.com"),
    (4, "Public user", False, False, None),
)
# The crons `-i base` creates (base/data/ir_cron_data.xml), by name; neutralize keeps the first one running.
AUTOVACUUM_CRON = "Base: Auto-vacuum internal data"
BASE_CRONS = (AUTOVACUUM_CRON, "Base: Portal Users Deletion")
# (id, login, partner_id, active, share)
BASE_USERS = (
    (SUPERUSER_ID, "__system__", 2, False, False),
    (ADMIN_ID, "admin", 3, True, False),
    (PUBLIC_USER_ID, "public", 4, False, True),
)


def _one(cr: Cursor) -> tuple:
    """The row a query that always returns one (count(*), INSERT ... RETURNING) returned."""
    row = cr.fetchone()
    if row is None:
        raise OrmError("builtins.RuntimeError", "a query that returns a row returned none")
    return row


def now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M:%S")


def ensure_base(cr: Cursor, http_port: int) -> None:
    """What loading `base` leaves: the tables, base's records when missing, and no plaintext password
    (`res_users.init` hashes any, at every install or update of base)."""
    for ddl in SCHEMA:
        cr.execute(ddl)
    cr.execute("SELECT count(*) FROM res_partner")
    if not _one(cr)[0]:
        for pid, name, is_company, active, email in BASE_PARTNERS:
            cr.execute(
                "INSERT INTO res_partner (id, name, complete_name, is_company, active, email, company_id,"
                " create_uid, write_uid) VALUES (%s, %s, %s, %s, %s, %s, 1, 1, 1)",
                (pid, name, name, is_company, active, email),
            )
        cr.execute("SELECT setval('res_partner_id_seq', (SELECT max(id) FROM res_partner))")
    cr.execute("SELECT count(*) FROM res_users")
    if not _one(cr)[0]:
        for uid, login, partner_id, active, share in BASE_USERS:
            password = passwords.hash_password(DEFAULT_ADMIN_PASSWORD) if uid == ADMIN_ID else None
            cr.execute(
                "INSERT INTO res_users (id, login, password, active, partner_id, share, create_uid, write_uid)"
                " VALUES (%s, %s, %s, %s, %s, %s, 1, 1)",
                (uid, login, password, active, partner_id, share),
            )
        cr.execute("SELECT setval('res_users_id_seq', (SELECT max(id) FROM res_users))")
    cr.execute("SELECT count(*) FROM ir_cron")
    if not _one(cr)[0]:
        for name in BASE_CRONS:
            cr.execute("INSERT INTO ir_cron (cron_name, create_uid, write_uid) VALUES (%s, 1, 1)", (name,))
    defaults: dict[str, Callable[[], str]] = {
        "database.secret": lambda: str(uuid.uuid4()),
        "database.uuid": lambda: str(uuid.uuid1()),
        "database.create_date": now,
        "web.base.url": lambda: f"http://localhost:{http_port}",
    }
    for key, make in defaults.items():
        if get_param(cr, key) is None:
            set_param(cr, key, make(), SUPERUSER_ID)
    cr.execute("SELECT id, password FROM res_users WHERE password IS NOT NULL AND password !~ '^\\$[^$]+\\$[^$]+\\$.'")
    for uid, plain in cr.fetchall():
        cr.execute("UPDATE res_users SET password = %s WHERE id = %s", (passwords.hash_password(plain), uid))


def has_base_tables(cr: Cursor) -> bool:
    cr.execute("SELECT to_regclass('public.res_users') IS NOT NULL")
    row = cr.fetchone()
    return bool(row and row[0])


# ----------------------------------------------------------------------------------------- ir.config_parameter


def get_param(cr: Cursor, key: str) -> str | None:
    cr.execute("SELECT value FROM ir_config_parameter WHERE key = %s", (key,))
    row = cr.fetchone()
    return None if row is None else str(row[0])


def set_param(cr: Cursor, key: str, value: object, uid: int) -> None:
    """`ir.config_parameter.set_param`: False/None removes the key, anything else is stored as text."""
    if value is None or value is False:
        cr.execute("DELETE FROM ir_config_parameter WHERE key = %s", (key,))
        return
    cr.execute(
        "INSERT INTO ir_config_parameter (key, value, create_uid, write_uid) VALUES (%s, %s, %s, %s)"
        " ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, write_uid = EXCLUDED.write_uid,"
        " write_date = now() at time zone 'UTC'",
        (key, str(value), uid, uid),
    )


# ----------------------------------------------------------------------------------------- neutralize

# `odoo neutralize -d DB` (odoo/cli/neutralize.py): every installed module's data/neutralize.sql, in one
# transaction. What base's does that a user notices: no cron runs (but the autovacuum), no outgoing mail
# server is used, and the database says it is neutralized (the web client shows a banner).
NEUTRALIZE_SQL = (
    "UPDATE ir_cron SET active = false WHERE cron_name <> %s",
    "UPDATE ir_mail_server SET active = false",
    "INSERT INTO ir_config_parameter (key, value, create_uid, write_uid) VALUES ('database.is_neutralized', 'true', 1, 1)"
    " ON CONFLICT (key) DO UPDATE SET value = 'true', write_date = now() at time zone 'UTC'",
)


def neutralize(cr: Cursor) -> None:
    """The statements of `odoo neutralize`, on a database that has base (the caller commits)."""
    if not has_base_tables(cr):
        raise OrmError("odoo.exceptions.UserError", "the database has no base module: nothing to neutralize")
    for ddl in SCHEMA:  # a database made before these tables existed gets them, as `-u base` would
        cr.execute(ddl)
    cr.execute(NEUTRALIZE_SQL[0], (AUTOVACUUM_CRON,))
    for sql in NEUTRALIZE_SQL[1:]:
        cr.execute(sql)


# ----------------------------------------------------------------------------------------- res.users


def authenticate(cr: Cursor, login: str, password: str) -> int | None:
    """`res.users._login` + `_check_credentials`: the active user's id when the password matches (its hash
    refreshed when passlib would refresh it), else None."""
    if not login or not password:
        return None
    cr.execute("SELECT id, password FROM res_users WHERE login = %s AND active ORDER BY id LIMIT 1", (login,))
    row = cr.fetchone()
    if row is None:
        return None
    uid, stored = int(row[0]), row[1]
    ok, replacement = passwords.verify_and_update(password, stored)
    if not ok:
        return None
    if replacement:
        cr.execute("UPDATE res_users SET password = %s WHERE id = %s", (replacement, uid))
    return uid


def session_token(cr: Cursor, uid: int, sid: str) -> str | None:
    """`res.users._compute_session_token`: an HMAC of the session id over the user's id, login, password
    and active flag, keyed by database.secret, so a new password (or login) ends every session of the user."""
    cr.execute("SELECT id, login, password, active FROM res_users WHERE id = %s", (uid,))
    row = cr.fetchone()
    secret = get_param(cr, "database.secret")
    if row is None or not secret or not row[3]:
        return None
    material = "|".join(str(v) for v in row)
    return hmac.new(secret.encode(), f"{material}|{sid}".encode(), hashlib.sha256).hexdigest()


def user_info(cr: Cursor, uid: int) -> dict[str, object]:
    cr.execute(
        "SELECT u.login, p.name, u.partner_id, u.company_id FROM res_users u JOIN res_partner p ON p.id = u.partner_id"
        " WHERE u.id = %s",
        (uid,),
    )
    row = cr.fetchone()
    if row is None:
        raise OrmError(
            "odoo.exceptions.MissingError", f"Record does not exist or has been deleted. (res.users({uid},))"
        )
    return {"login": row[0], "name": row[1], "partner_id": row[2], "company_id": row[3]}


# ----------------------------------------------------------------------------------------- filestore


def filestore(data_dir: str, db: str) -> str:
    """`config.filestore(db)`."""
    return os.path.join(data_dir, "filestore", db)


def file_write(root: str, data: bytes, checksum: str) -> str:
    """`ir.attachment._file_write`: content-addressed and written once; the name is marked for the GC."""
    fname = f"{checksum[:2]}/{checksum}"
    full = os.path.join(root, fname)
    os.makedirs(os.path.dirname(full), exist_ok=True)
    if not os.path.exists(full):
        tmp = f"{full}.{os.getpid()}.tmp"
        with open(tmp, "wb") as fh:
            fh.write(data)
        os.replace(tmp, full)
        mark = os.path.join(root, "checklist", fname)
        os.makedirs(os.path.dirname(mark), exist_ok=True)
        open(mark, "ab").close()
    return fname


def file_read(root: str, fname: str) -> bytes | None:
    """`ir.attachment._file_read`: None (Odoo: empty, with an info log) when the file is missing."""
    try:
        with open(os.path.join(root, fname), "rb") as fh:
            return fh.read()
    except OSError:
        return None


MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"%PDF-", "application/pdf"),
    (b"PK\x03\x04", "application/zip"),
    (b"<svg", "image/svg+xml"),
)


def guess_mimetype(data: bytes) -> str:
    """A few of `odoo.tools.mimetypes.guess_mimetype`'s magic numbers; text when it decodes as UTF-8."""
    for magic, mime in MAGIC:
        if data.startswith(magic):
            return mime
    try:
        data[:1024].decode("utf-8")
    except UnicodeDecodeError:
        return "application/octet-stream"
    return "text/plain"


def compute_mimetype(vals: dict[str, object], data: bytes | None) -> str:
    """`ir.attachment._compute_mimetype`: given, else from the name, else the URL, else the bytes."""
    mime = str(vals["mimetype"]) if vals.get("mimetype") else None
    if not mime and vals.get("name"):
        mime = mimetypes.guess_type(str(vals["name"]))[0]
    if not mime and vals.get("url"):
        mime = mimetypes.guess_type(str(vals["url"]).split("?")[0])[0]
    if (not mime or mime == "application/octet-stream") and data:
        mime = guess_mimetype(data)
    return (mime or "application/octet-stream").lower()


# ----------------------------------------------------------------------------------------- models


@dataclass(frozen=True)
class ModelSpec:
    table: str
    fields: dict[str, str]  # field -> kind: char, text, int, bool, m2o, datetime, binary (computed datas)
    writable: frozenset[str]
    has_active: bool = False
    default_order: str = "id"
    name_field: str = "name"
    computed: dict[str, str] = field(default_factory=dict)  # field -> SQL expression


AUDIT = {"create_uid": "m2o", "create_date": "datetime", "write_uid": "m2o", "write_date": "datetime"}

MODELS: dict[str, ModelSpec] = {
    "res.partner": ModelSpec(
        table="res_partner",
        fields={
            "id": "int",
            "name": "char",
            "display_name": "char",
            "complete_name": "char",
            "email": "char",
            "phone": "char",
            "street": "char",
            "city": "char",
            "zip": "char",
            "ref": "char",
            "comment": "text",
            "type": "char",
            "is_company": "bool",
            "active": "bool",
            "company_id": "m2o",
            **AUDIT,
        },
        writable=frozenset(
            {"name", "email", "phone", "street", "city", "zip", "ref", "comment", "type", "is_company", "active"}
        ),
        has_active=True,
        default_order="complete_name, id DESC",  # res.partner's _order
        computed={"display_name": "complete_name"},
    ),
    "ir.attachment": ModelSpec(
        table="ir_attachment",
        fields={
            "id": "int",
            "name": "char",
            "display_name": "char",
            "description": "text",
            "res_model": "char",
            "res_field": "char",
            "res_id": "int",
            "company_id": "m2o",
            "type": "char",
            "url": "char",
            "public": "bool",
            "access_token": "char",
            "store_fname": "char",
            "file_size": "int",
            "checksum": "char",
            "mimetype": "char",
            "index_content": "text",
            "datas": "binary",
            **AUDIT,
        },
        writable=frozenset(
            {"name", "description", "res_model", "res_field", "res_id", "type", "url", "public", "mimetype", "datas"}
        ),
        default_order="id DESC",  # ir.attachment's _order
        computed={"display_name": "name"},
    ),
    "res.users": ModelSpec(
        table="res_users",
        fields={
            "id": "int",
            "login": "char",
            "active": "bool",
            "partner_id": "m2o",
            "company_id": "m2o",
            "share": "bool",
            "name": "char",
            "display_name": "char",
            **AUDIT,
        },
        writable=frozenset({"login", "password"}),
        has_active=True,
        default_order="login",
        name_field="login",
        computed={
            "name": "(SELECT p.name FROM res_partner p WHERE p.id = res_users.partner_id)",
            "display_name": "(SELECT p.name FROM res_partner p WHERE p.id = res_users.partner_id)",
        },
    ),
}
M2O_TABLE = {"create_uid": "res_users", "write_uid": "res_users", "partner_id": "res_partner", "company_id": None}


def _model(name: str) -> ModelSpec:
    if name not in MODELS:
        raise OrmError("builtins.KeyError", repr(name))
    return MODELS[name]


def _column(spec: ModelSpec, name: str) -> str:
    if name == "password" or name not in spec.fields or spec.fields[name] == "binary":
        raise OrmError("builtins.ValueError", f"Invalid field {name!r} on model {_model_name(spec)!r}")
    return spec.computed.get(name, f'"{name}"')


def _model_name(spec: ModelSpec) -> str:
    return next(k for k, v in MODELS.items() if v is spec)


OPERATORS = {
    "=": "=",
    "!=": "!=",
    "<>": "!=",
    "<": "<",
    ">": ">",
    "<=": "<=",
    ">=": ">=",
    "like": "LIKE",
    "ilike": "ILIKE",
    "not like": "NOT LIKE",
    "not ilike": "NOT ILIKE",
    "=like": "LIKE",
    "=ilike": "ILIKE",
}


def _leaf(spec: ModelSpec, leaf: Sequence[object]) -> tuple[str, list[object]]:
    if len(leaf) != 3:
        raise OrmError("builtins.ValueError", f"Invalid leaf {list(leaf)!r}")
    fname, op, value = str(leaf[0]), str(leaf[1]).lower(), leaf[2]
    col = _column(spec, fname)
    if op in ("in", "not in"):
        values = list(value) if isinstance(value, list | tuple) else [value]
        if not values:
            return ("FALSE" if op == "in" else "TRUE"), []
        neg = "NOT " if op == "not in" else ""
        return f"({neg}({col} = ANY(%s)))", [values]
    if op not in OPERATORS:
        raise OrmError("builtins.ValueError", f"Invalid operator {op!r}")
    if value is False or value is None:
        if op in ("=", "!=", "<>"):
            is_null = op == "="
            if spec.fields[fname] == "bool":
                return (f"({col} IS NULL OR {col} = false)" if is_null else f"({col} = true)"), []
            return (f"{col} IS NULL" if is_null else f"{col} IS NOT NULL"), []
    if op in ("like", "ilike", "not like", "not ilike"):
        value = f"%{value}%"
    if op in ("like", "ilike", "=like", "=ilike"):
        return f"({col})::text {OPERATORS[op]} %s", [value]
    if op in ("not like", "not ilike"):
        return f"(({col})::text {OPERATORS[op]} %s OR {col} IS NULL)", [value]
    return f"{col} {OPERATORS[op]} %s", [value]


def where_clause(spec: ModelSpec, domain: Sequence[object]) -> tuple[str, list[object]]:
    """Odoo's prefix-notation domain as SQL (an implicit `&` between terms)."""
    items = list(domain or [])
    params: list[object] = []

    def parse(pos: int) -> tuple[str, int]:
        if pos >= len(items):
            raise OrmError("builtins.ValueError", f"Invalid domain {domain!r}")
        item = items[pos]
        if item in ("&", "|"):
            left, nxt = parse(pos + 1)
            right, nxt = parse(nxt)
            return f"({left} {'AND' if item == '&' else 'OR'} {right})", nxt
        if item == "!":
            inner, nxt = parse(pos + 1)
            return f"(NOT {inner})", nxt
        if isinstance(item, list | tuple):
            sql, p = _leaf(spec, item)
            params.extend(p)
            return sql, pos + 1
        raise OrmError("builtins.ValueError", f"Invalid domain term {item!r}")

    parts: list[str] = []
    pos = 0
    while pos < len(items):
        sql, pos = parse(pos)
        parts.append(sql)
    return (" AND ".join(parts) or "TRUE"), params


def _fields_in(domain: Sequence[object]) -> set[str]:
    return {str(t[0]) for t in domain or [] if isinstance(t, list | tuple) and t}


def _order_by(spec: ModelSpec, order: object) -> str:
    if not order:
        return spec.default_order
    out = []
    for part in str(order).split(","):
        words = part.split()
        if not words or len(words) > 2 or (len(words) == 2 and words[1].lower() not in ("asc", "desc")):
            raise OrmError("builtins.ValueError", f"Invalid order {order!r}")
        out.append(f"{_column(spec, words[0])} {words[1].upper() if len(words) == 2 else 'ASC'}")
    return ", ".join(out)


@dataclass
class Env:
    """What a method call runs with: cursor, user, context, and where this database's files are."""

    cr: Cursor
    uid: int
    context: dict[str, object]
    filestore: str


def search(
    env: Env, model: str, domain: Sequence[object], offset: int = 0, limit: int | None = None, order: object = None
) -> list[int]:
    spec = _model(model)
    domain = list(domain or [])
    fields = _fields_in(domain)
    if spec.has_active and "active" not in fields and env.context.get("active_test", True):
        domain = ["&", ("active", "=", True), *domain] if domain else [("active", "=", True)]
    if model == "ir.attachment" and not ({"id", "res_field"} & fields):
        # ir.attachment._search: attachments of binary fields stay hidden unless asked for.
        domain = ["&", ("res_field", "=", False), *domain] if domain else [("res_field", "=", False)]
    where, params = where_clause(spec, domain)
    sql = f"SELECT id FROM {spec.table} WHERE {where} ORDER BY {_order_by(spec, order)}"
    if limit:
        sql += f" LIMIT {int(limit)}"
    if offset:
        sql += f" OFFSET {int(offset)}"
    env.cr.execute(sql, params)
    return [int(r[0]) for r in env.cr.fetchall()]


def search_count(env: Env, model: str, domain: Sequence[object], limit: int | None = None) -> int:
    return len(search(env, model, domain, limit=limit))


def _format(kind: str, value: object) -> object:
    if value is None:
        return False
    if kind == "datetime" and isinstance(value, datetime.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    return value


def read(env: Env, model: str, ids: Sequence[int], fields: Sequence[str] | None = None) -> list[dict[str, object]]:
    spec = _model(model)
    names = [f for f in (fields or spec.fields) if f != "id"]
    for f in names:
        if f not in spec.fields or f == "password":
            raise OrmError("builtins.ValueError", f"Invalid field {f!r} on model {model!r}")
    plain = [f for f in names if spec.fields[f] != "binary"]
    cols = ", ".join(["id", *(_column(spec, f) for f in plain)])
    extra = ", store_fname, db_datas" if model == "ir.attachment" and "datas" in names else ""
    env.cr.execute(f"SELECT {cols}{extra} FROM {spec.table} WHERE id = ANY(%s)", (list(ids),))
    rows = {int(r[0]): r for r in env.cr.fetchall()}
    missing = [i for i in ids if int(i) not in rows]
    if missing:
        raise OrmError(
            "odoo.exceptions.MissingError",
            f"Record does not exist or has been deleted.\n(Record: {model}({', '.join(map(str, missing))},), User: {env.uid})",
        )
    out = []
    for i in ids:
        row = rows[int(i)]
        rec: dict[str, object] = {"id": int(i)}
        for idx, f in enumerate(plain, start=1):
            kind = spec.fields[f]
            value = _format(kind, row[idx])
            if kind == "m2o" and value is not False:
                value = [value, _display_name(env, f, int(str(value)))]
            rec[f] = value
        if extra:
            fname, db_datas = row[-2], row[-1]
            data = file_read(env.filestore, fname) if fname else (bytes(db_datas) if db_datas is not None else None)
            rec["datas"] = base64.b64encode(data).decode() if data else False
        out.append({k: rec[k] for k in ["id", *names] if k in rec})
    return out


def _display_name(env: Env, fname: str, rid: int) -> str:
    table = M2O_TABLE.get(fname)
    if table == "res_users":
        env.cr.execute(
            "SELECT p.name FROM res_users u JOIN res_partner p ON p.id = u.partner_id WHERE u.id = %s", (rid,)
        )
    elif table == "res_partner":
        env.cr.execute("SELECT complete_name FROM res_partner WHERE id = %s", (rid,))
    else:
        return "My Company" if fname == "company_id" else str(rid)
    row = env.cr.fetchone()
    return str(row[0]) if row else str(rid)


def _check_vals(spec: ModelSpec, model: str, vals: object) -> dict[str, object]:
    if not isinstance(vals, dict):
        raise OrmError("builtins.ValueError", f"Invalid values {vals!r} for {model}")
    for key in vals:
        if key not in spec.writable:
            raise OrmError("builtins.ValueError", f"Invalid field {key!r} on model {model!r}")
    return dict(vals)


def _attachment_columns(env: Env, vals: dict[str, object]) -> dict[str, object]:
    """`ir.attachment._check_contents` / `_get_datas_related_values`: `datas` becomes a file + its facts."""
    out = {k: v for k, v in vals.items() if k != "datas"}
    if "datas" in vals:
        try:
            data = base64.b64decode(str(vals["datas"] or ""), validate=False)
        except (binascii.Error, ValueError) as e:
            raise OrmError("binascii.Error", str(e)) from e
        checksum = hashlib.sha1(data).hexdigest()
        out.update(file_size=len(data), checksum=checksum, store_fname=None, db_datas=None, index_content=None)
        if data:
            out["store_fname"] = file_write(env.filestore, data, checksum)
        else:
            out["db_datas"] = data
        out["mimetype"] = compute_mimetype(vals, data)
    elif "mimetype" not in vals and "name" in vals and "url" in vals:
        out["mimetype"] = compute_mimetype(vals, None)
    return out


def _columns_for(env: Env, model: str, vals: dict[str, object]) -> dict[str, object]:
    if model == "ir.attachment":
        return _attachment_columns(env, vals)
    if model == "res.partner":
        out = dict(vals)
        if "name" in vals:
            out["complete_name"] = vals["name"]
        return out
    out = dict(vals)
    if "password" in vals:
        # res.users._set_password: only the hash is stored; an empty value keeps the old password.
        if not vals["password"]:
            out.pop("password")
        else:
            out["password"] = passwords.hash_password(str(vals["password"]))
    if "login" in vals and not str(vals["login"] or "").strip():
        raise OrmError("odoo.exceptions.ValidationError", "A user's login cannot be empty.")
    return out


def create(env: Env, model: str, vals_list: object) -> int | list[int]:
    spec = _model(model)
    if model == "res.users":
        raise OrmError("odoo.exceptions.AccessError", "The stand-in does not create users.")
    single = isinstance(vals_list, dict)
    items = [vals_list] if single else list(vals_list) if isinstance(vals_list, list) else None
    if items is None:
        raise OrmError("builtins.ValueError", f"Invalid values {vals_list!r} for {model}")
    ids = []
    for vals in items:
        cols = _columns_for(env, model, _check_vals(spec, model, vals))
        if model == "ir.attachment":
            cols.setdefault("name", "")
            cols.setdefault("type", "binary")
        if model == "res.partner" and not cols.get("name") and not cols.get("email"):
            raise OrmError("odoo.exceptions.ValidationError", "Contacts require a name")
        cols.update(create_uid=env.uid, write_uid=env.uid)
        names = ", ".join(f'"{c}"' for c in cols)
        marks = ", ".join(["%s"] * len(cols))
        env.cr.execute(f"INSERT INTO {spec.table} ({names}) VALUES ({marks}) RETURNING id", list(cols.values()))
        ids.append(int(_one(env.cr)[0]))
    return ids[0] if single else ids


def write(env: Env, model: str, ids: Sequence[int], vals: object) -> bool:
    spec = _model(model)
    cols = _columns_for(env, model, _check_vals(spec, model, vals))
    read(env, model, ids, ["id"])  # MissingError as Odoo raises it
    if model == "res.users" and "login" in cols:
        env.cr.execute("SELECT id FROM res_users WHERE login = %s AND NOT (id = ANY(%s))", (cols["login"], list(ids)))
        if env.cr.fetchone():
            raise OrmError("odoo.exceptions.ValidationError", "You can not have two users with the same login!")
    cols.update(write_uid=env.uid)
    sets = ", ".join(f'"{c}" = %s' for c in cols) + ", write_date = now() at time zone 'UTC'"
    env.cr.execute(f"UPDATE {spec.table} SET {sets} WHERE id = ANY(%s)", [*cols.values(), list(ids)])
    return True


def unlink(env: Env, model: str, ids: Sequence[int]) -> bool:
    spec = _model(model)
    if model == "res.users":
        raise OrmError("odoo.exceptions.UserError", "You can not remove the admin user as it is used internally.")
    read(env, model, ids, ["id"])
    # Files stay: Odoo's filestore garbage collector removes unreferenced ones later (checklist/).
    env.cr.execute(f"DELETE FROM {spec.table} WHERE id = ANY(%s)", (list(ids),))
    return True


def _ids(value: object) -> list[int]:
    if isinstance(value, int):
        return [value]
    if isinstance(value, list | tuple) and all(isinstance(v, int) for v in value):
        return [int(v) for v in value]
    raise OrmError("builtins.TypeError", f"Invalid record ids {value!r}")


def _names(value: object) -> list[str] | None:
    if not value:
        return None
    if isinstance(value, list | tuple):
        return [str(v) for v in value]
    raise OrmError("builtins.TypeError", f"Invalid field list {value!r}")


def _arg(args: Sequence[object], kwargs: dict[str, object], index: int, name: str, default: object) -> object:
    if name in kwargs:
        return kwargs[name]
    return args[index] if len(args) > index else default


def call_kw(env: Env, model: str, method: str, args: Sequence[object], kwargs: dict[str, object]) -> object:
    """`odoo.api.call_kw` for the methods above (positional arguments as Odoo's signatures take them)."""
    context = kwargs.pop("context", None)
    if isinstance(context, dict):
        env = Env(env.cr, env.uid, {**env.context, **context}, env.filestore)
    args = list(args)
    if method == "create":
        return create(env, model, _arg(args, kwargs, 0, "vals_list", {}))
    if method == "read":
        return read(env, model, _ids(_arg(args, kwargs, 0, "ids", [])), _names(_arg(args, kwargs, 1, "fields", None)))
    if method == "write":
        return write(env, model, _ids(_arg(args, kwargs, 0, "ids", [])), _arg(args, kwargs, 1, "vals", {}))
    if method == "unlink":
        return unlink(env, model, _ids(_arg(args, kwargs, 0, "ids", [])))
    if method in ("search", "search_read", "search_count"):
        domain = _arg(args, kwargs, 0, "domain", [])
        if not isinstance(domain, list):
            raise OrmError("builtins.ValueError", f"Invalid domain {domain!r}")
        if method == "search_count":
            limit = _arg(args, kwargs, 1, "limit", None)
            return search_count(env, model, domain, int(str(limit)) if limit else None)
        if method == "search":
            offset, limit, order = (
                _arg(args, kwargs, i, n, d) for i, n, d in ((1, "offset", 0), (2, "limit", None), (3, "order", None))
            )
        else:
            offset, limit, order = (
                _arg(args, kwargs, i, n, d) for i, n, d in ((2, "offset", 0), (3, "limit", None), (4, "order", None))
            )
        ids = search(env, model, domain, int(str(offset or 0)), int(str(limit)) if limit else None, order)
        if method == "search":
            return ids
        return read(env, model, ids, _names(_arg(args, kwargs, 1, "fields", None))) if ids else []
    raise OrmError(
        "builtins.AttributeError",
        f"The method '{method}' does not exist on the model '{model}' (odoo-droplet stand-in)",
    )


def attachment_content(env: Env, att_id: int, public_only: bool) -> tuple[bytes, str, str, str] | None:
    """(bytes, mimetype, name, checksum) for /web/content, or None when missing or not readable (Odoo: 404)."""
    env.cr.execute(
        "SELECT name, mimetype, checksum, store_fname, db_datas, public, type, url FROM ir_attachment WHERE id = %s",
        (att_id,),
    )
    row = env.cr.fetchone()
    if row is None or (public_only and not row[5]) or row[6] != "binary":
        return None
    name, mime, checksum, fname, db_datas = row[0], row[1], row[2], row[3], row[4]
    data = file_read(env.filestore, fname) if fname else (bytes(db_datas) if db_datas is not None else b"")
    if data is None:
        return None
    return data, mime or "application/octet-stream", name or "", checksum or ""
