"""The agent's pure decisions (firstboot/plans/), driven with plain facts: every short-circuit the steps
take is a branch here. The flow tests (test_agent_flow.py) check that the steps act on them."""

from __future__ import annotations

from dataclasses import replace

import pytest

from firstboot.config import Deploy, EdgeSpec
from firstboot.errors import Fatal, StepFailed
from firstboot.gates import GateResult
from firstboot.phases import STEP_NAMES, TOP_LEVEL_STEPS, Step
from firstboot.plans.certificate import (
    LETSENCRYPT,
    SELF_SIGNED,
    CertificatePlan,
    certbot_command,
    certbot_outcome,
    plan_certificate,
)
from firstboot.plans.cutover import (
    NOTHING_TO_MOVE,
    CutoverStart,
    plan_cutover,
    plan_cutover_start,
    records_last_good,
)
from firstboot.plans.install import (
    install_container_name,
    install_failure,
    plan_adopted,
    plan_fresh_install,
    plan_install_start,
    wait_exit_code,
)
from firstboot.plans.nginx import NginxBefore, NginxRestore, plan_nginx
from firstboot.plans.rollback import plan_rollback
from firstboot.records import ABSENT, CutoverRecord, ResourcesRecord, RollbackRecord, SecurityRecord
from firstboot.state import Attempt, State, load_state, save_state
from firstboot.steps import STEPS

# --- install ------------------------------------------------------------------------------------------


def test_install_start():
    assert plan_install_start(db_initialised=True, container_exists=None) == "done"
    assert plan_install_start(db_initialised=True, container_exists=True) == "done"
    assert plan_install_start(db_initialised=False, container_exists=None) == "inspect"
    assert plan_install_start(db_initialised=False, container_exists=True) == "adopt"
    assert plan_install_start(db_initialised=False, container_exists=False) == "run"
    assert install_container_name("deploy-20261127-030000", 1) == "odl-install-deploy-20261127-030000-1"


@pytest.mark.parametrize("ok,stdout,code", [(True, "0\n", 0), (True, "137\n", 137), (True, "-1", -1),
                                            (True, "", -1), (False, "0\n", -1), (True, "Error", -1)])
def test_docker_wait_exit_code(ok, stdout, code):
    assert wait_exit_code(ok, stdout) == code


def test_an_adopted_install_killed_on_our_own_database_starts_clean():
    assert plan_adopted(137, True) == "discard" and plan_adopted(143, True) == "discard"
    # A database that existed before (or is not known to be ours) is never dropped for it.
    assert plan_adopted(137, False) == "keep" and plan_adopted(137, None) == "keep"
    # A finished install, good or bad, is kept: its outcome is judged by the module rows.
    assert plan_adopted(0, True) == "keep" and plan_adopted(255, True) == "keep"


def test_fresh_install_or_skip():
    assert plan_fresh_install(fresh_db=True, modules_ok=None) == "install"
    assert plan_fresh_install(fresh_db=True, modules_ok=True) == "install"
    assert plan_fresh_install(fresh_db=False, modules_ok=True) == "skip"
    assert plan_fresh_install(fresh_db=False, modules_ok=False) == "install"
    assert plan_fresh_install(fresh_db=False, modules_ok=None) == "install"


def test_install_verdict_trusts_the_module_rows_not_exit_0():
    ok, bad = GateResult("module_state_ok", True, "all installed"), GateResult("module_state_ok", False,
                                                                               "unknown (no row): mail")
    assert install_failure(0, ok) is None
    assert install_failure(0, bad) == "odoo -i exited 0 but unknown (no row): mail"
    assert install_failure(255, ok) == "odoo -i exited 255; all installed"


# --- rollback -----------------------------------------------------------------------------------------


