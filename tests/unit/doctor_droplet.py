"""A healthy droplet as doctor sees it (every command's output, the outside probes), and the eleven faults of
issue 14 as data: each fault is the outputs and probes that change when it is injected the way it happens in
production. Used by tests/unit/test_doctor_*.py.

The nginx site and odoo.conf are the project's own renders (firstboot/render), so the parsers are held to
what a droplet really carries; the other outputs are the formats the tools print (compose v2, docker 20.10+,
iproute2's ss, coreutils' df, procps' free, PostgreSQL 16's pg_isready, nginx 1.22 on Debian 12, Odoo 18).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
from dataclasses import dataclass, field

from builder.doctor import commands as c
from builder.doctor.facts import (
    CertificateFacts,
    CommandOutput,
    DnsFacts,
    EdgeFacts,
    HealthProbe,
    HttpProbe,
    LoginProbe,
    ReservedIpFacts,
)
from builder.doctor.target import DoctorTarget
from firstboot.config import Deploy, EdgeSpec, Secrets
from firstboot.render.nginx import render_nginx_site
from firstboot.render.odoo_conf import render_odoo_conf
from firstboot.workers import plan_for_slug

NOW = dt.datetime(2026, 12, 2, 3, 15, 0, tzinfo=dt.UTC)
DOMAIN = "erp.example.com"
RESERVED_IP = "203.0.113.50"
DROPLET_ID = 412345678
TARGET = DoctorTarget(droplet_id=DROPLET_ID, address="203.0.113.21", project="odoo", domain=DOMAIN)
SECRETS = Secrets(db_password="Dbpw-only-in-this-test-1", admin_passwd="Master-only-in-this-test-2")
STARTED = NOW - dt.timedelta(hours=1, minutes=4)  # the containers came up at first boot


def docker_ts(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond:06d}123Z"  # docker prints nanoseconds


def odoo_line(t: dt.datetime, level: str, logger: str, message: str, pid: int = 1, db: str = "odoo") -> str:
    """A `docker compose logs --timestamps` line of Odoo's own log format."""
    own = t.strftime("%Y-%m-%d %H:%M:%S,") + f"{t.microsecond // 1000:03d}"
    return f"odoo-1  | {docker_ts(t)} {own} {pid} {level} {db} {logger}: {message}"


def odoo_raw(t: dt.datetime, text: str) -> str:
    """A line Odoo writes without its prefix (a traceback line), as compose logs shows it."""
    return f"odoo-1  | {docker_ts(t)} {text}"


def nginx_line(t: dt.datetime, message: str, upstream_path: str = "/web", port: int = 8069,
               request: str = "GET /web HTTP/2.0") -> str:
    return (f"{t:%Y/%m/%d %H:%M:%S} [error] 1201#1201: *{t.second + 1040} {message}, client: 198.51.100.23, "
            f'server: {DOMAIN}, request: "{request}", upstream: "http://127.0.0.1:{port}{upstream_path}", '
            f'host: "{DOMAIN}"')


def deploy() -> Deploy:
    return dataclasses.replace(Deploy(), edge=EdgeSpec(domain=DOMAIN, tls="letsencrypt"))


def rendered_site() -> str:
    return render_nginx_site(deploy(), DOMAIN, f"/etc/letsencrypt/live/{DOMAIN}/fullchain.pem",
                             f"/etc/letsencrypt/live/{DOMAIN}/privkey.pem")


def rendered_odoo_conf() -> str:
    return render_odoo_conf(deploy(), SECRETS, plan_for_slug("s-2vcpu-4gb"))


def grep_conf(text: str) -> str:
    """What the odoo_conf command (`grep -E '^[[:space:]]*(keys)[[:space:]]*='`) prints for this file."""
    keys = re.compile(r"^\s*(" + "|".join(c.ODOO_CONF_KEYS) + r")\s*=")
    return "".join(line + "\n" for line in text.splitlines() if keys.match(line))


