"""Log lines -> kinds: nginx's error log and Odoo's log, read the way an operator reads them at 3 a.m.

The patterns are the messages the programs themselves write (checked against their sources):
- nginx (src/event/ngx_event_connect.c, src/http/ngx_http_upstream.c): `connect() failed (111: Connection
  refused) while connecting to upstream`, `upstream timed out (110: Connection timed out) while reading
  response header from upstream`, `upstream prematurely closed connection while reading response header
  from upstream`, `recv() failed (104: Connection reset by peer)`, `no live upstreams while connecting to
  upstream`; each with `upstream: "http://HOST:PORT/PATH"`.
- Odoo 18 (odoo/sql_db.py) `Connection to the database failed` and psycopg2's OperationalError text;
  (odoo/service/server.py) `Worker (PID) virtual memory limit (N) reached.`, `Worker (PID) CPU time limit
  (N) reached.`, `WorkerHTTP (PID) timeout after Ns` (the master's SIGKILL at limit_time_real);
  (odoo/modules/loading.py) `Some modules are not loaded, some dependencies or manifest may be missing`,
  `Some modules have inconsistent states`; (odoo/modules/registry.py) `Failed to load registry`;
  (odoo/service/server.py) `Failed to initialize database`; the official image's wait-for-psql.py
  `Database connection failure: ...`; (addons/bus) `Couldn't bind the websocket`.
"""

from __future__ import annotations

import datetime as dt
import re

from builder.doctor.facts import LogEvent, LogKind
from builder.doctor.parse_docker import docker_time

MAX_LINE = 400  # evidence lines are cut here: a traceback line can be very long

_NGINX: tuple[tuple[re.Pattern[str], LogKind], ...] = (
    (re.compile(r"connect\(\) (?:to \S+ )?failed \(111"), LogKind.UPSTREAM_REFUSED),
    (re.compile(r"upstream timed out \(110"), LogKind.UPSTREAM_TIMEOUT),
    (re.compile(r"upstream prematurely closed connection"), LogKind.UPSTREAM_CLOSED),
    (re.compile(r"recv\(\) failed \(104: Connection reset by peer\) while reading response header from upstream"),
     LogKind.UPSTREAM_CLOSED),
    (re.compile(r"no live upstreams"), LogKind.NO_LIVE_UPSTREAMS),
    (re.compile(r"No space left on device"), LogKind.NO_SPACE),
)
_UPSTREAM = re.compile(r'upstream: "(?:[a-z]+://)?([^/"]+)')

_ODOO: tuple[tuple[re.Pattern[str], LogKind], ...] = (
    (re.compile(r"No space left on device"), LogKind.NO_SPACE),
    (re.compile(r"The Connection Pool Is Full|too many clients already|remaining connection slots are reserved"),
     LogKind.DB_POOL_FULL),
    (re.compile(
        r"Connection to the database failed|Database connection failure|OperationalError: (?:connection to server"
        r"|could not connect to server|could not translate host name|server closed the connection unexpectedly"
        r"|FATAL: +the database system is (?:shutting down|starting up|in recovery mode))"
        r"|could not translate host name \S+ to address"
    ), LogKind.DB_CONNECTION),
    (re.compile(r"virtual memory limit \(\d+\) reached|virtual memory limit reached|\bMemoryError\b"),
     LogKind.WORKER_MEMORY),
    (re.compile(r"CPU time limit \(\d+\) reached|CPU time limit exceeded"), LogKind.WORKER_CPU),
    (re.compile(r"\bWorker\w* \(\d+\) timeout after \d+s"), LogKind.WORKER_TIMEOUT),
    (re.compile(r"Some modules are not loaded"), LogKind.MODULES_NOT_LOADED),
    (re.compile(r"Some modules have inconsistent states"), LogKind.MODULES_INCONSISTENT),
    (re.compile(r"Failed to load registry|Failed to initialize database"), LogKind.REGISTRY_FAILED),
    (re.compile(r"Couldn't bind the websocket"), LogKind.WEBSOCKET_WRONG_PORT),
)
# `docker compose logs --timestamps` puts "odoo-1  | 2026-12-02T03:14:07.123456789Z " before each line.
_COMPOSE_PREFIX = re.compile(r"^[\w.-]+\s*\|\s?")
_DOCKER_TIME = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d))\s")
_ODOO_TIME = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),\d+ ")  # Odoo's own (UTC in the image)
_NGINX_TIME = re.compile(r"^(\d{4}/\d\d/\d\d \d\d:\d\d:\d\d) \[")  # the droplet's time zone: UTC


def _trim(line: str) -> str:
    line = line.strip()
    return line if len(line) <= MAX_LINE else line[:MAX_LINE - 1] + "…"


def _utc(text: str, fmt: str) -> dt.datetime | None:
    try:
        return dt.datetime.strptime(text, fmt).replace(tzinfo=dt.UTC)
    except ValueError:
        return None


def classify_nginx_line(line: str) -> LogEvent | None:
    for pattern, kind in _NGINX:
        if pattern.search(line):
            m = _UPSTREAM.search(line)
            t = _NGINX_TIME.match(line.strip())
            return LogEvent(kind, _trim(line), m.group(1) if m else "",
                            _utc(t.group(1), "%Y/%m/%d %H:%M:%S") if t else None)
    return None


def split_container_line(line: str) -> tuple[str, dt.datetime | None]:
    """A `docker compose logs --timestamps` line -> (the container's own text, Docker's time of it)."""
    text = _COMPOSE_PREFIX.sub("", line.rstrip("\n"), count=1)
    m = _DOCKER_TIME.match(text)
    if m:
        return text[m.end():], docker_time(m.group(1))
    m = _ODOO_TIME.match(text)
    return text, (_utc(m.group(1), "%Y-%m-%d %H:%M:%S") if m else None)


def classify_odoo_line(line: str) -> LogEvent | None:
    """A line of Odoo's container log (or PostgreSQL's: the ENOSPC pattern is shared)."""
    text, at = split_container_line(line)
    for pattern, kind in _ODOO:
        if pattern.search(text):
            return LogEvent(kind, _trim(text), at=at)
    return None


def classify_nginx_log(text: str) -> tuple[LogEvent, ...]:
    return tuple(e for e in map(classify_nginx_line, text.splitlines()) if e)


def classify_odoo_log(text: str) -> tuple[LogEvent, ...]:
    return tuple(e for e in map(classify_odoo_line, text.splitlines()) if e)


def recent(events: tuple[LogEvent, ...] | None, now: dt.datetime, window: dt.timedelta,
           since: dt.datetime | None = None) -> list[LogEvent]:
    """Events written in the last `window` (and after `since`); an event without a time counts as recent."""
    out = []
    for e in events or ():
        if e.at is None:
            out.append(e)
        elif now - e.at <= window and (since is None or e.at >= since):
            out.append(e)
    return out


def by_kind(events: tuple[LogEvent, ...] | None, *kinds: LogKind) -> list[LogEvent]:
    return [e for e in events or () if e.kind in kinds]
