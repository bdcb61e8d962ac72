"""`odoo shell -d DB` as Odoo 18 runs it (stand-in): a script on stdin, with `env` as superuser.

Real Odoo (`odoo/cli/shell.py`): when stdin is not a terminal, the script read from it is executed with `env`
(an Environment on DB as the superuser), `self` (env.user) and `odoo` in scope, inside one transaction that is
**rolled back** at the end: a script that changes data calls `env.cr.commit()`. When stdin is a terminal, a
Python console starts. The stand-in gives the script the same names over the stand-in's ORM: enough for what
a deploy does non-interactively, e.g.

    admin = env.ref('base.user_admin')          # or env['res.users'].browse(2)
    admin.password = '...'                      # stored hashed, as Odoo does
    admin.login = 'it@example.com'
    env['ir.config_parameter'].sudo().set_param('web.base.url', 'https://erp.example.com')
    env.cr.commit()

Misbehaving tags (ODL_STANDIN_BEHAVIOUR, so the deploy's gates can be seen failing): `keepadmin` ignores
password writes on `res.users` (the admin keeps `admin`), `wrongbaseurl` stores `http://localhost:8069`
whatever `web.base.url` the script sets (as an addon overriding `set_param` would).

Recordsets support `browse`, `search`, `search_count`, `create`, `write`, `read`, `unlink`, field reads and
assignments, `ids`/`id`, iteration and `sudo()`/`with_context()`; `env.cr` is the real psycopg2 cursor.
"""

from __future__ import annotations

import code
import os
import sys
import traceback
from collections.abc import Iterator, Sequence
from typing import Protocol, TextIO

import standin_orm as orm


class Connection(Protocol):
    """The psycopg2 connection methods the shell uses."""

    def cursor(self) -> orm.Cursor: ...
    def commit(self) -> None: ...
    def rollback(self) -> None: ...


WRONG_BASE_URL = "http://localhost:8069"  # what the wrongbaseurl tag stores instead
XMLIDS = {
    "base.user_root": ("res.users", orm.SUPERUSER_ID),
    "base.user_admin": ("res.users", orm.ADMIN_ID),
    "base.public_user": ("res.users", orm.PUBLIC_USER_ID),
    "base.main_partner": ("res.partner", 1),
    "base.partner_root": ("res.partner", 2),
    "base.partner_admin": ("res.partner", 3),
}


class ConfigParameter:
    """`env['ir.config_parameter']`: get_param / set_param (sudo() is itself: the shell runs as superuser)."""

    def __init__(self, env: ShellEnv) -> None:
        self._env = env

    def sudo(self, flag: bool = True) -> ConfigParameter:
        return self

    def get_param(self, key: str, default: object = False) -> object:
        value = orm.get_param(self._env.orm_env().cr, key)
        return default if value is None else value

    def set_param(self, key: str, value: object) -> bool:
        if key == "web.base.url" and self._env.behaviour == "wrongbaseurl":
            print("odoo-droplet stand-in (wrongbaseurl): web.base.url rewritten", file=sys.stderr)
            value = WRONG_BASE_URL
        orm.set_param(self._env.orm_env().cr, key, value, self._env.uid)
        return True