def compose_row(service: str, state: str = "running", status: str = "Up About an hour (healthy)",
                health: str = "healthy", exit_code: int = 0) -> dict[str, object]:
    return {
        "Command": '"/entrypoint.sh odoo"' if service == "odoo" else '"docker-entrypoint.s…"',
        "CreatedAt": "2026-12-02 02:10:11 +0000 UTC", "ExitCode": exit_code, "Health": health,
        "ID": f"{abs(hash(service)) % 16 ** 12:012x}", "Image": f"registry.local/{service}:18.0",
        "Name": f"odoo-{service}-1", "Names": f"odoo-{service}-1", "Project": "odoo", "Service": service,
        "State": state, "Status": status, "RunningFor": "About an hour ago", "Size": "0B",
    }


def inspect_row(service: str, status: str = "running", restarts: int = 0, exit_code: int = 0,
                started: dt.datetime = STARTED, finished: dt.datetime | None = None, health: str = "healthy",
                oom: bool = False) -> dict[str, object]:
    return {
        "Id": f"{abs(hash(service)) % 16 ** 12:012x}" + "0" * 52,
        "Created": docker_ts(STARTED - dt.timedelta(seconds=30)),
        "Name": f"/odoo-{service}-1",
        "RestartCount": restarts,
        "State": {
            "Status": status, "Running": status == "running", "Paused": False,
            "Restarting": status == "restarting", "OOMKilled": oom, "Dead": False, "Pid": 2301 if status ==
            "running" else 0, "ExitCode": exit_code, "Error": "", "StartedAt": docker_ts(started),
            "FinishedAt": docker_ts(finished) if finished else "0001-01-01T00:00:00Z",
            "Health": {"Status": health, "FailingStreak": 0,
                       "Log": [{"Start": docker_ts(NOW), "End": docker_ts(NOW), "ExitCode": 0, "Output": ""}]},
        },
        "Config": {"Labels": {"com.docker.compose.project": "odoo", "com.docker.compose.service": service,
                              "com.docker.compose.container-number": "1"}},
    }


def ndjson(rows: list[dict[str, object]]) -> str:
    return "".join(json.dumps(r) + "\n" for r in rows)


PROC_TCP_HEADER = ("  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout "
                   "inode\n")
PROC_TCP6_HEADER = ("  sl  local_address                         remote_address                        st "
                    "tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n")


def proc_tcp(*ports: int) -> str:
    lines = [PROC_TCP_HEADER]
    for i, port in enumerate(ports):
        lines.append(f"   {i}: 00000000:{port:04X} 00000000:0000 0A 00000000:00000000 00:00000000 00000000   101 "
                     f"       0 2345{i} 1 0000000000000000 100 0 0 10 0\n")
    # an established connection from nginx (through docker-proxy): not a listener
    lines.append(f"   {len(ports)}: 0300130A:1F85 0100130A:C2A4 01 00000000:00000000 00:00000000 00000000   101 "
                 "       0 23999 1 0000000000000000 20 4 30 10 -1\n")
    lines.append(PROC_TCP6_HEADER)
    return "".join(lines)


SS_HEALTHY = """\
State  Recv-Q Send-Q Local Address:Port  Peer Address:PortProcess
LISTEN 0      4096       127.0.0.1:8069       0.0.0.0:*    users:(("docker-proxy",pid=2211,fd=4))
LISTEN 0      4096       127.0.0.1:8072       0.0.0.0:*    users:(("docker-proxy",pid=2231,fd=4))
LISTEN 0      511          0.0.0.0:80         0.0.0.0:*    users:(("nginx",pid=1201,fd=6),("nginx",pid=1200,fd=6))
LISTEN 0      511          0.0.0.0:443        0.0.0.0:*    users:(("nginx",pid=1201,fd=7),("nginx",pid=1200,fd=7))
LISTEN 0      128          0.0.0.0:22         0.0.0.0:*    users:(("sshd",pid=612,fd=3))
LISTEN 0      128             [::]:22            [::]:*    users:(("sshd",pid=612,fd=4))
"""