def test_rollback_drops_only_a_database_this_deploy_made():
    p = plan_rollback(True, ("db", "redis"))
    assert p.drop_database and p.restart_data == ("db", "redis") and p.database_note.startswith("dropped")
    assert plan_rollback(True, ()).restart_data == ()  # managed PostgreSQL: nothing to bring back
    p = plan_rollback(False, ("db",))
    assert not p.drop_database and p.restart_data == () and p.database_note.startswith("kept")
    p = plan_rollback(None, ("db",))
    assert not p.drop_database and p.database_note.startswith("untouched")


# --- certificate --------------------------------------------------------------------------------------

LE = replace(Deploy(), edge=EdgeSpec(domain="erp.example.test", tls="letsencrypt", email="ops@example.test"))


def test_certificate_plan():
    self_signed = CertificatePlan(False, SELF_SIGNED, keep_recorded=True)
    assert plan_certificate(Deploy(), user_data=True, have_certificate=False) == self_signed
    assert plan_certificate(LE, user_data=False, have_certificate=True) == self_signed  # no user-data
    no_domain = replace(LE, edge=replace(LE.edge, domain=None))
    assert plan_certificate(no_domain, user_data=True, have_certificate=False) == self_signed
    assert plan_certificate(LE, user_data=True, have_certificate=True) == CertificatePlan(False, LETSENCRYPT)
    assert plan_certificate(LE, user_data=True, have_certificate=False) == CertificatePlan(True, None)


def test_certbot_outcome():
    assert certbot_outcome(ok=True, have_certificate=True, when="configure", output="", returncode=0) == LETSENCRYPT
    out = certbot_outcome(ok=False, have_certificate=False, when="cutover", output="a\nChallenge failed\n",
                          returncode=1)
    assert out == "self-signed (certbot at cutover failed: Challenge failed)"
    assert certbot_outcome(ok=False, have_certificate=False, when="configure", output="", returncode=7) == \
        "self-signed (certbot at configure failed: 7)"
    # certbot said yes but left no certificate: still self-signed.
    assert certbot_outcome(ok=True, have_certificate=False, when="configure", output="done",
                           returncode=0).startswith("self-signed")


def test_certbot_command():
    args = certbot_command(LE, "/var/www/letsencrypt")
    assert args[:2] == ("certbot", "certonly") and ("-d", "erp.example.test") == args[args.index("-d"):][:2]
    assert "--email" in args and "--server" not in args and "systemctl reload nginx" in args
    anon = replace(LE, edge=replace(LE.edge, email=None, acme_server="https://10.213.0.1:14000/dir"))
    args = certbot_command(anon, "/w")
    assert "--register-unsafely-without-email" in args and args[-2:] == ("--server", "https://10.213.0.1:14000/dir")
    with pytest.raises(ValueError):
        certbot_command(Deploy(), "/w")


# --- nginx --------------------------------------------------------------------------------------------


def test_nginx_plan_undoes_exactly_what_it_changes():
    first = plan_nginx(NginxBefore(previous_site=None, enabled_present=False, default_present=True,
                                   default_target="/etc/nginx/sites-available/default"))
    assert first.link_enabled and first.remove_default
    assert first.restore == NginxRestore(None, "/etc/nginx/sites-available/default")
    again = plan_nginx(NginxBefore(previous_site="old", enabled_present=True, default_present=False,
                                   default_target=None))
    assert not again.link_enabled and not again.remove_default and again.restore == NginxRestore("old", None)


# --- cutover ------------------------------------------------------------------------------------------


def test_cutover_start_short_circuits():
    assert plan_cutover_start(status="success", user_data=False, reserved_ip_wanted=True, dns_wanted=True) == \
        CutoverStart(False, "no user-data: running on the snapshot's defaults, no cutover")
    s = plan_cutover_start(status="failed", user_data=True, reserved_ip_wanted=True, dns_wanted=True)
    assert not s.lookup and "gates did not pass" in s.reason and not s.record_last_good
    s = plan_cutover_start(status="success", user_data=True, reserved_ip_wanted=False, dns_wanted=False)
    assert s == CutoverStart(False, NOTHING_TO_MOVE, record_last_good=True)
    s = plan_cutover_start(status="rolled_back", user_data=True, reserved_ip_wanted=False, dns_wanted=False)
    assert s == CutoverStart(False, NOTHING_TO_MOVE, record_last_good=False)
    for ip, dns in ((True, False), (False, True), (True, True)):
        assert plan_cutover_start(status="success", user_data=True, reserved_ip_wanted=ip, dns_wanted=dns).lookup


