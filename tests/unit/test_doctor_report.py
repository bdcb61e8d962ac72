"""The report's shapes: the JSON issue 14 names (healthy, cause, checks), the text an operator reads (the
cause first, then the table), and the exit status (0 healthy, 1 a cause, 2 bad input)."""

from __future__ import annotations

import json

from builder.doctor import commands as c
from builder.doctor import diagnose, parse_all, render_text
from builder.doctor.causes import Cause
from builder.doctor.checks import Check, Result
from builder.doctor.facts import CommandOutput
from builder.doctor.report import EXIT_BAD_INPUT, EXIT_CAUSE_FOUND, EXIT_HEALTHY, DoctorReport
from tests.unit.doctor_droplet import FAULTS, NOW, TARGET, healthy_edge, healthy_outputs, with_fault


def test_json_shape_of_a_cause():
    outputs, edge = with_fault(FAULTS[0])
    doc = json.loads(json.dumps(diagnose(parse_all(outputs, target=TARGET, now=NOW, edge=edge)).to_json()))
    assert set(doc) == {"healthy", "cause", "checks"}
    assert doc["healthy"] is False
    assert set(doc["cause"]) == {"id", "summary", "evidence", "fix"}
    assert isinstance(doc["cause"]["evidence"], list) and all(isinstance(e, str) for e in doc["cause"]["evidence"])
    assert all(set(chk) == {"name", "result", "evidence"} for chk in doc["checks"])
    assert {chk["result"] for chk in doc["checks"]} <= {"pass", "warn", "fail"}
    names = [chk["name"] for chk in doc["checks"]]
    assert len(names) == len(set(names))


def test_json_shape_when_healthy():
    doc = diagnose(parse_all(healthy_outputs(), target=TARGET, now=NOW, edge=healthy_edge())).to_json()
    assert doc["healthy"] is True and doc["cause"] is None and doc["checks"]


def test_checks_cover_the_checklist_in_reading_order():
    report = diagnose(parse_all(healthy_outputs(), target=TARGET, now=NOW, edge=healthy_edge()))
    names = [chk.name for chk in report.checks]
    assert names == [
        "edge_health", "edge_login", "edge_websocket", "edge_https_redirect", "edge_scheme", "certificate",
        "reserved_ip", "dns", "container_odoo", "container_db", "container_redis", "odoo_ports", "nginx_listening", "nginx_config",
        "nginx_upstream", "nginx_realtime", "nginx_timeouts", "proxy_mode", "nginx_errors", "odoo_log",
        "postgres_ready", "postgres_connections", "module_states", "disk", "memory", "last_deploy",
    ]


def test_without_outside_probes_the_inside_checks_still_run():
    report = diagnose(parse_all(healthy_outputs(), target=TARGET, now=NOW))
    assert report.healthy and not any(chk.name.startswith("edge_") for chk in report.checks)


def test_text_cause_first_then_the_table_then_what_was_not_gathered():
    report = DoctorReport(
        cause=Cause("odoo_down", "Odoo is not running.", ("odoo-odoo-1: Exited (0)",), "ssh root@x 'up'"),
        checks=(Check("container_odoo", Result.FAIL, "odoo-odoo-1: Exited (0)"),
                Check("disk", Result.PASS, "/ 19% used")),
        not_gathered=((c.MEMORY, "exit 127: free: not found"),),
    )
    assert render_text(report) == (
        "Probable cause: odoo_down\n"
        "  Odoo is not running.\n"
        "  Evidence:\n"
        "    odoo-odoo-1: Exited (0)\n"
        "  Fix:\n"
        "    ssh root@x 'up'\n"
        "\n"
        "check                 evidence\n"
        "container_odoo  FAIL  odoo-odoo-1: Exited (0)\n"
        "disk            ok    / 19% used\n"
        "\n"
        "Not gathered:\n"
        "  memory: exit 127: free: not found\n"
    )


def test_a_fact_not_gathered_is_a_warning_that_says_why():
    outputs = {**healthy_outputs(), c.MEMORY: CommandOutput(127, "", "sh: 1: free: not found")}
    report = diagnose(parse_all(outputs, target=TARGET, now=NOW, edge=healthy_edge()))
    check = {chk.name: chk for chk in report.checks}["memory"]
    assert check.result == Result.WARN and check.evidence == "not gathered (memory: exit 127: sh: 1: free: not found)"
    assert report.healthy and report.not_gathered == ((c.MEMORY, "exit 127: sh: 1: free: not found"),)


def test_exit_codes():
    assert (EXIT_HEALTHY, EXIT_CAUSE_FOUND, EXIT_BAD_INPUT) == (0, 1, 2)
    assert DoctorReport(None, ()).exit_code == EXIT_HEALTHY
    assert DoctorReport(Cause("disk_full", "", (), ""), ()).exit_code == EXIT_CAUSE_FOUND