NGINX_T_OK = ("nginx: the configuration file /etc/nginx/nginx.conf syntax is ok\n"
              "nginx: configuration file /etc/nginx/nginx.conf test is successful\n")

# First boot: the agent's first gate round met Odoo before its workers listened (DESIGN.md section 4). A fault of
# an hour ago, and the noise of the start itself, are not today's cause.
NGINX_LOG_HEALTHY = "\n".join([
    nginx_line(STARTED + dt.timedelta(seconds=2), "connect() failed (111: Connection refused) while connecting to "
               "upstream", "/web/health", request="GET /web/health HTTP/1.1"),
    nginx_line(STARTED + dt.timedelta(seconds=4), "recv() failed (104: Connection reset by peer) while reading "
               "response header from upstream", "/web/login", request="GET /web/login HTTP/1.1"),
]) + "\n"

ODOO_LOG_HEALTHY = "\n".join([
    odoo_line(STARTED, "INFO", "odoo", "Odoo version 18.0-20261201", db="?"),
    odoo_line(STARTED, "INFO", "odoo", "Using configuration file at /etc/odoo/odoo.conf ", db="?"),
    odoo_line(STARTED, "INFO", "odoo.service.server", "HTTP service (werkzeug) running on 4f1c2a9e7b11:8069",
              db="?"),
    odoo_line(STARTED + dt.timedelta(seconds=1), "INFO", "odoo.service.server", "Evented Service (longpolling) "
              "running on 0.0.0.0:8072", pid=9, db="?"),
    odoo_line(STARTED + dt.timedelta(seconds=3), "INFO", "odoo.modules.loading", "loading 53 modules...", pid=12),
    odoo_line(STARTED + dt.timedelta(seconds=4), "INFO", "odoo.modules.loading", "53 modules loaded in 0.61s, 0 "
              "queries (+0 extra)", pid=12),
    odoo_line(STARTED + dt.timedelta(seconds=4), "INFO", "odoo.modules.loading", "Modules loaded.", pid=12),
    odoo_line(NOW - dt.timedelta(seconds=5), "INFO", "werkzeug", '127.0.0.1 - - [02/Dec/2026 03:14:55] "GET '
              '/web/health?db_server_status=1 HTTP/1.1" 200 - 2 0.001 0.004', pid=14),
]) + "\n"

DB_LOG_HEALTHY = (
    f"db-1  | {docker_ts(STARTED)} 2026-12-02 02:10:12.345 UTC [1] LOG:  starting PostgreSQL 16.4 (Debian "
    "16.4-1.pgdg120+2) on x86_64-pc-linux-gnu\n"
    f"db-1  | {docker_ts(STARTED)} 2026-12-02 02:10:12.512 UTC [1] LOG:  database system is ready to accept "
    "connections\n"
)

DF_HEALTHY = """\
Filesystem        1-blocks       Used   Available Capacity Mounted on
/dev/vda1      51749634048 9384427520 40213635072      19% /
/dev/vda1      51749634048 9384427520 40213635072      19% /
"""

FREE_HEALTHY = """\
               total        used        free      shared  buff/cache   available
Mem:      4100829184  1563217920   742342656    42356736  1795268608  2537611264
Swap:              0           0           0
"""

STATUS_PATH = "/var/lib/odoo-droplet/proofs/deploy-20261202-020955/deploy_status.json"
GATES = ("container_up", "health_internal", "health_edge", "login_page", "realtime_route", "db_reachable",
         "module_state_ok", "registry_loaded", "admin_login", "base_url", "tls_certificate")


