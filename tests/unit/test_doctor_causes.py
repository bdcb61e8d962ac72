"""The cause precedence, tie by tie: where two causes both apply, the documented one comes first (and the
other really does apply, so the order is what decides). Plus the causes beyond the fault matrix, the noise
that must not become a cause, and the fallback when nothing known explains a failing check."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json

import pytest

from builder.doctor import causes, diagnose, parse_all
from builder.doctor import commands as c
from builder.doctor.checks import Result
from builder.doctor.facts import (
    CertificateFacts,
    CommandOutput,
    DnsFacts,
    DoctorFacts,
    EdgeFacts,
    LoginProbe,
    ReservedIpFacts,
)
from tests.unit.doctor_droplet import (
    FAULTS,
    NGINX_LOG_HEALTHY,
    NOW,
    ODOO_LOG_HEALTHY,
    STARTED,
    TARGET,
    compose_row,
    deploy_status,
    healthy_edge,
    healthy_outputs,
    inspect_row,
    merge_edge,
    ndjson,
    nginx_line,
    odoo_line,
    odoo_raw,
    ok,
    with_fault,
)

S = dt.timedelta(seconds=1)


def _fault(name: str) -> tuple[dict[str, CommandOutput], EdgeFacts]:
    f = next(f for f in FAULTS if f.name == name)
    return dict(f.outputs), f.edge


def _facts(outputs: dict[str, CommandOutput] | None = None, now: dt.datetime = NOW,
           edge: EdgeFacts | None = None) -> DoctorFacts:
    return parse_all({**healthy_outputs(), **(outputs or {})}, target=TARGET, now=now,
                     edge=merge_edge(healthy_edge(), edge or EdgeFacts()))


def _cause_id(facts: DoctorFacts) -> str | None:
    cause = diagnose(facts).cause
    return cause.id if cause else None


def _both(*names: str) -> DoctorFacts:
    """Two faults at once: outputs and probes of both (the later fault's win where they touch the same one)."""
    healthy = healthy_outputs()
    outputs: dict[str, CommandOutput] = {}
    edge = EdgeFacts()
    for name in names:
        o, e = _fault(name)
        for key, out in o.items():
            if key in (c.NGINX_ERROR_LOG, c.ODOO_LOG, c.DB_LOG) and key in outputs:
                # Logs add up: both faults' lines after the healthy droplet's own.
                added = out.stdout.removeprefix(healthy[key].stdout)
                out = ok(outputs[key].stdout + added)
            outputs[key] = out
        edge = merge_edge(edge, e)
    return _facts(outputs, edge=edge)


def test_precedence_lists_every_cause_once_and_the_docstring_names_them():
    ids = [cause_id for cause_id, _ in causes.PRECEDENCE]
    # The two fallbacks come after every detector: doctor saw nothing inside; checks fail unexplained.
    assert ids + ["droplet_unreachable", "unexplained"] == list(causes.CAUSE_IDS)
    assert all(detect.__name__ == cause_id for cause_id, detect in causes.PRECEDENCE)
    doc = causes.__doc__ or ""
    assert all(f"  {cause_id} " in doc for cause_id in causes.CAUSE_IDS)


def test_disk_full_before_db_down():
    outputs, edge = _fault("disk full")
    facts = _facts(outputs, edge=edge)
    assert causes.db_down(facts) is not None  # PostgreSQL is down too: because the disk is full
    assert _cause_id(facts) == "disk_full"


def test_db_down_before_odoo_crashloop_when_odoos_log_says_database():
    outputs, edge = _fault("PostgreSQL stopped")
    # The entrypoint's wait-for-psql.py gives up after 30 s and the container restarts, again and again.
    outputs[c.COMPOSE_PS] = ok(ndjson([compose_row("odoo", state="restarting", status="Restarting (1) 2 seconds "
                                                   "ago", health="", exit_code=1),
                                       compose_row("db", state="exited", status="Exited (0) 3 minutes ago",
                                                   health=""), compose_row("redis")]))
    outputs[c.DOCKER_INSPECT] = ok(json.dumps([inspect_row("odoo", status="restarting", restarts=5, exit_code=1,
                                                           started=NOW - 40 * S, finished=NOW - 2 * S),
                                               inspect_row("db", status="exited", finished=NOW - 180 * S),
                                               inspect_row("redis")]))
    outputs[c.ODOO_LOG] = ok(ODOO_LOG_HEALTHY + odoo_raw(NOW - 3 * S, 'Database connection failure: could not '
                                                         'translate host name "db" to address: Name or service not '
                                                         "known") + "\n")
    facts = _facts(outputs, edge=edge)
    assert causes.odoo_crashloop(facts) is not None
    cause = diagnose(facts).cause
    assert cause is not None and cause.id == "db_down"
    assert any("Database connection failure" in line for line in cause.evidence)


@pytest.mark.parametrize("first, second, other", [
    ("odoo crash-looping", "odoo stopped", "odoo_down"),  # a looping container is also down
    ("odoo stopped", "upstream pointed at a wrong port", "upstream_wrong"),
    ("a module left to upgrade", "odoo crash-looping", "registry_failed"),
    ("upstream pointed at a wrong port", "/websocket location removed", "realtime_route_missing"),
    ("worker killed by its memory limit", "a request outlasting a short proxy_read_timeout", "timeout_too_short"),
])
def test_ties(first: str, second: str, other: str):
    if first == "odoo crash-looping":
        facts = _both(first)
    elif first == "a module left to upgrade":
        # A registry that fails to load while a module is left half-installed: the module is the cause.
        outputs, _ = _fault(first)
        outputs[c.ODOO_LOG] = ok(ODOO_LOG_HEALTHY + odoo_line(NOW - 9 * S, "ERROR", "odoo.modules.registry",
                                                              "Failed to load registry") + "\n")
        facts = _facts(outputs)
    else:
        facts = _both(second, first)
    want = next(f.cause for f in FAULTS if f.name == first)
    detect = dict(causes.PRECEDENCE)[other]
    assert detect(facts) is not None, f"{other} should apply too"
    assert _cause_id(facts) == want


def test_odoo_stopped_is_not_a_wrong_upstream():
    # nginx refused at 8069 because nothing runs there: the upstream is right.
    o, e = with_fault(next(f for f in FAULTS if f.name == "odoo stopped"))
    facts = parse_all(o, target=TARGET, now=NOW, edge=e)
    assert causes.upstream_wrong(facts) is None


# --- what must not become a cause ----------------------------------------------------------------------


def test_the_start_of_a_fresh_droplet_is_not_a_fault():
    # Three minutes after first boot: the 502s and resets of the start are recent, but came before Odoo settled.
    now = STARTED + dt.timedelta(minutes=3)
    cert = CertificateFacts(now + dt.timedelta(days=89), ("erp.example.com",))
    facts = _facts(now=now, edge=EdgeFacts(certificate=cert))
    report = diagnose(facts)
    assert report.healthy, report.cause


def test_a_worker_recycled_at_its_soft_limit_is_a_warning_only():
    outputs = {c.ODOO_LOG: ok(ODOO_LOG_HEALTHY + odoo_line(NOW - 60 * S, "INFO", "odoo.service.server",
                                                           "Worker (38) virtual memory limit (2191028224) reached.",
                                                           pid=38) + "\n")}
    report = diagnose(_facts(outputs))
    assert report.healthy
    assert {chk.name: chk.result for chk in report.checks}["odoo_log"] == Result.WARN


def test_an_incident_an_hour_ago_is_history():
    old = NOW - dt.timedelta(hours=1)
    outputs = {
        c.NGINX_ERROR_LOG: ok(NGINX_LOG_HEALTHY + nginx_line(old, "upstream timed out (110: Connection timed out) "
                                                             "while reading response header from upstream") + "\n"),
        c.ODOO_LOG: ok(odoo_line(old, "INFO", "odoo.sql_db", "Connection to the database failed") + "\n"
                       + ODOO_LOG_HEALTHY),
    }
    assert diagnose(_facts(outputs)).healthy


def test_timeouts_that_disagree_without_a_timeout_are_a_warning():
    site = healthy_outputs()[c.NGINX_SITE].stdout.replace("proxy_read_timeout 720s;", "proxy_read_timeout 300s;")
    report = diagnose(_facts({c.NGINX_SITE: ok(site)}))
    assert report.healthy
    check = {chk.name: chk for chk in report.checks}["nginx_timeouts"]
    assert check.result == Result.WARN and "300s" in check.evidence


def test_a_droplet_not_holding_the_reserved_ip_is_a_warning():
    # Green during a swap: doctor --droplet GREEN before the cutover.
    report = diagnose(_facts(edge=EdgeFacts(reserved_ip=ReservedIpFacts("203.0.113.50", 499999999))))
    assert report.healthy
    assert {chk.name: chk.result for chk in report.checks}["reserved_ip"] == Result.WARN


def test_a_last_deploy_that_rolled_back_is_shown_not_blamed():
    report = diagnose(_facts({c.DEPLOY_STATUS: ok(deploy_status("rolled_back", failing="login_page"))}))
    assert report.healthy
    check = {chk.name: chk for chk in report.checks}["last_deploy"]
    assert check.result == Result.WARN and "login_page" in check.evidence


# --- causes beyond the matrix ---------------------------------------------------------------------------


def _cert(days: int, name: str) -> EdgeFacts:
    return EdgeFacts(certificate=CertificateFacts(NOW + dt.timedelta(days=days), (name,)))


def test_certificate_soon_to_expire_warns_and_a_wrong_name_is_a_cause():
    soon = diagnose(_facts(edge=_cert(5, "erp.example.com")))
    assert soon.healthy and {chk.name: chk.result for chk in soon.checks}["certificate"] == Result.WARN
    wrong = diagnose(_facts(edge=_cert(60, "other.example.com")))
    assert wrong.cause is not None and wrong.cause.id == "certificate_name_mismatch"
    wildcard = diagnose(_facts(edge=_cert(60, "*.example.com")))
    assert wildcard.healthy


def test_dns_pointing_elsewhere():
    cause = diagnose(_facts(edge=EdgeFacts(dns=DnsFacts("erp.example.com", ("198.51.100.7",))))).cause
    assert cause is not None and cause.id == "dns_mismatch" and "198.51.100.7" in cause.evidence[0]


def test_connections_exhausted():
    cause = diagnose(_facts({c.PG_CONNECTIONS: ok("97|100|3\n")})).cause
    assert cause is not None and cause.id == "db_connections_full"
    assert cause.fix.startswith("odoo-droplet exec --service db -- psql")


def test_nginx_config_that_does_not_pass():
    out = CommandOutput(1, "", '2026/12/02 03:14:00 [emerg] 4242#4242: unknown directive "proxy_pas" in '
                               "/etc/nginx/sites-enabled/odoo.conf:61\nnginx: configuration file "
                               "/etc/nginx/nginx.conf test failed\n")
    cause = diagnose(_facts({c.NGINX_TEST: out})).cause
    assert cause is not None and cause.id == "nginx_config_invalid" and "proxy_pas" in cause.evidence[0]
    assert "odoo-droplet render" in cause.fix


def test_a_worker_killed_at_its_time_limit_raises_the_limit():
    outputs = {c.ODOO_LOG: ok(ODOO_LOG_HEALTHY + odoo_line(NOW - 30 * S, "ERROR", "odoo.service.server",
                                                           "WorkerHTTP (38) timeout after 720s") + "\n")}
    cause = diagnose(_facts(outputs)).cause
    assert cause is not None and cause.id == "worker_killed"
    assert "limit_time_real = 1440" in cause.fix and "restart odoo" in cause.fix


def test_the_kernels_oom_killer():
    outputs = {c.DOCKER_INSPECT: ok(json.dumps([inspect_row("odoo", restarts=1, oom=True), inspect_row("db"),
                                                inspect_row("redis")]))}
    cause = diagnose(_facts(outputs)).cause
    assert cause is not None and cause.id == "worker_killed" and "OOMKilled" in cause.evidence[0]


def test_odoo_running_but_not_listening():
    outputs = {c.ODOO_SOCKETS: ok(
        "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n")}
    cause = diagnose(_facts(outputs)).cause
    assert cause is not None and cause.id == "odoo_down"
    assert cause.fix == "odoo-droplet logs --service odoo"


def test_crashloop_without_a_known_prior_tag_points_at_the_log():
    outputs, edge = _fault("odoo crash-looping")
    outputs[c.DEPLOY_STATUS] = CommandOutput(1, "")  # no deploy_status.json on the droplet
    cause = diagnose(_facts(outputs, edge=edge)).cause
    assert cause is not None and cause.id == "odoo_crashloop" and cause.fix == "odoo-droplet logs --service odoo"


def test_managed_postgres_down():
    target = dataclasses.replace(TARGET, postgres_selfhost=False, services=("odoo", "redis"),
                                 db_host="db-pg-nyc3-1.b.db.ondigitalocean.com", db_port=25060)
    outputs = healthy_outputs()
    del outputs[c.DB_LOG]
    outputs[c.PG_READY] = CommandOutput(2, "db-pg-nyc3-1.b.db.ondigitalocean.com:25060 - no response\n")
    facts = parse_all(outputs, target=target, now=NOW, edge=healthy_edge())
    cause = diagnose(facts).cause
    assert cause is not None and cause.id == "db_down"
    assert "db-pg-nyc3-1.b.db.ondigitalocean.com" in cause.fix and "docker compose" not in cause.fix


def test_unexplained_failing_checks_are_still_a_cause():
    login = LoginProbe("https://erp.example.com/web/login", 500, body="Internal Server Error")
    report = diagnose(_facts(edge=EdgeFacts(login=login)))
    assert report.cause is not None and report.cause.id == "unexplained"
    assert report.cause.evidence == ("edge_login: https://erp.example.com/web/login: 500",)
    assert report.exit_code == 1


def test_nginx_stopped():
    ss = "".join(line + "\n" for line in healthy_outputs()[c.HOST_SOCKETS].stdout.splitlines()
                 if '"nginx"' not in line)
    cause = diagnose(_facts({c.HOST_SOCKETS: ok(ss)})).cause
    assert cause is not None and cause.id == "nginx_down" and "80, 443" in cause.evidence[0]
    assert cause.fix == "ssh root@203.0.113.21 'nginx -t && systemctl start nginx'"


def test_a_wrong_upstream_says_nothing_listens_there():
    outputs, _ = _fault("upstream pointed at a wrong port")
    cause = diagnose(_facts(outputs)).cause
    assert cause is not None and cause.id == "upstream_wrong"
    assert "nothing listens on port 8070 on the droplet (ss -ltnp)" in cause.evidence


def test_a_timeout_with_no_short_setting_points_at_the_request():
    # nginx and Odoo both allow 720 s and a request took longer: no setting to change, the request to find.
    outputs = {c.NGINX_ERROR_LOG: ok(NGINX_LOG_HEALTHY + nginx_line(NOW - 10 * S, "upstream timed out (110: "
                                                                    "Connection timed out) while reading response "
                                                                    "header from upstream") + "\n")}
    cause = diagnose(_facts(outputs)).cause
    assert cause is not None and cause.id == "timeout_too_short"
    assert cause.fix == "odoo-droplet logs --service odoo --since 1h"


def test_a_droplet_doctor_cannot_read_is_not_called_healthy():
    ssh_down = CommandOutput(255, "", "ssh: connect to host 203.0.113.21 port 22: Connection timed out")
    outputs = {name: ssh_down for name in healthy_outputs()}
    report = diagnose(parse_all(outputs, target=TARGET, now=NOW, edge=healthy_edge()))
    assert report.cause is not None and report.cause.id == "droplet_unreachable"
    assert report.cause.evidence[0] == ("compose_ps: exit 255: ssh: connect to host 203.0.113.21 port 22: "
                                        "Connection timed out")
    assert report.exit_code == 1
    # No fact was made up from the channel's failure: PostgreSQL and nginx -t are "not gathered", not "down".
    facts = parse_all(outputs, target=TARGET, now=NOW)
    assert facts.pg_ready is None and facts.nginx_test is None
