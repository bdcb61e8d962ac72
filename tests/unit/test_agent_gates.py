"""Gate verdicts (firstboot/gates.py): each gate's pass rule and its reason when it fails."""

from __future__ import annotations

from firstboot import gates as G
from firstboot.gates import CommandResult, ContainerInfo, HttpResult, ModuleRow

SERVICES = ("odoo", "db", "redis")


def cs(restarts: int = 0, state: str = "running", health: str = "healthy") -> list[ContainerInfo]:
    return [ContainerInfo("odoo", "o", state, health, restarts), ContainerInfo("db", "d", "running", "healthy"),
            ContainerInfo("redis", "r", "running", "")]


def test_container_up_needs_the_soak():
    assert not G.container_up([(0, cs())], SERVICES, 10).passed
    r = G.container_up([(0, cs()), (5, cs()), (11, cs())], SERVICES, 10)
    assert r.passed and "no restart for 11s" in r.detail


def test_container_up_restart_resets_the_soak_and_a_loop_is_terminal():
    r = G.container_up([(0, cs(0)), (11, cs(1)), (12, cs(1))], SERVICES, 10)
    assert not r.passed and not r.terminal and "soaking" in r.detail
    r = G.container_up([(0, cs(0)), (5, cs(3, "restarting", ""))], SERVICES, 10)
    assert not r.passed and r.terminal and "crash loop" in r.detail


def test_container_up_missing_unhealthy():
    r = G.container_up([(0, cs()[1:])], SERVICES, 0)
    assert not r.passed and "odoo: no container" in r.detail
    r = G.container_up([(0, cs(health="starting"))], SERVICES, 0)
    assert not r.passed and "starting" in r.detail


def test_health_internal_needs_db_server_status():
    ok = HttpResult("u", 200, 5, '{"status": "pass", "db_server_status": true}')
    assert G.health_internal(ok).passed
    assert not G.health_internal(HttpResult("u", 200, 5, '{"status": "pass"}')).passed
    down = G.health_internal(HttpResult("u", 500, 5, '{"db_server_status": false}'))
    assert not down.passed and down.detail.startswith("500")
    refused = G.health_internal(HttpResult("u", 0, 1, error="ConnectionRefusedError"))
    assert "no answer: ConnectionRefusedError" in refused.detail


def test_login_page_needs_the_form():
    form = '<form><input name="login"/><input name="password"/></form>'
    assert G.login_page(HttpResult("u", 200, 5, form)).passed
    r = G.login_page(HttpResult("u", 200, 5, "<html>database selector</html>"))
    assert not r.passed and "without a login form" in r.detail
    assert not G.login_page(HttpResult("u", 303, 5, "")).passed
    assert G.registry_loaded(HttpResult("u", 200, 5, form)).passed
    assert not G.registry_loaded(HttpResult("u", 500, 5, "Internal Server Error")).passed


def test_realtime_route_is_101_websocket():
    assert G.realtime_route(HttpResult("u", 101, 5, headers={"upgrade": "websocket"})).passed
    r = G.realtime_route(HttpResult("u", 400, 5, "Empty or missing header(s): origin"))
    assert not r.passed and "origin" in r.detail
    assert not G.realtime_route(HttpResult("u", 101, 5, headers={})).passed


def test_db_reachable():
    assert G.db_reachable(CommandResult((), 0, "/run/postgresql:5432 - accepting connections\n")).passed
    r = G.db_reachable(CommandResult((), 2, "/run/postgresql:5432 - no response\n"))
    assert not r.passed and "no response" in r.detail


def test_module_state():
    req = ("base", "web", "mail")
    rows = [ModuleRow("base", "18.0.1.3", "installed"), ModuleRow("web", "18.0.1.0", "installed"),
            ModuleRow("mail", "18.0.1.1", "installed")]
    assert G.module_state_ok(rows, req).passed
    r = G.module_state_ok(rows[:2], req)
    assert not r.passed and r.terminal and "unknown (no row): mail" in r.detail
    r = G.module_state_ok([*rows[:2], ModuleRow("mail", "", "to install")], req)
    assert "not installed: mail (to install)" in r.detail and "pending: mail" in r.detail
    r = G.module_state_ok([*rows, ModuleRow("bus", "", "to upgrade")], req)
    assert not r.passed and "pending: bus" in r.detail
    r = G.module_state_ok(None, req, 'database "odoo" does not exist')
    assert not r.passed and "does not exist" in r.detail


def test_round_outcome():
    ok, bad = G.GateResult("a", True, ""), G.GateResult("b", False, "")
    assert G.round_outcome([ok, ok], 1, 10) == "pass"
    assert G.round_outcome([ok, bad], 1, 10) == "retry"
    assert G.round_outcome([ok, bad], 10, 10) == "fail"
    assert G.round_outcome([ok, G.GateResult("c", False, "", terminal=True)], 1, 10) == "fail"
    assert len(G.GATE_NAMES) == 10
