"""Facts -> the table of checks an operator reads: `{name, result: pass|warn|fail, evidence}`.

Each check names one thing the PRD's 502 checklist looks at, in the order an operator would look: the edge
from outside, then the containers, nginx, Odoo, PostgreSQL, the host, the agent's last deploy. A fact that
could not be gathered is a `warn` that says why, never a guess.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from builder.doctor import commands as c
from builder.doctor import signals as sig
from builder.doctor.facts import DoctorFacts, HttpProbe, LogEvent, LogKind, OdooConf
from builder.doctor.target import DB_SERVICE


class Result(StrEnum):
    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"


@dataclass(frozen=True)
class Check:
    name: str
    result: Result
    evidence: str

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "result": str(self.result), "evidence": self.evidence}


def _pass(name: str, evidence: str) -> Check:
    return Check(name, Result.PASS, evidence)


def _warn(name: str, evidence: str) -> Check:
    return Check(name, Result.WARN, evidence)


def _fail(name: str, evidence: str) -> Check:
    return Check(name, Result.FAIL, evidence)


def _not_gathered(name: str, facts: DoctorFacts, command: str) -> Check:
    return _warn(name, f"not gathered ({command}: {facts.error(command) or 'no output'})")


def _probe_text(p: HttpProbe) -> str:
    if p.status == 0:
        return f"{p.url}: no answer ({p.error or 'no HTTP response'})"
    extra = f" -> {p.location}" if p.location else ""
    return f"{p.url}: {p.status}{extra}"


def _gib(n: int) -> str:
    return f"{n / 1024 ** 3:.1f} GiB"


# --- from outside ----------------------------------------------------------------------------------------

def edge_health(f: DoctorFacts) -> Check | None:
    p = f.edge.health
    if p is None:
        return None
    if p.status == 200 and p.db_server_status is not False:
        said = " db_server_status true" if p.db_server_status else " (db_server_status not in the answer)"
        return _pass("edge_health", _probe_text(p) + said)
    if p.db_server_status is False:
        return _fail("edge_health", _probe_text(p) + " db_server_status false: Odoo answers, PostgreSQL does not")
    return _fail("edge_health", _probe_text(p))


def edge_login(f: DoctorFacts) -> Check | None:
    p = f.edge.login
    if p is None:
        return None
    if p.status == 200 and p.has_login_form:
        return _pass("edge_login", _probe_text(p) + " with the login form")
    return _fail("edge_login", _probe_text(p) + ("" if p.status != 200 else " without the login form"))


def edge_websocket(f: DoctorFacts) -> Check | None:
    p = f.edge.websocket
    if p is None:
        return None
    if p.status == 101:
        return _pass("edge_websocket", _probe_text(p) + " (Switching Protocols)")
    body = " ".join(p.body.split())[:120]
    return _fail("edge_websocket", _probe_text(p) + (f" {body!r}" if body else "") + ", expected 101")


def edge_https_redirect(f: DoctorFacts) -> Check | None:
    p = f.edge.http_redirect
    if p is None:
        return None
    if p.status in (301, 302, 307, 308) and p.location.startswith("https://"):
        return _pass("edge_https_redirect", _probe_text(p))
    return _fail("edge_https_redirect", _probe_text(p) + ", expected a redirect to https://")


def edge_scheme(f: DoctorFacts) -> Check | None:
    p = f.edge.odoo_redirect
    if p is None:
        return None
    if p.location.startswith("http://"):
        return _fail("edge_scheme", _probe_text(p) + ": Odoo builds http:// URLs behind the TLS edge")
    return _pass("edge_scheme", _probe_text(p))


def certificate(f: DoctorFacts) -> Check | None:
    cert = f.edge.certificate
    if cert is None:
        return None
    when = f"not after {cert.not_after:%Y-%m-%d %H:%M} UTC, names {', '.join(cert.names) or '-'}"
    if cert.not_after <= f.now:
        return _fail("certificate", f"expired: {when}")
    domain = f.target.domain
    if domain and not sig.certificate_covers(cert.names, domain):
        return _fail("certificate", f"does not name {domain}: {when}")
    if cert.not_after - f.now < sig.CERT_WARN:
        return _warn("certificate", f"expires in {(cert.not_after - f.now).days} days: {when}")
    return _pass("certificate", when)


def reserved_ip(f: DoctorFacts) -> Check | None:
    r = f.edge.reserved_ip
    if r is None:
        return None
    if r.holder_id is None:
        return _warn("reserved_ip", f"{r.ip} is assigned to no droplet")
    if f.target.droplet_id is not None and r.holder_id != f.target.droplet_id:
        return _warn("reserved_ip", f"{r.ip} is held by droplet {r.holder_id}, not this one ({f.target.droplet_id})")
    return _pass("reserved_ip", f"{r.ip} -> droplet {r.holder_id}")


def dns(f: DoctorFacts) -> Check | None:
    d = f.edge.dns
    if d is None:
        return None
    targets = ", ".join(d.targets) or "no A record"
    if f.edge.reserved_ip and f.edge.reserved_ip.ip not in d.targets:
        return _fail("dns", f"{d.name} -> {targets}, not the reserved IP {f.edge.reserved_ip.ip}")
    return _pass("dns", f"{d.name} -> {targets}")


# --- inside: containers and ports ---------------------------------------------------------------------

def containers(f: DoctorFacts) -> list[Check]:
    if f.services is None:
        return [_not_gathered("containers", f, c.COMPOSE_PS)]
    out = []
    for s in f.services:
        name = f"container_{s.service}"
        restarts = f"restart count {s.restart_count}"
        exit_code = f", exit code {s.exit_code}" if s.exit_code not in (None, 0) or s.state != "running" else ""
        text = f"{s.name or s.service}: {s.status_text or s.state or 'no container'} ({restarts}{exit_code}" \
               f"{', OOMKilled' if s.oom_killed else ''})"
        if not s.state:
            out.append(_fail(name, f"{s.service}: no container"))
        elif sig.crash_looping(s, f.now):
            out.append(_fail(name, "crash loop: " + text))
        elif s.state != "running":
            out.append(_fail(name, text))
        elif s.oom_killed or s.health == "unhealthy":
            out.append(_fail(name, text + (f"; healthcheck: {s.health_log}" if s.health_log else "")))
        elif s.health == "starting" or s.restart_count:
            out.append(_warn(name, text))
        else:
            out.append(_pass(name, text))
    return out


def odoo_ports(f: DoctorFacts) -> Check:
    conf = f.odoo_conf or OdooConf()
    if f.odoo_sockets is None:
        return _not_gathered("odoo_ports", f, c.ODOO_SOCKETS)
    want = [conf.http_port] + ([conf.gevent_port] if conf.workers > 0 else [])
    missing = [p for p in want if not sig.listens(f.odoo_sockets, p)]
    listening = sorted({s.port for s in f.odoo_sockets})
    text = f"Odoo listens on {', '.join(map(str, listening)) or 'nothing'} (wants {', '.join(map(str, want))})"
    published = [f"{s.address}:{s.port} {s.process}".strip() for s in f.host_sockets or () if s.port in want]
    if published:  # docker-proxy on the host (absent when Docker publishes through iptables alone)
        text += f"; on the droplet: {', '.join(published)}"
    return _fail("odoo_ports", text) if missing else _pass("odoo_ports", text)


def nginx_listening(f: DoctorFacts) -> Check:
    if f.host_sockets is None:
        return _not_gathered("nginx_listening", f, c.HOST_SOCKETS)
    missing = sig.edge_ports_missing(f)
    edge = [f"{s.address}:{s.port} {s.process}".strip() for s in f.host_sockets if s.port in sig.EDGE_PORTS]
    text = f"listening: {', '.join(edge) or 'nothing on 80/443'}"
    return _fail("nginx_listening", f"nothing listens on {', '.join(map(str, missing))}; {text}") if missing \
        else _pass("nginx_listening", text)


# --- inside: nginx -------------------------------------------------------------------------------------

def nginx_config(f: DoctorFacts) -> Check:
    t = f.nginx_test
    if t is None:
        return _not_gathered("nginx_config", f, c.NGINX_TEST)
    last = t.lines[-1] if t.lines else ""
    if t.ok:
        return _pass("nginx_config", last or "nginx -t passed")
    bad = next((line for line in t.lines if "[emerg]" in line), last)
    return _fail("nginx_config", bad or "nginx -t failed")


def nginx_upstream(f: DoctorFacts) -> Check:
    if f.nginx_site is None:
        return _not_gathered("nginx_upstream", f, c.NGINX_SITE)
    wrong = sig.wrong_upstreams(f)
    refused = sig.refused_elsewhere(f)
    if wrong:
        text = "; ".join(f"location {p} -> port {'/'.join(map(str, ports))}, Odoo serves it on {want}"
                         for p, ports, want in wrong)
        return _fail("nginx_upstream", text)
    if refused:
        return _fail("nginx_upstream", f"nginx connects where Odoo does not listen: {refused[-1].line}")
    ups = "; ".join(f"{u.name} -> {', '.join(f'{h}:{p}' for h, p in u.servers)}" for u in f.nginx_site.upstreams)
    return _pass("nginx_upstream", ups or "no upstream block (proxy_pass to addresses)")


def nginx_realtime(f: DoctorFacts) -> Check:
    if f.nginx_site is None:
        return _not_gathered("nginx_realtime", f, c.NGINX_SITE)
    problem = sig.realtime_problem(f)
    if problem:
        return _fail("nginx_realtime", problem)
    loc = f.nginx_site.location(sig.WEBSOCKET_PATH)
    return _pass("nginx_realtime", f"location /websocket -> {loc.proxy_pass if loc else '?'} with Upgrade")


def nginx_timeouts(f: DoctorFacts) -> Check:
    if f.nginx_site is None:
        return _not_gathered("nginx_timeouts", f, c.NGINX_SITE)
    conf = f.odoo_conf
    timeouts = sig.nginx_events(f, LogKind.UPSTREAM_TIMEOUT)
    short = sig.short_read_timeouts(f)
    limit = f"Odoo's limit_time_real {conf.limit_time_real}s" if conf else "limit_time_real unknown"
    if timeouts:
        where = f" (proxy_read_timeout {short[0][1]}s in location {short[0][0]}, {limit})" if short else ""
        return _fail("nginx_timeouts", f"{len(timeouts)} upstream timeouts{where}: {timeouts[-1].line}")
    if short:
        return _warn("nginx_timeouts", "; ".join(f"location {p}: proxy_read_timeout {s}s" for p, s in short)
                     + f" < {limit}: long reports end in 504")
    site = f.nginx_site
    reads = sorted({site.read_timeout(loc) for loc in site.proxied()})
    if conf and reads and conf.limit_time_real < min(reads):
        return _warn("nginx_timeouts", f"{limit} < proxy_read_timeout {min(reads)}s: Odoo kills the worker "
                     "while nginx still waits (502)")
    return _pass("nginx_timeouts", f"proxy_read_timeout {'/'.join(f'{r}s' for r in reads) or '-'}, {limit}")


def proxy_mode(f: DoctorFacts) -> Check:
    if f.odoo_conf is None:
        return _not_gathered("proxy_mode", f, c.ODOO_CONF)
    missing = sig.missing_forwarded_host(f)
    if not f.odoo_conf.proxy_mode:
        return _fail("proxy_mode", "odoo.conf: proxy_mode is off behind nginx: Odoo sees http and the proxy's "
                     "address (wrong scheme in redirects and web.base.url)")
    if missing:
        return _fail("proxy_mode", f"location {', '.join(missing)} does not set X-Forwarded-Host: Odoo's "
                     "proxy_mode ignores X-Forwarded-* without it")
    return _pass("proxy_mode", "proxy_mode = True, X-Forwarded-Host set in every proxied location"
                 if f.nginx_site else "proxy_mode = True")


def _events_check(name: str, events: list[LogEvent], fail_kinds: set[LogKind], quiet: str) -> Check:
    if not events:
        return _pass(name, quiet)
    counts = Counter(e.kind for e in events)
    summary = ", ".join(f"{k} x{n}" for k, n in counts.most_common())
    worst = [e for e in events if e.kind in fail_kinds]
    last = (worst or events)[-1]
    return (_fail if worst else _warn)(name, f"{summary}; last: {last.line}")


def nginx_errors(f: DoctorFacts) -> Check:
    if f.nginx_events is None:
        return _not_gathered("nginx_errors", f, c.NGINX_ERROR_LOG)
    events = sig.nginx_events(f, *LogKind)
    return _events_check("nginx_errors", events, set(LogKind), "no upstream error in the recent error log")


# --- inside: Odoo, PostgreSQL, host, agent ---------------------------------------------------------------

def odoo_log(f: DoctorFacts) -> Check:
    if f.odoo_events is None:
        return _not_gathered("odoo_log", f, c.ODOO_LOG)
    events = sig.odoo_events(f, *LogKind)
    # A worker recycled at its soft memory limit after its request is Odoo working as designed (a warning);
    # a MemoryError is the hard limit stopping a request (a failure).
    hard = any(sig.hard_memory_kill(e) for e in events)
    fails = set(LogKind) if hard else set(LogKind) - {LogKind.WORKER_MEMORY}
    return _events_check("odoo_log", events, fails, "no database, worker-limit, module or registry error recently")


def postgres_ready(f: DoctorFacts) -> Check:
    if f.pg_ready is None:
        return _not_gathered("postgres_ready", f, c.PG_READY)
    db = f.service(DB_SERVICE)
    if f.pg_ready:
        return _pass("postgres_ready", f.pg_ready_text)
    state = f" ({DB_SERVICE} container {db.state or 'missing'})" if db and db.state != "running" else ""
    return _fail("postgres_ready", f.pg_ready_text + state)


def postgres_connections(f: DoctorFacts) -> Check:
    pc = f.pg_connections
    if pc is None:
        return _not_gathered("postgres_connections", f, c.PG_CONNECTIONS)
    text = f"{pc.used} client connections of max_connections {pc.max_connections} ({pc.reserved} reserved)"
    if pc.available <= 0 or sig.odoo_events(f, LogKind.DB_POOL_FULL):
        return _fail("postgres_connections", text)
    if pc.used >= sig.CONNECTIONS_WARN_FRACTION * (pc.max_connections - pc.reserved):
        return _warn("postgres_connections", text)
    return _pass("postgres_connections", text)


def module_states(f: DoctorFacts) -> Check:
    if f.pending_modules is None:
        return _not_gathered("module_states", f, c.PG_MODULES)
    if f.pending_modules:
        rows = ", ".join(f"{m.name} ({m.state})" for m in f.pending_modules)
        return _fail("module_states", f"left behind by an install or upgrade: {rows}")
    log = sig.odoo_events(f, LogKind.MODULES_NOT_LOADED, LogKind.MODULES_INCONSISTENT)
    if log:
        return _fail("module_states", log[-1].line)
    return _pass("module_states", "no module in to install / to upgrade / to remove")


def disk(f: DoctorFacts) -> Check:
    if f.disks is None:
        return _not_gathered("disk", f, c.DISK)
    text = "; ".join(f"{d.mount} {d.use_percent}% used, {_gib(d.available)} free" for d in f.disks)
    enospc = sig.odoo_events(f, LogKind.NO_SPACE) + sig.db_events(f, LogKind.NO_SPACE) \
        + sig.nginx_events(f, LogKind.NO_SPACE)
    if any(sig.disk_full(d) for d in f.disks):
        return _fail("disk", text)
    if enospc:
        return _fail("disk", f"{text}; {enospc[-1].line}")
    if any(d.use_percent >= sig.DISK_WARN_PERCENT for d in f.disks):
        return _warn("disk", text)
    return _pass("disk", text)


def memory(f: DoctorFacts) -> Check:
    m = f.memory
    if m is None:
        return _not_gathered("memory", f, c.MEMORY)
    text = f"{_gib(m.available)} available of {_gib(m.total)}" + (
        f", swap {_gib(m.swap_used)} used of {_gib(m.swap_total)}" if m.swap_total else "")
    if m.total and m.available < sig.MEMORY_WARN_FRACTION * m.total:
        return _warn("memory", text)
    return _pass("memory", text)


def last_deploy(f: DoctorFacts) -> Check:
    d = f.deploy_status
    if d is None:
        if f.error(c.DEPLOY_STATUS):
            return _not_gathered("last_deploy", f, c.DEPLOY_STATUS)
        return _warn("last_deploy", "no deploy_status.json on the droplet")
    if d.status == "success":
        return _pass("last_deploy", f"{d.deploy_id} success (tag {d.odoo_tag or '?'})")
    gates = "; ".join(f"{g}: {detail}" for g, detail in d.failing_gates[:3])
    return _warn("last_deploy", f"{d.deploy_id} {d.status or 'unknown'}" + (f", failing gate {gates}" if gates
                                                                               else f": {d.error_message}"))


_EDGE: tuple[Callable[[DoctorFacts], Check | None], ...] = (
    edge_health, edge_login, edge_websocket, edge_https_redirect, edge_scheme, certificate, reserved_ip, dns,
)
_INSIDE: tuple[Callable[[DoctorFacts], Check], ...] = (
    odoo_ports, nginx_listening, nginx_config, nginx_upstream, nginx_realtime, nginx_timeouts, proxy_mode, nginx_errors, odoo_log,
    postgres_ready, postgres_connections, module_states, disk, memory, last_deploy,
)


def run_checks(f: DoctorFacts) -> list[Check]:
    """Every check, in reading order; the edge checks only for the probes that were made."""
    out = [chk for fn in _EDGE if (chk := fn(f)) is not None]
    out += containers(f)
    out += [fn(f) for fn in _INSIDE]
    return out