def cut(**kw):
    base = dict(status="success", user_data=True, reserved_ip="127.0.0.100", holder=1, droplet_id=2,
                dns_wanted=True)
    return plan_cutover(**{**base, **kw})


def test_cutover_plan_after_the_lookup():
    p = cut()
    assert p.assign_ip and p.serves_ip and not p.held and p.retry_certificate
    assert not cut(has_letsencrypt=True).retry_certificate  # the certificate is there already
    p = cut(holder=2)
    assert p.held and p.serves_ip and not p.assign_ip and not p.retry_certificate
    p = cut(status="rolled_back", holder=1)
    assert not p.serves_ip
    p = cut(status="rolled_back", holder=None)
    assert p.assign_ip and p.retry_certificate


def test_last_good_names_a_droplet_that_serves():
    assert records_last_good(cut(), status="success", reserved_ip="127.0.0.100")
    assert records_last_good(cut(holder=2), status="success", reserved_ip="127.0.0.100")
    assert not records_last_good(cut(status="rolled_back"), status="rolled_back", reserved_ip="127.0.0.100")
    # No reserved IP: success is enough (DNS, or nothing to move); a rollback is not.
    assert records_last_good(cut(reserved_ip=None), status="success", reserved_ip=None)
    assert not records_last_good(cut(status="rolled_back", reserved_ip=None), status="rolled_back", reserved_ip=None)


# --- records, the steps table -------------------------------------------------------------------------


def test_records_write_only_what_was_set_and_read_back(tmp_path):
    rec = CutoverRecord(reserved_ip=None, assigned=False, dns=None, reason="")
    assert rec.to_dict() == {"reserved_ip": None, "assigned": False, "dns": None, "reason": ""}
    assert not CutoverRecord() and CutoverRecord().to_dict() == {} and CutoverRecord(proofs="x")
    rec.add_reason("cutover error: boom")
    assert rec.reason == "cutover error: boom"
    rec.reason = "every gate passed"
    rec.add_reason("cutover error: boom")
    assert rec.reason == "every gate passed; cutover error: boom"
    sec = SecurityRecord(metadata_blocked=False, metadata_block_error="no chain")
    sec.metadata_block_error = ABSENT
    assert sec.to_dict() == {"metadata_blocked": False} and not sec.has_letsencrypt
    assert SecurityRecord(certificate="letsencrypt").has_letsencrypt
    st = State(deploy_id="deploy-20261127-030000", started_at="t", user_data=True,
               attempts=[Attempt(tag="a")], rollback=RollbackRecord(performed=True, failing_gates=["x"]),
               cutover=CutoverRecord(proofs="kept", holder_before=None), security=sec,
               resources=ResourcesRecord(vcpus=2, memory_mb=4096))
    save_state(tmp_path / "state.json", st)
    back = load_state(tmp_path / "state.json")
    assert back == st
    assert back.cutover.to_dict() == {"proofs": "kept", "holder_before": None}
    assert back.resources.measured().disk_gb == 25
    with pytest.raises(ValueError):
        ResourcesRecord().measured()


def test_every_step_has_its_function_and_errors_are_not_runtime_errors():
    assert set(STEPS) == set(STEP_NAMES)
    assert {Step(n).top_level for n in TOP_LEVEL_STEPS} == {True} and not Step("install", 0).top_level
    # cutover catches the API and Spaces errors (RuntimeError subclasses) it means; the agent's own
    # errors must never fall under such a clause by accident.
    assert not issubclass(StepFailed, RuntimeError) and not issubclass(Fatal, RuntimeError)


# ---------------------------------------------------------------- the DNS record (plans/dns.py)

