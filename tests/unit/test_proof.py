"""deploy_status.json and status.json (firstboot/proof.py): valid against the PRD's schema in every
outcome, Odoo's module states mapped to the schema's, our own fields beside."""

from __future__ import annotations

import datetime as dt
import json
from importlib import resources

import jsonschema
import pytest

from firstboot.config import BuildInfo, Deploy, OdooSpec
from firstboot.contract.ids import deploy_id_for
from firstboot.gates import GATE_NAMES, HttpResult, ModuleRow
from firstboot.proof import build_deploy_status, build_status, healthcheck_line, module_entries
from firstboot.records import CutoverRecord, RollbackRecord
from firstboot.state import Attempt, State

NOW = dt.datetime(2026, 11, 27, 3, 4, 5, tzinfo=dt.UTC)


def schema() -> dict:
    """The project's deploy_status schema (the PRD's, whole, plus the project's own fields)."""
    return json.loads(resources.files("firstboot.contract").joinpath("deploy_status.schema.json").read_text())


DEPLOY = Deploy(ship_version="1.4.0", odoo=OdooSpec(tag="18.0-b", modules=("base", "web", "sale")),
                build=BuildInfo(git_sha="0123456789abcdef0123456789abcdef01234567", git_ref="v1.4.0"))


def gates(passed: bool = True, failing: str = "") -> list[dict]:
    return [{"name": n, "passed": passed or n != failing, "detail": "d", "latency_ms": 7, "status_code": 200}
            for n in GATE_NAMES]


def state(status: str | None, attempts: list[Attempt], **kw) -> State:
    return State(deploy_id=deploy_id_for(NOW), started_at="2026-11-27T03:00:00Z", user_data=True,
                 status=status, attempts=attempts, **kw)


def test_deploy_id_format():
    assert deploy_id_for(NOW) == "deploy-20261127-030405"
    other = dt.datetime(2026, 11, 27, 5, 4, 5, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    assert deploy_id_for(other) == "deploy-20261127-030405"  # always UTC


def test_module_state_mapping():
    rows = [ModuleRow("base", "18.0.1.3", "installed"), ModuleRow("web", "", "to install"),
            ModuleRow("sale", "18.0.1.0", "to upgrade")]
    out = module_entries(rows, ("base", "web", "sale", "ghost"))
    assert [(m["name"], m["state"], m["odoo_state"]) for m in out] == [
        ("base", "installed", "installed"), ("web", "to_install", "to install"),
        ("sale", "to_install", "to upgrade"), ("ghost", "uninstalled", "missing")]


@pytest.mark.parametrize("status", ["success", "rolled_back", "failed", None])
def test_valid_against_schema_in_every_outcome(status):
    att = Attempt(tag="18.0-b", passed=status == "success", gates=gates(status == "success", "login_page"),
                  install={"exit_code": 0, "seconds": 41.5, "modules": module_entries(
                      [ModuleRow("base", "18.0.1.3", "installed")], ("base", "web"))},
                  containers={"odoo": {"state": "exited"}, "db": {"state": "running"}})
    st = state(status, [att], prior_tag="18.0-a", phases={"preflight": {"started": "x", "ended": "y",
                                                                        "seconds": 1.0, "ok": True}})
    doc = build_deploy_status(st, DEPLOY, NOW, edge_base="https://erp.example.test", proof_dir="/p")
    jsonschema.validate(doc, schema())
    assert doc["git_sha"] == DEPLOY.build.git_sha and doc["ship_version"] == "1.4.0"
    assert doc["container_status"]["odoo"]["state"] == "stopped"  # the schema's word for exited
    assert doc["modules"]["install_duration_seconds"] == 41.5
    assert doc["health_checks"]["healthcheck_log"] == "/p/healthcheck.log"
    if status == "success":
        assert doc["health_checks"]["overall"] is True and "error_message" not in doc
    else:
        assert doc["health_checks"]["overall"] is False and doc["error_message"]
        assert doc["status"] in ("rolled_back", "failed")


def test_fatal_before_any_attempt_is_still_a_valid_proof():
    st = state("failed", [], fatal="preflight: 1 vCPU / 512 MB cannot run 2 Odoo workers")
    doc = build_deploy_status(st, DEPLOY, NOW, edge_base="https://localhost", proof_dir="/p")
    jsonschema.validate(doc, schema())
    assert "cannot run 2 Odoo workers" in doc["error_message"]
    assert [m["state"] for m in doc["modules"]["installed"]] == ["uninstalled"] * 3


def test_rolled_back_proof_reports_the_serving_attempt_and_both_attempts():
    a0 = Attempt(tag="18.0-b", passed=False, gates=gates(False, "realtime_route"))
    a1 = Attempt(tag="18.0-a", passed=True, gates=gates())
    st = state("rolled_back", [a0, a1], prior_tag="18.0-a",
               rollback=RollbackRecord(performed=True, from_tag="18.0-b", to_tag="18.0-a"),
               cutover=CutoverRecord(reserved_ip="127.0.0.100", assigned=False, dns=None,
                                     reason="rolled back to the prior tag; 127.0.0.100 stays on droplet 1"))
    doc = build_deploy_status(st, DEPLOY, NOW, edge_base="https://erp.example.test", proof_dir="/p")
    assert doc["odoo_tag"] == "18.0-a" and all(g["passed"] for g in doc["gates"])
    assert [a["tag"] for a in doc["attempts"]] == ["18.0-b", "18.0-a"]
    assert not [g for g in doc["attempts"][0]["gates"] if g["name"] == "realtime_route"][0]["passed"]
    assert doc["rollback_info"] == {"previous_tag": "18.0-a", "rollback_available": True}
    assert "stays on droplet 1" in doc["cutover"]["reason"]
    # The typed records write the shape the untyped dicts had: only the keys that were set, in order.
    assert doc["rollback"] == {"performed": True, "from_tag": "18.0-b", "to_tag": "18.0-a"}
    assert list(doc["cutover"]) == ["reserved_ip", "assigned", "dns", "reason"] and doc["cutover"]["dns"] is None


def test_status_json_and_healthcheck_line():
    st = state(None, [Attempt(tag="t")], current="install", phases={"preflight": {"ok": True}})
    s = build_status(st, NOW)
    assert s["current"] == "install" and s["done"] is False and s["tag"] == "t"
    st.done.append("finalize")
    assert build_status(st, NOW)["done"] is True
    line = healthcheck_line("T", "login_page", HttpResult("https://d/web/login", 200, 12, "<html>\n<form"),
                            "ok", True, 12)
    assert line == "T login_page PASS url=https://d/web/login status=200 latency_ms=12 excerpt='<html> <form'\n"
