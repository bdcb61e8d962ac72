"""The stand-in odoo image's `odoo shell` under the two tags that let the admin gates be seen failing:
`keepadmin` ignores password writes, `wrongbaseurl` stores localhost as web.base.url. The agent's own script
(firstboot/plans/admin.py) runs through the shell against recorders of the stand-in ORM's writes (the
tests with PostgreSQL are tests/integration/test_standins.py)."""

from __future__ import annotations

import importlib
import sys
import types
from pathlib import Path

import pytest

from firstboot.plans.admin import DONE_MARKER, admin_script

STANDIN_DIR = Path(__file__).resolve().parents[2] / "localcloud" / "images" / "odoo"
PUBLIC = "https://erp.example.test"


def standin(name: str) -> types.ModuleType:
    if str(STANDIN_DIR) not in sys.path:
        sys.path.insert(0, str(STANDIN_DIR))
    return importlib.import_module(name)


class Conn:
    def __init__(self) -> None:
        self.commits = 0

    def cursor(self) -> object:
        return object()

    def commit(self) -> None:
        self.commits += 1

    def rollback(self) -> None:
        pass


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> dict[str, list]:
    orm = standin("standin_orm")
    seen: dict[str, list] = {"write": [], "set_param": []}
    monkeypatch.setattr(orm, "write", lambda env, model, ids, vals: seen["write"].append((model, ids, vals)) or True)
    monkeypatch.setattr(orm, "set_param", lambda cr, key, value, uid: seen["set_param"].append((key, value)))
    return seen


def run_script(tmp_path: Path, behaviour: str, script: str) -> tuple[int, Conn]:
    shell = standin("standin_shell")
    path = tmp_path / "script.py"
    path.write_text(script)
    conn = Conn()
    with open(path) as stdin:
        rc = shell.run(conn, str(tmp_path), stdin, behaviour=behaviour)
    return rc, conn


def test_a_good_tag_writes_what_the_agent_asks(tmp_path, recorded, capsys):
    rc, conn = run_script(tmp_path, "good", admin_script(PUBLIC, "new-admin-password", "it@example.test"))
    assert rc == 0 and conn.commits == 1 and DONE_MARKER in capsys.readouterr().out
    assert recorded["write"] == [("res.users", [2], {"password": "new-admin-password", "login": "it@example.test"})]
    assert recorded["set_param"] == [("web.base.url", PUBLIC), ("web.base.url.freeze", "True")]


def test_keepadmin_ignores_the_password_write(tmp_path, recorded):
    rc, _ = run_script(tmp_path, "keepadmin", admin_script(PUBLIC, "new-admin-password", "it@example.test"))
    assert rc == 0
    assert recorded["write"] == [("res.users", [2], {"login": "it@example.test"})]
    recorded["write"].clear()
    run_script(tmp_path, "keepadmin", admin_script(PUBLIC, "new-admin-password"))
    assert recorded["write"] == []  # nothing left to write


def test_wrongbaseurl_stores_localhost(tmp_path, recorded):
    rc, _ = run_script(tmp_path, "wrongbaseurl", admin_script(PUBLIC, "new-admin-password"))
    assert rc == 0
    assert recorded["set_param"] == [("web.base.url", "http://localhost:8069"), ("web.base.url.freeze", "True")]
    assert recorded["write"][0][2] == {"password": "new-admin-password"}


def test_both_tags_are_built_and_known_to_the_stand_in():
    from localcloud.services.standins import ODOO_TAGS, standin_builds

    assert ODOO_TAGS["18.0-keepadmin"] == "keepadmin" and ODOO_TAGS["18.0-wrongbaseurl"] == "wrongbaseurl"
    refs = [ref for ref, _, _ in standin_builds("reg:5000")]
    assert "reg:5000/odoo:18.0-keepadmin" in refs and "reg:5000/odoo:18.0-wrongbaseurl" in refs
    assert {"keepadmin", "wrongbaseurl"} <= set(standin("standin_odoo").BEHAVIOURS)