class Records:
    """A recordset of one model over the stand-in ORM."""

    _env: ShellEnv
    _name: str
    ids: list[int]

    def __init__(self, env: ShellEnv, model: str, ids: Sequence[int] = ()) -> None:
        object.__setattr__(self, "_env", env)
        object.__setattr__(self, "_name", model)
        object.__setattr__(self, "ids", [int(i) for i in ids])

    def _orm(self) -> orm.Env:
        return self._env.orm_env()

    # -- recordset protocol
    def __iter__(self) -> Iterator[Records]:
        return iter([Records(self._env, self._name, [i]) for i in self.ids])

    def __len__(self) -> int:
        return len(self.ids)

    def __bool__(self) -> bool:
        return bool(self.ids)

    def __repr__(self) -> str:
        return f"{self._name}({', '.join(map(str, self.ids))}{',' if len(self.ids) == 1 else ''})"

    @property
    def id(self) -> int | bool:
        return self.ids[0] if len(self.ids) == 1 else False

    def sudo(self, flag: bool = True) -> Records:
        return self

    def with_context(self, *args: object, **kwargs: object) -> Records:
        return self

    def browse(self, ids: int | Sequence[int]) -> Records:
        return Records(self._env, self._name, [ids] if isinstance(ids, int) else list(ids))

    def search(
        self, domain: list[object], offset: int = 0, limit: int | None = None, order: str | None = None
    ) -> Records:
        return self.browse(orm.search(self._orm(), self._name, domain, offset, limit, order))

    def search_count(self, domain: list[object]) -> int:
        return orm.search_count(self._orm(), self._name, domain)

    def create(self, vals: dict[str, object] | list[dict[str, object]]) -> Records:
        ids = orm.create(self._orm(), self._name, vals)
        return self.browse(ids)

    def write(self, vals: dict[str, object]) -> bool:
        if self._name == "res.users" and "password" in vals and self._env.behaviour == "keepadmin":
            print("odoo-droplet stand-in (keepadmin): password write ignored", file=sys.stderr)
            vals = {k: v for k, v in vals.items() if k != "password"}
            if not vals:
                return True
        return orm.write(self._orm(), self._name, self.ids, vals)

    def read(self, fields: list[str] | None = None) -> list[dict[str, object]]:
        return orm.read(self._orm(), self._name, self.ids, fields)

    def unlink(self) -> bool:
        return orm.unlink(self._orm(), self._name, self.ids)

    # -- fields
    def __getattr__(self, name: str) -> object:
        if name.startswith("_"):
            raise AttributeError(name)
        if len(self.ids) != 1:
            raise ValueError(f"Expected singleton: {self!r}")
        return orm.read(self._orm(), self._name, self.ids, [name])[0][name]

    def __setattr__(self, name: str, value: object) -> None:
        self.write({name: value})


class Cursor:
    """env.cr: the psycopg2 cursor, with the connection's commit and rollback (as Odoo's Cursor has)."""

    def __init__(self, conn: Connection, cr: orm.Cursor) -> None:
        self._conn = conn
        self._cr = cr

    def __getattr__(self, name: str) -> object:
        return getattr(self._cr, name)

    def commit(self) -> None:
        self._conn.commit()

    def rollback(self) -> None:
        self._conn.rollback()

    def dictfetchall(self) -> list[dict[str, object]]:
        names = [d[0] for d in getattr(self._cr, "description", None) or ()]
        return [dict(zip(names, row, strict=True)) for row in self._cr.fetchall()]


class ShellEnv:
    """`odoo.api.Environment` as the shell hands it out: superuser, empty context."""

    def __init__(self, conn: Connection, filestore: str, behaviour: str = "good") -> None:
        self.behaviour = behaviour
        self._raw_cr = conn.cursor()
        self.cr = Cursor(conn, self._raw_cr)
        self.uid = orm.SUPERUSER_ID
        self.context: dict[str, object] = {}
        self._filestore = filestore

    def orm_env(self) -> orm.Env:
        return orm.Env(self._raw_cr, self.uid, self.context, self._filestore)

    def __getitem__(self, model: str) -> Records | ConfigParameter:
        if model == "ir.config_parameter":
            return ConfigParameter(self)
        if model not in orm.MODELS:
            raise KeyError(model)
        return Records(self, model)

    def ref(self, xmlid: str) -> Records:
        model, rid = XMLIDS[xmlid]
        return Records(self, model, [rid])

    @property
    def user(self) -> Records:
        return Records(self, "res.users", [self.uid])

    @property
    def company(self) -> Records:
        return Records(self, "res.partner", [1])


def run(conn: Connection, filestore: str, stdin: TextIO | None = None, behaviour: str | None = None) -> int:
    """Execute stdin's script (or start a console on a terminal); the transaction is rolled back at the end,
    so only what the script committed stays. Returns the exit status (1 when the script raised)."""
    stream = stdin if stdin is not None else sys.stdin
    env = ShellEnv(conn, filestore, behaviour or os.environ.get("ODL_STANDIN_BEHAVIOUR", "good"))
    local_vars: dict[str, object] = {"env": env, "self": env.user, "odoo": None}
    try:
        if os.isatty(stream.fileno()):
            code.interact(local=local_vars)
        else:
            local_vars["__name__"] = "__main__"
            exec(stream.read(), local_vars)  # noqa: S102 - running the given script is what `odoo shell` is for
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    except Exception:  # the script's own error: Odoo prints the traceback and exits 1
        traceback.print_exc()
        return 1
    finally:
        env.cr.rollback()
    return 0
