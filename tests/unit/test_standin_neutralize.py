"""The stand-in odoo image's `odoo neutralize -d DB` (what the restore drill runs on its scratch copy): base's
neutralize.sql as Odoo 18 runs it, against a recording cursor (the run against PostgreSQL is the e2e drill's)."""

from __future__ import annotations

import importlib
import sys
import types
from pathlib import Path

import pytest

STANDIN_DIR = Path(__file__).resolve().parents[2] / "localcloud" / "images" / "odoo"


def standin(name: str) -> types.ModuleType:
    if str(STANDIN_DIR) not in sys.path:
        sys.path.insert(0, str(STANDIN_DIR))
    return importlib.import_module(name)


class Cursor:
    def __init__(self, has_base: bool = True) -> None:
        self.has_base = has_base
        self.sql: list[tuple[str, object]] = []

    def execute(self, query: str, params: object = None) -> None:
        self.sql.append((" ".join(query.split()), params))

    def fetchone(self) -> tuple:
        return (self.has_base,)

    def fetchall(self) -> list[tuple]:
        return []

    def __enter__(self) -> Cursor:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


def test_neutralize_turns_crons_but_the_autovacuum_and_mail_servers_off_and_flags_the_database():
    orm = standin("standin_orm")
    cr = Cursor()
    orm.neutralize(cr)
    sql = [q for q, _ in cr.sql]
    assert ("UPDATE ir_cron SET active = false WHERE cron_name <> %s", (orm.AUTOVACUUM_CRON,)) in cr.sql
    assert "UPDATE ir_mail_server SET active = false" in sql
    flag = next(q for q in sql if "database.is_neutralized" in q)
    assert flag.startswith("INSERT INTO ir_config_parameter") and "DO UPDATE SET value = 'true'" in flag
    # the tables exist first (a database made before they did gets them), then the updates
    assert sql.index("UPDATE ir_mail_server SET active = false") > max(
        i for i, q in enumerate(sql) if q.startswith("CREATE TABLE IF NOT EXISTS ir_mail_server"))
    assert any(q.startswith("CREATE TABLE IF NOT EXISTS ir_cron") for q in sql)


def test_neutralize_refuses_a_database_without_base():
    orm = standin("standin_orm")
    with pytest.raises(orm.OrmError, match="no base"):
        orm.neutralize(Cursor(has_base=False))


def test_base_creates_the_crons_neutralize_acts_on():
    orm = standin("standin_orm")
    assert orm.AUTOVACUUM_CRON in orm.BASE_CRONS and len(orm.BASE_CRONS) > 1


class Conn:
    def __init__(self, cr: Cursor) -> None:
        self.cr, self.commits, self.rollbacks, self.closed = cr, 0, 0, False

    def cursor(self) -> Cursor:
        return self.cr

    def commit(self) -> None:
        self.commits += 1

    def rollback(self) -> None:
        self.rollbacks += 1

    def close(self) -> None:
        self.closed = True


def test_the_odoo_command_dispatches_neutralize_and_commits_once(monkeypatch, tmp_path):
    odoo = standin("standin_odoo")
    conn = Conn(Cursor())
    asked: list[str] = []
    monkeypatch.setattr(odoo, "connect", lambda conf, db, timeout=5: asked.append(db) or conn)
    monkeypatch.setattr(odoo, "_psycopg2", lambda: types.SimpleNamespace(Error=OSError))
    env = {"ODOO_RC": str(tmp_path / "none.conf")}
    assert odoo.main(["neutralize", "-d", "odoo_drill_20261203t030000z"], env) == 0
    assert asked == ["odoo_drill_20261203t030000z"] and conn.commits == 1 and conn.closed
    assert any("database.is_neutralized" in q for q, _ in conn.cr.sql)
    assert odoo.main(["neutralize"], env) == 1  # no database named: refused, nothing touched
    bad = Conn(Cursor(has_base=False))
    monkeypatch.setattr(odoo, "connect", lambda conf, db, timeout=5: bad)
    assert odoo.main(["neutralize", "-d", "empty"], env) == 1 and bad.rollbacks == 1 and bad.commits == 0