def deploy_status(status: str = "success", failing: str = "") -> str:
    doc = {
        "deploy_id": "deploy-20261202-020955", "status": status, "odoo_tag": "18.0-20261201",
        "rollback_info": {"previous_tag": "18.0-20261115", "rollback_available": True},
        "gates": [{"name": g, "passed": g != failing, "detail": "ok" if g != failing else "500 on /web/login",
                   "latency_ms": 12} for g in GATES],
    }
    if status != "success":
        doc["error_message"] = f"gate {failing} failed"
    return STATUS_PATH + "\n" + json.dumps(doc, indent=2) + "\n"


def ok(stdout: str = "", stderr: str = "") -> CommandOutput:
    return CommandOutput(0, stdout, stderr)


def failed(stderr: str, returncode: int = 1) -> CommandOutput:
    return CommandOutput(returncode, "", stderr)


def healthy_outputs() -> dict[str, CommandOutput]:
    services = ("odoo", "db", "redis")
    return {
        c.COMPOSE_PS: ok(ndjson([compose_row(s) for s in services])),
        c.DOCKER_INSPECT: ok(json.dumps([inspect_row(s) for s in services], indent=4)),
        c.ODOO_SOCKETS: ok(proc_tcp(8069, 8072)),
        c.HOST_SOCKETS: ok(SS_HEALTHY),
        c.NGINX_TEST: ok(stderr=NGINX_T_OK),
        c.NGINX_SITE: ok(rendered_site()),
        c.NGINX_ERROR_LOG: ok(NGINX_LOG_HEALTHY),
        c.ODOO_LOG: ok(ODOO_LOG_HEALTHY),
        c.DB_LOG: ok(DB_LOG_HEALTHY),
        c.ODOO_CONF: ok(grep_conf(rendered_odoo_conf())),
        c.PG_READY: ok("127.0.0.1:5432 - accepting connections\n"),
        c.PG_CONNECTIONS: ok("7|100|3\n"),
        c.PG_MODULES: ok(""),
        c.DISK: ok(DF_HEALTHY),
        c.MEMORY: ok(FREE_HEALTHY),
        c.DEPLOY_STATUS: ok(deploy_status()),
    }


def healthy_edge() -> EdgeFacts:
    base = f"https://{DOMAIN}"
    return EdgeFacts(
        health=HealthProbe(f"{base}/web/health?db_server_status=1", 200,
                           body='{"status": "pass", "db_server_status": true}', db_server_status=True),
        login=LoginProbe(f"{base}/web/login", 200, body='<form class="oe_login_form"', has_login_form=True),
        websocket=HttpProbe(f"wss://{DOMAIN}/websocket", 101),
        http_redirect=HttpProbe(f"http://{DOMAIN}/", 301, location=f"https://{DOMAIN}/"),
        odoo_redirect=HttpProbe(f"{base}/odoo", 303, location="/web/login?redirect=%2Fodoo%3F"),
        certificate=CertificateFacts(NOW + dt.timedelta(days=61), (DOMAIN,), "(STAGING) Pebble Intermediate CA"),
        reserved_ip=ReservedIpFacts(RESERVED_IP, DROPLET_ID),
        dns=DnsFacts(DOMAIN, (RESERVED_IP,)),
    )


# --- the faults ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Fault:
    """A fault as data: what it changes in the droplet's outputs and in the outside probes."""

    name: str
    cause: str  # the cause doctor must name first
    outputs: dict[str, CommandOutput] = field(default_factory=dict)
    edge: EdgeFacts = EdgeFacts()  # the probes that see something else (None: as on the healthy droplet)


def merge_edge(base: EdgeFacts, over: EdgeFacts) -> EdgeFacts:
    """`base` with every probe `over` has replaced."""
    return EdgeFacts(
        health=over.health or base.health, login=over.login or base.login,
        websocket=over.websocket or base.websocket, http_redirect=over.http_redirect or base.http_redirect,
        odoo_redirect=over.odoo_redirect or base.odoo_redirect, certificate=over.certificate or base.certificate,
        reserved_ip=over.reserved_ip or base.reserved_ip, dns=over.dns or base.dns,
    )


