"""Pure predicates over the facts, with their thresholds: what counts as a crash loop, a full disk, a
wrong upstream. The checks (checks.py) and the cause precedence (causes.py) both ask these, so the table
an operator reads and the cause doctor names never disagree."""

from __future__ import annotations

import datetime as dt

from builder.doctor.classify import recent
from builder.doctor.facts import Disk, DoctorFacts, LogEvent, LogKind, OdooConf, ServiceState, Socket
from builder.doctor.target import ODOO_SERVICE

CRASHLOOP_RESTARTS = 3  # restarts since the container was made: the agent's container_up gate uses 3 too
CRASHLOOP_UPTIME = dt.timedelta(minutes=10)  # ... and it is young: restarts a week ago are not a loop
DISK_FULL_PERCENT = 98
DISK_FULL_BYTES = 256 * 1024 * 1024  # PostgreSQL stops at the first failed WAL write
DISK_WARN_PERCENT = 90
MEMORY_WARN_FRACTION = 0.05
CONNECTIONS_WARN_FRACTION = 0.8
CERT_WARN = dt.timedelta(days=14)  # Let's Encrypt renews 30 days before expiry; 14 left means it failed
# Log lines older than this describe an earlier incident, not the one the operator is looking at.
RECENT = dt.timedelta(minutes=30)
# nginx lines within this much of Odoo's (re)start are the start itself (502s before the workers listen).
STARTUP_GRACE = dt.timedelta(seconds=90)
EDGE_PORTS = (80, 443)  # what nginx must listen on (the firewall admits 22, 80, 443)
WEBSOCKET_PATH = "/websocket"
FORWARDED_HOST = "x-forwarded-host"


def crash_looping(s: ServiceState, now: dt.datetime) -> bool:
    if s.state == "restarting":
        return True
    young = s.started_at is None or now - s.started_at <= CRASHLOOP_UPTIME
    return s.restart_count >= CRASHLOOP_RESTARTS and young


def disk_full(d: Disk) -> bool:
    return d.use_percent >= DISK_FULL_PERCENT or d.available < DISK_FULL_BYTES


def listens(sockets: tuple[Socket, ...] | None, port: int) -> bool:
    return any(s.port == port for s in sockets or ())


def hard_memory_kill(e: LogEvent) -> bool:
    """A worker stopped by limit_memory_hard (RLIMIT_AS): Python raises MemoryError mid-request."""
    return e.kind == LogKind.WORKER_MEMORY and "MemoryError" in e.line


def odoo_events(facts: DoctorFacts, *kinds: LogKind) -> list[LogEvent]:
    return [e for e in recent(facts.odoo_events, facts.now, RECENT) if e.kind in kinds]


def nginx_events(facts: DoctorFacts, *kinds: LogKind) -> list[LogEvent]:
    """Recent nginx events that came after Odoo's (re)start settled: the 502s of a start are not a fault."""
    odoo = facts.service(ODOO_SERVICE)
    since = odoo.started_at + STARTUP_GRACE if odoo and odoo.started_at and odoo.state == "running" else None
    return [e for e in recent(facts.nginx_events, facts.now, RECENT, since) if e.kind in kinds]


def db_events(facts: DoctorFacts, *kinds: LogKind) -> list[LogEvent]:
    return [e for e in recent(facts.db_events, facts.now, RECENT) if e.kind in kinds]


def expected_port(path: str, conf: OdooConf) -> int:
    """Where a location must proxy: /websocket to the gevent port when Odoo has workers, else the HTTP port."""
    return conf.gevent_port if path == WEBSOCKET_PATH and conf.workers > 0 else conf.http_port


def wrong_upstreams(facts: DoctorFacts) -> list[tuple[str, tuple[int, ...], int]]:
    """(location, ports it proxies to, the port it should) for every proxied location that misses Odoo."""
    site, conf = facts.nginx_site, facts.odoo_conf or OdooConf()
    if site is None:
        return []
    out = []
    for loc in site.proxied():
        path = loc.path.split()[-1]
        ports = site.backend_ports(loc)
        want = expected_port(path, conf)
        if ports and want not in ports:
            out.append((path, ports, want))
    return out


def refused_elsewhere(facts: DoctorFacts) -> list[LogEvent]:
    """nginx refused at a port Odoo does not listen on, while Odoo does listen (nginx asks the wrong place)."""
    sockets = facts.odoo_sockets
    conf = facts.odoo_conf or OdooConf()
    if sockets is None or not listens(sockets, conf.http_port):
        return []
    out = []
    for e in nginx_events(facts, LogKind.UPSTREAM_REFUSED):
        port = e.upstream.rpartition(":")[2]
        if port.isdigit() and not listens(sockets, int(port)):
            out.append(e)
    return out


def short_read_timeouts(facts: DoctorFacts) -> list[tuple[str, int]]:
    """(location, seconds) where nginx stops waiting before Odoo's limit_time_real would end the request."""
    site, conf = facts.nginx_site, facts.odoo_conf
    if site is None or conf is None:
        return []
    return [(loc.path.split()[-1], site.read_timeout(loc)) for loc in site.proxied()
            if loc.path.split()[-1] != WEBSOCKET_PATH and site.read_timeout(loc) < conf.limit_time_real]


def missing_forwarded_host(facts: DoctorFacts) -> list[str]:
    """Proxied locations whose requests lack X-Forwarded-Host: Odoo's proxy_mode then ignores X-Forwarded-*."""
    site = facts.nginx_site
    if site is None:
        return []
    return [loc.path.split()[-1] for loc in site.proxied() if not site.sets_header(loc, FORWARDED_HOST)]


def realtime_problem(facts: DoctorFacts) -> str:
    """Why /websocket cannot reach Odoo's realtime route through this site ("" when it can)."""
    site = facts.nginx_site
    if site is None:
        return ""
    loc = site.location(WEBSOCKET_PATH)
    if loc is None:
        return "the site has no `location /websocket`: the handshake falls into `location /` (no Upgrade, HTTP port)"
    if not loc.proxy_pass:
        return "`location /websocket` proxies nowhere"
    if not loc.has_upgrade:
        return "`location /websocket` does not pass the Upgrade header"
    return ""


def certificate_covers(names: tuple[str, ...], domain: str) -> bool:
    domain = domain.lower().rstrip(".")
    for name in (n.lower().rstrip(".") for n in names):
        if name == domain or (name.startswith("*.") and domain.partition(".")[2] == name[2:]):
            return True
    return False


def edge_ports_missing(facts: DoctorFacts) -> list[int]:
    """The edge ports nothing listens on, on the droplet (empty when `ss` was not gathered)."""
    if facts.host_sockets is None:
        return []
    return [p for p in EDGE_PORTS if not listens(facts.host_sockets, p)]
