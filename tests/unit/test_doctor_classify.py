"""Log lines -> kinds, with lines as nginx 1.22 and Odoo 18 (through `docker compose logs --timestamps`) write
them; what does not match is no event, and old lines are told apart from recent ones."""

from __future__ import annotations

import datetime as dt

import pytest

from builder.doctor.classify import (
    classify_nginx_line,
    classify_nginx_log,
    classify_odoo_line,
    classify_odoo_log,
    recent,
    split_container_line,
)
from builder.doctor.facts import LogKind

NGINX = [
    ('2026/12/02 03:14:07 [error] 1201#1201: *1043 connect() failed (111: Connection refused) while connecting to '
     'upstream, client: 198.51.100.23, server: erp.example.com, request: "GET /web HTTP/2.0", upstream: '
     '"http://127.0.0.1:8070/web", host: "erp.example.com"', LogKind.UPSTREAM_REFUSED, "127.0.0.1:8070"),
    ('2026/12/02 03:14:07 [error] 1201#1201: *1044 upstream timed out (110: Connection timed out) while reading '
     'response header from upstream, client: 198.51.100.23, server: erp.example.com, request: "GET /report/pdf/'
     'sale.report_saleorder/12 HTTP/2.0", upstream: "http://127.0.0.1:8069/report/pdf/sale.report_saleorder/12", '
     'host: "erp.example.com"', LogKind.UPSTREAM_TIMEOUT, "127.0.0.1:8069"),
    ('2026/12/02 03:14:07 [error] 1201#1201: *1045 upstream prematurely closed connection while reading response '
     'header from upstream, client: 198.51.100.23, server: erp.example.com, request: "POST /web/dataset/call_kw '
     'HTTP/2.0", upstream: "http://127.0.0.1:8069/web/dataset/call_kw", host: "erp.example.com"',
     LogKind.UPSTREAM_CLOSED, "127.0.0.1:8069"),
    ('2026/12/02 03:14:07 [error] 1201#1201: *1046 recv() failed (104: Connection reset by peer) while reading '
     'response header from upstream, client: 127.0.0.1, server: erp.example.com, request: "GET /web/login '
     'HTTP/1.1", upstream: "http://127.0.0.1:8069/web/login", host: "erp.example.com"', LogKind.UPSTREAM_CLOSED,
     "127.0.0.1:8069"),
    ('2026/12/02 03:14:07 [error] 1201#1201: *1047 no live upstreams while connecting to upstream, client: '
     '198.51.100.23, server: erp.example.com, request: "GET /web HTTP/2.0", upstream: "http://odoo_http/web", '
     'host: "erp.example.com"', LogKind.NO_LIVE_UPSTREAMS, "odoo_http"),
    ('2026/12/02 03:14:07 [crit] 1201#1201: *1048 pwrite() "/var/lib/nginx/body/0000000012" failed (28: No space '
     'left on device), client: 198.51.100.23, server: erp.example.com, request: "POST /web/binary/upload '
     'HTTP/2.0", host: "erp.example.com"', LogKind.NO_SPACE, ""),
]


@pytest.mark.parametrize("line, kind, upstream", NGINX, ids=[k.value + str(i) for i, (_, k, _) in enumerate(NGINX)])
def test_nginx_lines(line: str, kind: LogKind, upstream: str):
    event = classify_nginx_line(line)
    assert event is not None and event.kind == kind and event.upstream == upstream
    assert event.at == dt.datetime(2026, 12, 2, 3, 14, 7, tzinfo=dt.UTC)


def test_nginx_lines_that_are_not_upstream_trouble():
    quiet = [
        '2026/12/02 03:14:07 [notice] 1200#1200: signal process started',
        '2026/12/02 03:14:07 [error] 1201#1201: *9 open() "/var/www/letsencrypt/.well-known/acme-challenge/x" '
        'failed (2: No such file or directory), client: 198.51.100.9, server: erp.example.com',
        '2026/12/02 03:14:07 [info] 1201#1201: *10 client closed connection while waiting for request',
    ]
    assert classify_nginx_log("\n".join(quiet)) == ()


def _odoo(message: str, level: str = "INFO", logger: str = "odoo.service.server") -> str:
    return f"odoo-1  | 2026-12-02T03:14:07.123456789Z 2026-12-02 03:14:07,120 38 {level} odoo {logger}: {message}"