def test_retry_wait_honours_retry_after_on_429_and_5xx_and_stops_on_final_answers():
    from firstboot.plans.dns import retry_wait

    assert retry_wait(429, "3", 0) == 3.0
    assert retry_wait(503, "7", 0) == 7.0  # a 5xx's retry-after too
    assert retry_wait(500, None, 2) == 2.0 and retry_wait(0, None, 0) == 0.5  # backoff; no answer backs off
    assert retry_wait(429, "600", 0, max_wait=60) == 60 and retry_wait(429, "soon", 1) == 1.0
    for final in (200, 201, 401, 403, 404, 422):
        assert retry_wait(final, "3", 0) is None


def test_plan_a_record_creates_only_when_absent_and_updates_every_stale_one():
    from firstboot.plans.dns import plan_a_record

    kw = {"domain": "example.test", "name": "erp", "ip": "10.0.0.1", "ttl": 60}
    assert plan_a_record([], **kw).action == "create"
    assert plan_a_record([], **kw).body == {"type": "A", "name": "erp", "data": "10.0.0.1", "ttl": 60}
    same = {"id": 1, "type": "A", "name": "erp", "data": "10.0.0.1", "ttl": 60}
    assert plan_a_record([same], **kw).action == "none"
    other_names = [{"id": 2, "type": "A", "name": "www", "data": "10.0.0.9"},
                   {"id": 3, "type": "AAAA", "name": "erp", "data": "::1"}]
    assert plan_a_record(other_names, **kw).action == "create"
    stale = [same, {"id": 4, "type": "A", "name": "erp.example.test", "data": "10.0.0.9", "ttl": 60},
             {"id": 5, "type": "A", "name": "erp", "data": "10.0.0.1", "ttl": 1800}]
    change = plan_a_record(stale, **kw)
    assert change.action == "update" and change.update_ids == (4, 5) and change.record == "erp.example.test"
    apex = plan_a_record([{"id": 6, "type": "A", "name": "@", "data": "10.0.0.9"}], **{**kw, "name": "@"})
    assert apex.action == "update" and apex.record == "example.test" and apex.body["name"] == "@"


def test_plan_dns_retry_only_while_the_record_is_still_this_droplets():
    from firstboot.plans.dns import plan_dns_retry

    ours = {"droplet_id": 1, "deploy_id": "deploy-1"}
    assert plan_dns_retry(reserved_ip="1.2.3.4", holder=1, last_good_deploy=None, **ours).retry
    moved_on = plan_dns_retry(reserved_ip="1.2.3.4", holder=2, last_good_deploy=None, **ours)
    assert not moved_on.retry and "droplet 2" in moved_on.reason
    assert plan_dns_retry(reserved_ip=None, holder=None, last_good_deploy=None, **ours).retry  # unknown: go on
    assert plan_dns_retry(reserved_ip=None, holder=None, last_good_deploy="deploy-1", **ours).retry
    assert not plan_dns_retry(reserved_ip=None, holder=None, last_good_deploy="deploy-2", **ours).retry


def test_dns_status_documents_and_the_operators_line():
    from firstboot.plans.dns import dns_failed, dns_is_moved, dns_line, dns_moved

    moved = dns_moved("erp.example.test", "10.0.0.1", "update", at="T2", attempts=2, since="T1")
    assert moved == {"status": "moved", "record": "erp.example.test", "target": "10.0.0.1", "action": "updated",
                     "at": "T2", "attempts": 2, "since": "T1"}
    assert dns_is_moved(moved) and dns_line(moved) == "erp.example.test -> 10.0.0.1 (updated at T2)"
    failed = dns_failed("erp.example.test", "10.0.0.1", "403 forbidden", at="T1", attempts=1, retrying=True)
    assert not dns_is_moved(failed) and failed["since"] == "T1"
    assert dns_line(failed).startswith("FAILED: erp.example.test -> 10.0.0.1 not set (403 forbidden; 1 attempts)")
    assert "retries every 5 minutes" in dns_line(failed)
    assert dns_line(None) == "not configured" and not dns_is_moved(None)
