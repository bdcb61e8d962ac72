"""Each droplet command's output -> typed facts, in the formats the tools print; bad output -> "not gathered"
with the reason, never a guess."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json

import pytest

from builder.doctor import commands as c
from builder.doctor.facts import CommandOutput, Disk, Memory, OdooConf, PgConnections, ServiceState, Socket
from builder.doctor.gather import parse_all
from builder.doctor.parse_docker import ParseError, docker_time, merge_services, parse_compose_ps, parse_inspect
from builder.doctor.parse_host import parse_df, parse_free, parse_proc_net_tcp, parse_ss
from builder.doctor.parse_nginx import nginx_seconds, parse_config, parse_nginx_site, parse_nginx_test
from builder.doctor.parse_odoo import (
    parse_deploy_status,
    parse_odoo_conf,
    parse_pending_modules,
    parse_pg_connections,
    parse_pg_ready,
)
from tests.unit.doctor_droplet import (
    DF_HEALTHY,
    FREE_HEALTHY,
    NOW,
    SS_HEALTHY,
    STARTED,
    TARGET,
    compose_row,
    deploy_status,
    grep_conf,
    healthy_outputs,
    inspect_row,
    ndjson,
    proc_tcp,
    rendered_odoo_conf,
    rendered_site,
)

# --- docker -------------------------------------------------------------------------------------------


def test_compose_ps_array_and_line_forms_read_the_same():
    rows = [compose_row("odoo"), compose_row("db", state="exited", status="Exited (0) 1 minute ago", health="")]
    as_lines = parse_compose_ps(ndjson(rows))  # Compose >= 2.21
    as_array = parse_compose_ps(json.dumps(rows, indent=2))  # Compose <= 2.20
    assert as_lines == as_array
    assert [(r.service, r.state, r.health, r.exit_code) for r in as_lines] == [
        ("odoo", "running", "healthy", 0), ("db", "exited", "", 0)]
    assert parse_compose_ps("") == []
    with pytest.raises(ParseError):
        parse_compose_ps("no configuration file provided: not found")


def test_inspect_reads_restarts_exit_code_oom_and_nanosecond_times():
    row = inspect_row("odoo", status="restarting", restarts=7, exit_code=137, oom=True, started=NOW)
    text = json.dumps([row]).replace('"Output": ""', '"Output": "curl: (7) Failed to connect to 127.0.0.1 port '
                                     '8069\\n"')
    (got,) = parse_inspect(text)
    assert (got.service, got.name, got.state, got.restart_count, got.exit_code, got.oom_killed) == (
        "odoo", "odoo-odoo-1", "restarting", 7, 137, True)
    assert got.started_at == NOW
    assert got.finished_at is None  # docker's zero time
    assert got.health_log == "curl: (7) Failed to connect to 127.0.0.1 port 8069"
    assert docker_time("2026-12-02T03:14:07.123456789Z") == dt.datetime(2026, 12, 2, 3, 14, 7, 123456,
                                                                        tzinfo=dt.UTC)


def test_merge_keeps_every_expected_service_and_says_when_one_has_no_container():
    ps = parse_compose_ps(ndjson([compose_row("odoo")]))
    inspect = parse_inspect(json.dumps([inspect_row("odoo", restarts=2)]))
    merged = {s.service: s for s in merge_services(("odoo", "db"), ps, inspect)}
    assert merged["odoo"].restart_count == 2 and merged["odoo"].status_text == "Up About an hour (healthy)"
    assert merged["db"].state == ""


def test_inspect_of_a_missing_container_still_reads_the_others():
    # `docker inspect a b` with no b prints a's JSON on stdout, "Error: No such object: b" on stderr, exits 1.
    outputs = {**healthy_outputs(), c.COMPOSE_PS: CommandOutput(0, ndjson([compose_row("odoo"), compose_row("db")])),
               c.DOCKER_INSPECT: CommandOutput(
        1, json.dumps([inspect_row("odoo"), inspect_row("db")]), "Error: No such object: odoo-redis-1")}
    facts = parse_all(outputs, target=TARGET, now=NOW)
    odoo = facts.service("odoo")
    assert odoo is not None and odoo.started_at == STARTED  # docker's nanoseconds cut to microseconds
    assert facts.service("redis") == ServiceState("redis", "", "")  # no container: said, not guessed
    assert c.DOCKER_INSPECT not in dict(facts.errors)


# --- host ---------------------------------------------------------------------------------------------


def test_ss_listening_sockets_with_their_process():
    sockets = parse_ss(SS_HEALTHY)
    assert Socket("127.0.0.1", 8069, "docker-proxy") in sockets
    assert Socket("0.0.0.0", 443, "nginx") in sockets
    assert Socket("::", 22, "sshd") in sockets
    assert len(sockets) == 6


def test_proc_net_tcp_lists_listeners_only_ipv4_and_ipv6():
    text = proc_tcp(8069, 8072) + (
        "   0: 00000000000000000000000000000000:1F88 00000000000000000000000000000000:0000 0A 00000000:00000000 "
        "00:00000000 00000000   101        0 31337 1 0000000000000000 100 0 0 10 0\n"
        "   1: 0000000000000000FFFF00000100007F:1F85 0000000000000000FFFF00000100007F:D3C2 01 00000000:00000000 "
        "00:00000000 00000000   101        0 31338 1 0000000000000000 20 4 30 10 -1\n")
    sockets = parse_proc_net_tcp(text)
    assert sockets == (Socket("0.0.0.0", 8069), Socket("0.0.0.0", 8072), Socket("::", 8072))
    assert parse_proc_net_tcp(PROC_LOOPBACK) == (Socket("127.0.0.1", 8069),)
    with pytest.raises(ParseError):
        parse_proc_net_tcp("")


PROC_LOOPBACK = ("  sl  local_address rem_address   st\n"
                 "   0: 0100007F:1F85 00000000:0000 0A 00000000:00000000 00:00000000 00000000   101  0 1 1\n")


def test_df_bytes_one_line_per_filesystem():
    assert parse_df(DF_HEALTHY) == (Disk("/", 51749634048, 9384427520, 40213635072, 19),)
    two = DF_HEALTHY.splitlines()[0] + "\n/dev/sda 1000 990 10 99% /var/lib/docker\n/dev/vda1 10 1 9 10% /\n"
    assert [d.mount for d in parse_df(two)] == ["/var/lib/docker", "/"]
    with pytest.raises(ParseError):
        parse_df("df: /var/lib/docker: No such file or directory\n")


def test_free_reads_available_by_its_column():
    assert parse_free(FREE_HEALTHY) == Memory(4100829184, 2537611264, 0, 0)
    with pytest.raises(ParseError):
        parse_free("")


# --- nginx --------------------------------------------------------------------------------------------


def test_nginx_test_ok_and_failing():
    assert parse_nginx_test(0, "nginx: the configuration file /etc/nginx/nginx.conf syntax is ok\n").ok
    bad = parse_nginx_test(1, '2026/12/02 03:14:00 [emerg] 4242#4242: unknown directive "proxy_pas" in '
                              "/etc/nginx/sites-enabled/odoo.conf:61\nnginx: configuration file "
                              "/etc/nginx/nginx.conf test failed\n")
    assert not bad.ok and "[emerg]" in bad.lines[0]


def test_the_rendered_site_reads_as_the_agent_wrote_it():
    site = parse_nginx_site(rendered_site())
    http, gevent = site.upstream("odoo_http"), site.upstream("odoo_gevent")
    assert http is not None and http.servers == (("127.0.0.1", 8069),)
    assert gevent is not None and gevent.servers == (("127.0.0.1", 8072),)
    ws = site.location("/websocket")
    assert ws is not None and ws.proxy_pass == "http://odoo_gevent" and ws.has_upgrade
    assert site.backend_ports(ws) == (8072,)
    root = site.location("/")
    assert root is not None and site.backend_ports(root) == (8069,)
    assert site.server_read_timeout == 720 and site.read_timeout(root) == 720
    assert [loc.path for loc in site.proxied()] == ["/websocket", "/web/static/", "/"]
    assert all(site.sets_header(loc, "X-Forwarded-Host") for loc in site.proxied())
    # The port-80 server (ACME + redirect) is not the one that proxies.
    assert site.location("/.well-known/acme-challenge/") is None


def test_a_location_header_drops_the_server_level_ones():
    text = """
    upstream odoo { server 10.0.0.5:8069 max_fails=3; server unix:/run/odoo.sock; }
    server {
        listen 443 ssl;
        proxy_set_header X-Forwarded-Host $host;  # server level
        proxy_read_timeout 2m;
        location /websocket { proxy_pass http://127.0.0.1:8072; proxy_set_header Upgrade $http_upgrade; }
        location / { proxy_pass http://odoo; proxy_read_timeout 90; }
        location /web/static/ { proxy_pass http://odoo; }
    }
    """
    site = parse_nginx_site(text)
    ws, root, static = (site.location(p) for p in ("/websocket", "/", "/web/static/"))
    assert ws and root and static
    up = site.upstream("odoo")
    assert up is not None and up.servers == (("10.0.0.5", 8069),)
    assert site.backend_ports(ws) == (8072,)
    assert not site.sets_header(ws, "x-forwarded-host")  # its own Upgrade header replaced the server's
    assert site.sets_header(static, "x-forwarded-host")  # sets none: inherits
    assert (site.read_timeout(ws), site.read_timeout(root)) == (120, 90)


def test_nginx_syntax_details():
    assert [d.name for d in parse_config('# c\nmap $a $b { default upgrade; \'\' close; }\nx "a;b";')] == [
        "map", "x"]
    assert parse_config('x "a;b";')[0].args == ("a;b",)
    with pytest.raises(ParseError):
        parse_config("server { location / { }")
    with pytest.raises(ParseError):
        parse_config("}")
    assert [nginx_seconds(v) for v in ("720s", "720", "12m", "1h", "500ms", "x")] == [720, 720, 720, 3600, 0, None]


# --- Odoo, PostgreSQL, the agent ------------------------------------------------------------------------


def test_odoo_conf_from_the_render_and_odoos_defaults():
    conf = parse_odoo_conf(grep_conf(rendered_odoo_conf()))
    assert conf.proxy_mode and conf.workers == 5 and (conf.http_port, conf.gevent_port) == (8069, 8072)
    assert conf.limit_time_real == 720 and conf.db_name == "odoo"
    assert parse_odoo_conf("") == OdooConf()  # nothing matched: Odoo's own defaults (proxy_mode off)
    assert not parse_odoo_conf("[options]\nproxy_mode = False\n").proxy_mode
    assert parse_odoo_conf("workers = x\n").workers == 0


def test_postgres_outputs():
    assert parse_pg_ready(0, "127.0.0.1:5432 - accepting connections\n") == (
        True, "127.0.0.1:5432 - accepting connections")
    assert parse_pg_ready(2, "127.0.0.1:5432 - no response\n") == (False, "127.0.0.1:5432 - no response")
    assert parse_pg_ready(1, "") == (False, "pg_isready exited 1")
    assert parse_pg_connections("97|100|3\n") == PgConnections(97, 100, 3)
    assert PgConnections(97, 100, 3).available == 0
    with pytest.raises(ParseError):
        parse_pg_connections("")
    assert [(m.name, m.state) for m in parse_pending_modules("sale|to upgrade\nstock|to install\n")] == [
        ("sale", "to upgrade"), ("stock", "to install")]


def test_deploy_status_reads_the_failing_gates_and_the_rollback_tag():
    d = parse_deploy_status(deploy_status("failed", failing="login_page"))
    assert d is not None
    assert (d.deploy_id, d.status, d.previous_tag, d.odoo_tag) == (
        "deploy-20261202-020955", "failed", "18.0-20261115", "18.0-20261201")
    assert d.failing_gates == (("login_page", "500 on /web/login"),)
    assert parse_deploy_status("") is None
    with pytest.raises(ParseError):
        parse_deploy_status("/x/deploy_status.json\n{not json")


# --- parse_all ----------------------------------------------------------------------------------------


def test_parse_all_of_the_healthy_droplet():
    facts = parse_all(healthy_outputs(), target=TARGET, now=NOW)
    assert facts.errors == ()
    assert [s.service for s in facts.services or ()] == ["odoo", "db", "redis"]
    assert facts.pg_ready is True and facts.pending_modules == ()
    assert facts.deploy_status and facts.deploy_status.status == "success"


def test_a_failed_or_unreadable_output_is_not_gathered_with_its_reason():
    outputs = healthy_outputs()
    outputs[c.NGINX_SITE] = CommandOutput(1, "", "cat: /etc/nginx/sites-enabled/odoo.conf: No such file or directory")
    outputs[c.DISK] = CommandOutput(0, "garbage\n1 2 3\n")
    outputs[c.ODOO_SOCKETS] = CommandOutput(1, "", 'service "odoo" is not running')
    del outputs[c.MEMORY]
    facts = parse_all(outputs, target=TARGET, now=NOW)
    errors = dict(facts.errors)
    assert facts.nginx_site is None and "No such file or directory" in errors[c.NGINX_SITE]
    assert facts.disks is None and errors[c.DISK].startswith("unreadable output")
    assert facts.odoo_sockets is None and "not running" in errors[c.ODOO_SOCKETS]
    assert facts.memory is None and errors[c.MEMORY] == "not run"
    assert facts.services is not None  # the others still read


def test_grep_without_a_match_is_odoos_defaults_and_nginx_t_failing_is_a_fact():
    outputs = {**healthy_outputs(), c.ODOO_CONF: CommandOutput(1, ""),
               c.NGINX_TEST: CommandOutput(1, "", "nginx: [emerg] unexpected end of file\n")}
    facts = parse_all(outputs, target=TARGET, now=NOW)
    assert facts.odoo_conf == OdooConf()
    assert facts.nginx_test is not None and not facts.nginx_test.ok
    assert facts.errors == ()


def test_managed_postgres_reads_no_db_log():
    target = dataclasses.replace(TARGET, postgres_selfhost=False, services=("odoo", "redis"))
    outputs = healthy_outputs()
    del outputs[c.DB_LOG]
    facts = parse_all(outputs, target=target, now=NOW)
    assert facts.db_events == () and c.DB_LOG not in dict(facts.errors)