ODOO = [
    (_odoo("Connection to the database failed", logger="odoo.sql_db"), LogKind.DB_CONNECTION),
    ("odoo-1  | 2026-12-02T03:14:07.123456789Z psycopg2.OperationalError: connection to server at \"db\" "
     "(172.20.0.2), port 5432 failed: Connection refused", LogKind.DB_CONNECTION),
    ("odoo-1  | 2026-12-02T03:14:07.123456789Z psycopg2.OperationalError: could not translate host name \"db\" "
     "to address: Temporary failure in name resolution", LogKind.DB_CONNECTION),
    # The official image's wait-for-psql.py, before Odoo starts (the entrypoint then exits 1).
    ("odoo-1  | 2026-12-02T03:14:07.123456789Z Database connection failure: connection to server at \"db\" "
     "(172.20.0.2), port 5432 failed: Connection refused", LogKind.DB_CONNECTION),
    (_odoo("The Connection Pool Is Full", "ERROR", "odoo.sql_db"), LogKind.DB_POOL_FULL),
    ("odoo-1  | 2026-12-02T03:14:07.123456789Z psycopg2.OperationalError: connection to server at \"db\" "
     "(172.20.0.2), port 5432 failed: FATAL:  sorry, too many clients already", LogKind.DB_POOL_FULL),
    (_odoo("Worker (38) virtual memory limit (2819624960) reached."), LogKind.WORKER_MEMORY),
    ("odoo-1  | 2026-12-02T03:14:07.123456789Z MemoryError", LogKind.WORKER_MEMORY),
    (_odoo("Worker (38) CPU time limit (600) reached."), LogKind.WORKER_CPU),
    (_odoo("WorkerHTTP (38) timeout after 720s", "ERROR"), LogKind.WORKER_TIMEOUT),
    (_odoo("WorkerCron (41) timeout after 720s", "ERROR"), LogKind.WORKER_TIMEOUT),
    (_odoo("Some modules are not loaded, some dependencies or manifest may be missing: ['sale_stock']", "ERROR",
           "odoo.modules.loading"), LogKind.MODULES_NOT_LOADED),
    (_odoo("Some modules have inconsistent states, some dependencies may be missing: ['stock']", "ERROR",
           "odoo.modules.loading"), LogKind.MODULES_INCONSISTENT),
    (_odoo("Failed to load registry", "ERROR", "odoo.modules.registry"), LogKind.REGISTRY_FAILED),
    (_odoo("Failed to initialize database `odoo`.", "CRITICAL"), LogKind.REGISTRY_FAILED),
    (_odoo("Couldn't bind the websocket. Is the connection opened on the evented port (8072)?", "ERROR",
           "odoo.addons.bus.websocket"), LogKind.WEBSOCKET_WRONG_PORT),
    (_odoo("OSError: [Errno 28] No space left on device: '/var/lib/odoo/sessions/ab'", "ERROR", "odoo.http"),
     LogKind.NO_SPACE),
    ('db-1  | 2026-12-02T03:14:07.123456789Z 2026-12-02 03:14:07.004 UTC [1] PANIC:  could not write to file '
     '"pg_wal/xlogtemp.63": No space left on device', LogKind.NO_SPACE),
]


@pytest.mark.parametrize("line, kind", ODOO, ids=[k.value + str(i) for i, (_, k) in enumerate(ODOO)])
def test_odoo_lines(line: str, kind: LogKind):
    event = classify_odoo_line(line)
    assert event is not None and event.kind == kind
    assert event.at == dt.datetime(2026, 12, 2, 3, 14, 7, 123456, tzinfo=dt.UTC)
    assert not event.line.startswith(("odoo-1", "db-1", "2026-12-02T"))  # the container's own text


def test_odoo_lines_that_are_its_normal_life():
    quiet = [
        _odoo("HTTP service (werkzeug) running on 4f1c2a9e7b11:8069"),
        _odoo("Worker WorkerHTTP (61) alive"),
        _odoo("Worker (38) max request (8192) reached."),
        _odoo("loading 53 modules...", logger="odoo.modules.loading"),
        _odoo('127.0.0.1 - - [02/Dec/2026 03:14:55] "GET /web/health HTTP/1.1" 200 - 2 0.001 0.004',
              logger="werkzeug"),
    ]
    assert classify_odoo_log("\n".join(quiet)) == ()


def test_times_docker_then_odoos_own():
    assert split_container_line("odoo-1  | 2026-12-02T03:14:07.5Z text") == (
        "text", dt.datetime(2026, 12, 2, 3, 14, 7, 500000, tzinfo=dt.UTC))
    text, at = split_container_line("2026-12-02 03:14:07,120 38 ERROR odoo odoo.sql_db: x")
    assert at == dt.datetime(2026, 12, 2, 3, 14, 7, tzinfo=dt.UTC) and text.endswith("x")
    assert split_container_line("Traceback (most recent call last):") == ("Traceback (most recent call last):",
                                                                          None)


def test_long_lines_are_cut():
    event = classify_odoo_line(_odoo("Failed to load registry " + "x" * 2000, "ERROR"))
    assert event is not None and len(event.line) <= 400


def test_recent_keeps_the_window_and_what_came_after_a_start():
    now = dt.datetime(2026, 12, 2, 3, 15, tzinfo=dt.UTC)
    lines = [
        "2026/12/02 02:10:07 [error] 1#1: *1 connect() failed (111: Connection refused) while connecting to upstream",
        "2026/12/02 03:10:07 [error] 1#1: *2 connect() failed (111: Connection refused) while connecting to upstream",
        "2026/12/02 03:14:07 [error] 1#1: *3 connect() failed (111: Connection refused) while connecting to upstream",
    ]
    events = classify_nginx_log("\n".join(lines))
    assert [e.line[-70:] for e in recent(events, now, dt.timedelta(minutes=30))] == [
        e.line[-70:] for e in events[1:]]
    since = dt.datetime(2026, 12, 2, 3, 12, tzinfo=dt.UTC)
    assert recent(events, now, dt.timedelta(minutes=30), since) == [events[2]]
    untimed = classify_odoo_log("MemoryError")
    assert recent(untimed, now, dt.timedelta(minutes=30)) == list(untimed)
