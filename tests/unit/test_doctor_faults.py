"""The fault matrix of issue 14, as data (tests/unit/doctor_droplet.py): each fault injected into a healthy
droplet's facts the way it shows in production -> doctor names the right cause first, with evidence and a
fix, and exits 1; the healthy droplet exits 0 with every check passing."""

from __future__ import annotations

import json

import pytest

from builder.doctor import diagnose, parse_all, render_text
from builder.doctor.causes import CAUSE_IDS
from builder.doctor.checks import Result
from builder.doctor.report import EXIT_CAUSE_FOUND, EXIT_HEALTHY
from tests.unit.doctor_droplet import FAULTS, NOW, TARGET, Fault, healthy_edge, healthy_outputs, with_fault

ISSUE_FAULTS = {
    "odoo stopped": "odoo_down",
    "odoo crash-looping": "odoo_crashloop",
    "upstream pointed at a wrong port": "upstream_wrong",
    "/websocket location removed": "realtime_route_missing",
    "a request outlasting a short proxy_read_timeout": "timeout_too_short",
    "proxy_mode off": "proxy_mode_mismatch",
    "worker killed by its memory limit": "worker_killed",
    "PostgreSQL stopped": "db_down",
    "a module left to upgrade": "module_state",
    "disk full": "disk_full",
    "expired certificate": "certificate_expired",
}


def test_the_matrix_is_the_issues_eleven_faults():
    assert {f.name: f.cause for f in FAULTS} == ISSUE_FAULTS


def test_healthy_droplet_is_healthy_and_exits_0():
    facts = parse_all(healthy_outputs(), target=TARGET, now=NOW, edge=healthy_edge())
    assert facts.errors == ()
    report = diagnose(facts)
    assert report.healthy and report.cause is None
    assert report.exit_code == EXIT_HEALTHY
    assert [c for c in report.checks if c.result != Result.PASS] == []
    doc = report.to_json()
    assert doc["healthy"] is True and doc["cause"] is None
    assert render_text(report).startswith("Healthy: no cause found")


@pytest.mark.parametrize("fault", FAULTS, ids=[f.name for f in FAULTS])
def test_each_fault_names_its_cause_first(fault: Fault):
    outputs, edge = with_fault(fault)
    report = diagnose(parse_all(outputs, target=TARGET, now=NOW, edge=edge))
    assert report.cause is not None, render_text(report)
    assert report.cause.id == fault.cause, render_text(report)
    assert report.cause.id in CAUSE_IDS
    assert not report.healthy and report.exit_code == EXIT_CAUSE_FOUND
    # Evidence: lines that come from the facts; a fix: one command, aimed at this droplet when it runs there.
    assert report.cause.evidence and all(line.strip() for line in report.cause.evidence)
    assert report.cause.fix.startswith(("ssh root@203.0.113.21 ", "odoo-droplet ")), report.cause.fix
    assert "<" not in report.cause.fix  # no placeholder left for the operator to fill in
    # At least one check fails and says why, and the report is JSON.
    assert any(c.result == Result.FAIL for c in report.checks)
    doc = json.loads(json.dumps(report.to_json()))
    assert doc["healthy"] is False and doc["cause"]["id"] == fault.cause
    text = render_text(report)
    assert text.startswith(f"Probable cause: {fault.cause}\n")
    assert text.index("Fix:") < text.index("\ncheck ")


EVIDENCE = {
    "odoo stopped": "Exited (0)",
    "odoo crash-looping": "restart count 7",
    "upstream pointed at a wrong port": "port 8070",
    "/websocket location removed": "no `location /websocket`",
    "a request outlasting a short proxy_read_timeout": "upstream timed out (110",
    "proxy_mode off": "proxy_mode is off",
    "worker killed by its memory limit": "MemoryError",
    "PostgreSQL stopped": "pg_isready",
    "a module left to upgrade": "sale_management is 'to upgrade'",
    "disk full": "No space left on device",
    "expired certificate": "not after 2026-12-01",
}


@pytest.mark.parametrize("fault", FAULTS, ids=[f.name for f in FAULTS])
def test_the_evidence_is_the_line_an_operator_would_look_for(fault: Fault):
    outputs, edge = with_fault(fault)
    cause = diagnose(parse_all(outputs, target=TARGET, now=NOW, edge=edge)).cause
    assert cause is not None
    assert any(EVIDENCE[fault.name] in line for line in cause.evidence), cause.evidence