def with_fault(fault: Fault) -> tuple[dict[str, CommandOutput], EdgeFacts]:
    return {**healthy_outputs(), **fault.outputs}, merge_edge(healthy_edge(), fault.edge)


def _ps(odoo: dict[str, object]) -> CommandOutput:
    """compose ps with this odoo row and healthy db and redis rows."""
    return ok(ndjson([odoo] + [compose_row(s) for s in ("db", "redis")]))


def _inspect(odoo: dict[str, object]) -> CommandOutput:
    return ok(json.dumps([odoo] + [inspect_row(s) for s in ("db", "redis")]))


def _site(edit: tuple[str, str]) -> CommandOutput:
    old, new = edit
    text = rendered_site()
    assert old in text, old
    return ok(text.replace(old, new))


def _without_websocket_location() -> CommandOutput:
    text = rendered_site()
    start = text.index("    # Realtime (bus, live chat, notifications)")
    end = text.index("    # Static assets")
    return ok(text[:start] + text[end:])


BAD_GATEWAY = HealthProbe(f"https://{DOMAIN}/web/health?db_server_status=1", 502, body="<html><head><title>502 "
                          "Bad Gateway</title></head>")
M = dt.timedelta(minutes=1)
S = dt.timedelta(seconds=1)
ODOO_NOT_RUNNING = failed('service "odoo" is not running')

FAULTS: tuple[Fault, ...] = (
    Fault(
        "odoo stopped", "odoo_down",
        outputs={
            c.COMPOSE_PS: _ps(compose_row("odoo", state="exited", status="Exited (0) 2 minutes ago", health="")),
            c.DOCKER_INSPECT: _inspect(inspect_row("odoo", status="exited", finished=NOW - 2 * M,
                                                   health="unhealthy")),
            c.ODOO_SOCKETS: ODOO_NOT_RUNNING,
            c.NGINX_ERROR_LOG: ok(NGINX_LOG_HEALTHY + nginx_line(NOW - M, "connect() failed (111: Connection "
                                                                 "refused) while connecting to upstream") + "\n"),
            c.ODOO_LOG: ok(ODOO_LOG_HEALTHY + odoo_line(NOW - 2 * M, "INFO", "odoo.service.server",
                                                        "Initiating shutdown", db="?") + "\n"),
        },
        edge=EdgeFacts(health=BAD_GATEWAY, login=LoginProbe(f"https://{DOMAIN}/web/login", 502),
              websocket=HttpProbe(f"wss://{DOMAIN}/websocket", 502)),
    ),
    Fault(
        "odoo crash-looping", "odoo_crashloop",
        outputs={
            c.COMPOSE_PS: _ps(compose_row("odoo", state="restarting", status="Restarting (1) 3 seconds ago",
                                          health="", exit_code=1)),
            c.DOCKER_INSPECT: _inspect(inspect_row("odoo", status="restarting", restarts=7, exit_code=1,
                                                   started=NOW - 20 * S, finished=NOW - 3 * S, health="starting")),
            c.ODOO_SOCKETS: failed("Error response from daemon: Container 4f1c2a9e7b11 is restarting, wait until "
                                   "the container is running"),
            c.ODOO_LOG: ok(ODOO_LOG_HEALTHY + "\n".join([
                odoo_line(NOW - 5 * S, "CRITICAL", "odoo.service.server", "Failed to initialize database `odoo`."),
                odoo_raw(NOW - 5 * S, "Traceback (most recent call last):"),
                odoo_raw(NOW - 5 * S, '  File "/usr/lib/python3/dist-packages/odoo/service/server.py", line 1317, '
                         "in preload_registries"),
                odoo_raw(NOW - 5 * S, "KeyError: 'sale.order.template'"),
            ]) + "\n"),
        },
        edge=EdgeFacts(health=BAD_GATEWAY, login=LoginProbe(f"https://{DOMAIN}/web/login", 502),
              websocket=HttpProbe(f"wss://{DOMAIN}/websocket", 502)),
    ),
    Fault(
        "upstream pointed at a wrong port", "upstream_wrong",
        outputs={
            c.NGINX_SITE: _site(("server 127.0.0.1:8069;", "server 127.0.0.1:8070;")),
            c.NGINX_ERROR_LOG: ok(NGINX_LOG_HEALTHY + nginx_line(NOW - 30 * S, "connect() failed (111: Connection "
                                                                 "refused) while connecting to upstream",
                                                                 "/web/login", port=8070) + "\n"),
        },
        edge=EdgeFacts(health=BAD_GATEWAY, login=LoginProbe(f"https://{DOMAIN}/web/login", 502)),
    ),
    Fault(
        "/websocket location removed", "realtime_route_missing",
        outputs={
            c.NGINX_SITE: _without_websocket_location(),
            c.ODOO_LOG: ok(ODOO_LOG_HEALTHY + odoo_line(NOW - 20 * S, "ERROR", "odoo.addons.bus.websocket",
                                                        "Couldn't bind the websocket. Is the connection opened on "
                                                        "the evented port (8072)?", pid=14) + "\n"),
        },
        edge=EdgeFacts(websocket=HttpProbe(f"wss://{DOMAIN}/websocket", 500, body="<title>500 Internal Server Error"
                                     "</title> Couldn't bind the websocket.")),
    ),
    Fault(
        "a request outlasting a short proxy_read_timeout", "timeout_too_short",
        outputs={
            c.NGINX_SITE: _site(("proxy_read_timeout 720s;", "proxy_read_timeout 5s;")),
            c.NGINX_ERROR_LOG: ok(NGINX_LOG_HEALTHY + nginx_line(
                NOW - 40 * S, "upstream timed out (110: Connection timed out) while reading response header from "
                "upstream", "/report/pdf/sale.report_saleorder/12", request="GET /report/pdf/sale.report_saleorder"
                "/12 HTTP/2.0") + "\n"),
        },
    ),
    Fault(
        "proxy_mode off", "proxy_mode_mismatch",
        outputs={c.ODOO_CONF: ok(grep_conf(rendered_odoo_conf()).replace("proxy_mode = True",
                                                                         "proxy_mode = False"))},
        edge=EdgeFacts(odoo_redirect=HttpProbe(f"https://{DOMAIN}/odoo", 303,
                                         location=f"http://{DOMAIN}/web/login?redirect=%2Fodoo%3F")),
    ),
    Fault(
        "worker killed by its memory limit", "worker_killed",
        outputs={
            c.ODOO_LOG: ok(ODOO_LOG_HEALTHY + "\n".join([
                odoo_line(NOW - 50 * S, "INFO", "odoo.service.server", "Worker (38) virtual memory limit "
                          "(2819624960) reached.", pid=38),
                odoo_line(NOW - 49 * S, "ERROR", "odoo.service.server", "Worker WorkerHTTP (38) Exception occured, "
                          "exiting...", pid=38),
                odoo_raw(NOW - 49 * S, "Traceback (most recent call last):"),
                odoo_raw(NOW - 49 * S, '  File "/usr/lib/python3/dist-packages/odoo/tools/pdf/__init__.py", line '
                         "296, in merge_pdf"),
                odoo_raw(NOW - 49 * S, "MemoryError"),
                odoo_line(NOW - 48 * S, "INFO", "odoo.service.server", "Worker WorkerHTTP (61) alive", pid=61),
            ]) + "\n"),
            c.NGINX_ERROR_LOG: ok(NGINX_LOG_HEALTHY + nginx_line(
                NOW - 49 * S, "upstream prematurely closed connection while reading response header from upstream",
                "/report/pdf/account.report_invoice/7", request="GET /report/pdf/account.report_invoice/7 HTTP/2.0")
                + "\n"),
        },
    ),
    Fault(
        "PostgreSQL stopped", "db_down",
        outputs={
            c.COMPOSE_PS: ok(ndjson([compose_row("odoo", status="Up About an hour (unhealthy)", health="unhealthy"),
                                     compose_row("db", state="exited", status="Exited (0) 1 minute ago", health=""),
                                     compose_row("redis")])),
            c.DOCKER_INSPECT: ok(json.dumps([inspect_row("odoo", health="unhealthy"),
                                             inspect_row("db", status="exited", finished=NOW - M),
                                             inspect_row("redis")])),
            c.PG_READY: failed('service "db" is not running'),
            c.PG_CONNECTIONS: failed('service "db" is not running'),
            c.PG_MODULES: failed('service "db" is not running'),
            c.ODOO_LOG: ok(ODOO_LOG_HEALTHY + "\n".join([
                odoo_line(NOW - 30 * S, "INFO", "odoo.sql_db", "Connection to the database failed", pid=14),
                odoo_raw(NOW - 30 * S, 'psycopg2.OperationalError: could not translate host name "db" to address: '
                         "Name or service not known"),
            ]) + "\n"),
            c.DB_LOG: ok(DB_LOG_HEALTHY + f"db-1  | {docker_ts(NOW - M)} 2026-12-02 03:14:00.101 UTC [1] LOG:  "
                         "database system is shut down\n"),
        },
        edge=EdgeFacts(health=HealthProbe(f"https://{DOMAIN}/web/health?db_server_status=1", 500,
                                    body='{"status": "fail", "db_server_status": false}', db_server_status=False),
              login=LoginProbe(f"https://{DOMAIN}/web/login", 303, location="/web/database/selector")),
    ),
    Fault(
        "a module left to upgrade", "module_state",
        outputs={c.PG_MODULES: ok("sale_management|to upgrade\n")},
    ),
    Fault(
        "disk full", "disk_full",
        outputs={
            c.DISK: ok("Filesystem        1-blocks        Used Available Capacity Mounted on\n"
                       "/dev/vda1      51749634048 49062838272         0     100% /\n"),
            c.COMPOSE_PS: ok(ndjson([compose_row("odoo"),
                                     compose_row("db", state="restarting", status="Restarting (1) 5 seconds ago",
                                                 health="", exit_code=1),
                                     compose_row("redis")])),
            c.DOCKER_INSPECT: ok(json.dumps([inspect_row("odoo"),
                                             inspect_row("db", status="restarting", restarts=4, exit_code=1,
                                                         started=NOW - 9 * S, finished=NOW - 5 * S),
                                             inspect_row("redis")])),
            c.PG_READY: failed("Error response from daemon: Container 9a1c is restarting, wait until the container "
                               "is running"),
            c.PG_CONNECTIONS: failed("Error response from daemon: Container 9a1c is restarting"),
            c.PG_MODULES: failed("Error response from daemon: Container 9a1c is restarting"),
            c.DB_LOG: ok(DB_LOG_HEALTHY + f"db-1  | {docker_ts(NOW - 2 * M)} 2026-12-02 03:13:00.004 UTC [1] PANIC:"
                         '  could not write to file "pg_wal/xlogtemp.63": No space left on device\n'),
            c.ODOO_LOG: ok(ODOO_LOG_HEALTHY + odoo_line(NOW - M, "INFO", "odoo.sql_db", "Connection to the "
                                                        "database failed", pid=14) + "\n"),
        },
        edge=EdgeFacts(health=HealthProbe(f"https://{DOMAIN}/web/health?db_server_status=1", 500,
                                    body='{"status": "fail", "db_server_status": false}', db_server_status=False)),
    ),
    Fault(
        "expired certificate", "certificate_expired",
        edge=EdgeFacts(certificate=CertificateFacts(NOW - dt.timedelta(days=1), (DOMAIN,), "(STAGING) Pebble "
                                              "Intermediate CA")),
    ),
)
