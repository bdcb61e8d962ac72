"""The probable cause, first: facts -> `{id, summary, evidence, fix}`, by an explicit precedence.

Cause ids (the PRD's 502 causes, corrected for Odoo 18, and the others doctor names):

  disk_full              the droplet's disk (or Docker's) is full: PostgreSQL, Odoo and nginx fail to write
  db_down                PostgreSQL does not answer (stopped, crashed, unreachable)
  db_connections_full    PostgreSQL answers but has no connection slot left for Odoo
  odoo_crashloop         Odoo's container keeps restarting
  odoo_down              Odoo's container is stopped, missing, or not listening on its HTTP port
  nginx_down             nothing listens on 80/443 on the droplet: nginx is stopped
  nginx_config_invalid   `nginx -t` fails: the next reload or restart takes the edge down
  module_state           modules left `to install` / `to upgrade` / `to remove`, or not loaded
  registry_failed        Odoo cannot load the database's registry (and no module state explains it)
  upstream_wrong         nginx proxies to a port Odoo does not serve
  realtime_route_missing no working `location /websocket` to the gevent port (Odoo 18 has no /longpolling)
  proxy_mode_mismatch    proxy_mode off, or X-Forwarded-Host not sent: wrong scheme and host in Odoo's URLs
  worker_killed          an Odoo worker killed by its memory or time limit (or the kernel's OOM killer)
  timeout_too_short      nginx's proxy_read_timeout ends requests Odoo is still working on (504)
  certificate_expired    the edge's certificate is past its not-after date
  certificate_name_mismatch  the edge's certificate does not name the domain
  dns_mismatch           the domain's A record does not point at the reserved IP
  droplet_unreachable    doctor could not read the droplet (SSH, Docker): it will not call a droplet it did not
                         see healthy
  unexplained            checks fail and none of the above explains them (the failing checks are the evidence)

Precedence (the first that applies is the cause; each position says why it comes before the next):
 1. disk_full before everything: a full disk stops PostgreSQL (WAL writes), then Odoo, then nginx's logs,
    so every other symptom follows from it.
 2. db_down before odoo_crashloop and odoo_down: the official image's entrypoint gives up when PostgreSQL does
    not answer within 30 s, so a stopped database makes Odoo exit and restart in a loop.
 3. db_connections_full, for the same reason: Odoo's requests fail and its healthcheck turns unhealthy.
 4. odoo_crashloop before odoo_down: a looping container is also "down" at any one moment.
 5. odoo_down before anything nginx says: with Odoo down nginx logs connect() refused at the right port.
 6. nginx_down, then nginx_config_invalid, before the site checks: a stopped nginx reads no site, and a
    file that does not pass `nginx -t` may not be what nginx runs.
 7. module_state, then registry_failed: a module left half-installed is why a registry does not load.
 8. upstream_wrong before realtime_route_missing: a wrong port breaks every route, /websocket included.
 9. realtime_route_missing, proxy_mode_mismatch: the site's shape, with Odoo itself healthy.
10. worker_killed before timeout_too_short: Odoo ending a request (502) is the cause, not nginx waiting.
11. timeout_too_short: nginx gave up first (504); needs the timeouts in nginx's log.
12. certificate_*, dns_mismatch last: they break browsers, not Odoo (and probes reach Odoo past them).
13. After every detector: droplet_unreachable when doctor read nothing inside (never "healthy" unseen), then
    unexplained when a check fails and no detector applies.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from builder.doctor import signals as sig
from builder.doctor.checks import Check, Result
from builder.doctor.facts import DoctorFacts, LogKind, OdooConf, ServiceState
from builder.doctor.target import DB_SERVICE, ODOO_SERVICE, DoctorTarget

CAUSE_IDS = (
    "disk_full", "db_down", "db_connections_full", "odoo_crashloop", "odoo_down", "nginx_down", "nginx_config_invalid",
    "module_state", "registry_failed", "upstream_wrong", "realtime_route_missing", "proxy_mode_mismatch",
    "worker_killed", "timeout_too_short", "certificate_expired", "certificate_name_mismatch", "dns_mismatch",
    "droplet_unreachable", "unexplained",
)


@dataclass(frozen=True)
class Cause:
    id: str
    summary: str
    evidence: tuple[str, ...]
    fix: str  # one command the operator can run

    def to_dict(self) -> dict[str, object]:
        return {"id": self.id, "summary": self.summary, "evidence": list(self.evidence), "fix": self.fix}


# --- fixes: concrete commands ------------------------------------------------------------------------------

def _on_droplet(t: DoctorTarget, command: str) -> str:
    """`ssh root@ADDRESS '...'`, or in double quotes when the command holds single quotes and nothing a local
    shell would expand inside double quotes: a command an operator can read as well as paste."""
    if "'" in command and not any(ch in command for ch in '"$`\\!'):
        return f'{t.ssh} "{command}"'
    return f"{t.ssh} {shlex.quote(command)}"


def _compose(t: DoctorTarget, *args: str) -> str:
    return shlex.join((*t.compose_base, *args))


def _restore_site(t: DoctorTarget) -> str:
    """Put back the site odoo-droplet renders for these settings (scp writes through the sites-enabled link)."""
    address = t.address or "<droplet address>"
    return (f"odoo-droplet render --config deploy.yaml --out rendered && scp rendered/droplet/nginx-site.conf "
            f"root@{address}:{t.nginx_site} && " + _on_droplet(t, "nginx -t && systemctl reload nginx"))


def _edit_site(t: DoctorTarget, sed: str) -> str:
    # --follow-symlinks: sites-enabled/odoo.conf is a link; plain -i would replace it with a copy.
    return _on_droplet(t, f"sed -i --follow-symlinks {shlex.quote(sed)} {t.nginx_site} && nginx -t && "
                          "systemctl reload nginx")


def _edit_odoo_conf(t: DoctorTarget, sed: str) -> str:
    # odoo.conf is bind-mounted into the container: a restart mounts the edited file.
    return _on_droplet(t, f"sed -i {shlex.quote(sed)} {t.odoo_conf} && " + _compose(t, "restart", ODOO_SERVICE))


def _logs(service: str, since: str = "") -> str:
    return f"odoo-droplet logs --service {service}" + (f" --since {since}" if since else "")


# --- detectors ---------------------------------------------------------------------------------------------

def _svc_text(s: ServiceState) -> str:
    return (f"{s.name or s.service}: {s.status_text or s.state or 'no container'} (restart count "
            f"{s.restart_count}, exit code {s.exit_code}{', OOMKilled' if s.oom_killed else ''})")


def disk_full(f: DoctorFacts) -> Cause | None:
    full = [d for d in f.disks or () if sig.disk_full(d)]
    enospc = sig.odoo_events(f, LogKind.NO_SPACE) + sig.db_events(f, LogKind.NO_SPACE) \
        + sig.nginx_events(f, LogKind.NO_SPACE)
    if not full and not enospc:
        return None
    evidence = [f"{d.mount}: {d.use_percent}% used, {d.available} bytes free" for d in full]
    evidence += [e.line for e in enospc[-2:]]
    return Cause(
        "disk_full",
        "The disk is full: PostgreSQL cannot write its WAL and stops, Odoo cannot write sessions or attachments. "
        "Free space (old logs, unused images other than the prior tag, which rollback needs) or resize the "
        "droplet, then start what stopped.",
        tuple(evidence),
        _on_droplet(f.target, "df -h / /var/lib/docker && du -xh -d 2 / 2>/dev/null | sort -h | tail -n 20"),
    )


def db_down(f: DoctorFacts) -> Cause | None:
    t = f.target
    db = f.service(DB_SERVICE) if t.postgres_selfhost else None
    stopped = db is not None and db.state != "running"
    health_says = f.edge.health is not None and f.edge.health.db_server_status is False
    log = sig.odoo_events(f, LogKind.DB_CONNECTION)
    if not (stopped or f.pg_ready is False or health_says or (log and f.pg_ready is not True)):
        return None
    evidence = []
    if db is not None and stopped:
        evidence.append(_svc_text(db))
    if f.pg_ready is False:
        evidence.append(f"pg_isready: {f.pg_ready_text}")
    if health_says and f.edge.health:
        evidence.append(f"{f.edge.health.url}: {f.edge.health.status}, db_server_status false")
    evidence += [e.line for e in log[-2:]]
    if t.postgres_selfhost:
        fix = _on_droplet(t, _compose(t, "up", "-d", DB_SERVICE))
        summary = ("PostgreSQL is not answering: Odoo fails every request that needs the database, and the odoo "
                   "image's entrypoint exits when the database does not answer in 30 s. Start the db service "
                   f"(then read why it stopped: {_logs(DB_SERVICE)}).")
    else:
        fix = f"odoo-droplet exec --service odoo -- pg_isready -h {t.db_host} -p {t.db_port}"
        summary = ("The managed PostgreSQL cluster is not answering from this droplet: check the cluster's state "
                   "and its trusted sources in the DigitalOcean console.")
    return Cause("db_down", summary, tuple(evidence), fix)


def db_connections_full(f: DoctorFacts) -> Cause | None:
    pc = f.pg_connections
    full = pc is not None and pc.available <= 0
    log = sig.odoo_events(f, LogKind.DB_POOL_FULL)
    if not full and not log:
        return None
    evidence = [f"{pc.used} client connections, max_connections {pc.max_connections}"] if pc else []
    evidence += [e.line for e in log[-2:]]
    sql = "SELECT usename, application_name, state, count(*) FROM pg_stat_activity GROUP BY 1, 2, 3 ORDER BY 4 DESC"
    return Cause(
        "db_connections_full",
        "PostgreSQL has no connection slot left for Odoo: each worker holds up to db_maxconn connections. Find who "
        "holds them; lower db_maxconn or workers, or raise max_connections.",
        tuple(evidence),
        f"odoo-droplet exec --service {DB_SERVICE} -- psql -U {f.target.db_user} -d {f.target.database} "
        f"-c {shlex.quote(sql)}",
    )


def odoo_crashloop(f: DoctorFacts) -> Cause | None:
    odoo = f.service(ODOO_SERVICE)
    if odoo is None or not odoo.state or not sig.crash_looping(odoo, f.now):
        return None
    events = sig.odoo_events(f, *LogKind)
    evidence = [_svc_text(odoo)] + [e.line for e in events[-2:]]
    prior = f.deploy_status.previous_tag if f.deploy_status else ""
    current = f.deploy_status.odoo_tag if f.deploy_status else ""
    if prior and prior != current:
        fix = f"odoo-droplet droplet --tag {prior}"
        tail = f" If it began with tag {current or 'the new tag'}, deploy the prior tag {prior} (a new droplet)."
    else:
        fix = _logs(ODOO_SERVICE)
        tail = " Its log says why it exits."
    return Cause("odoo_crashloop", "Odoo's container keeps exiting and being restarted." + tail,
                 tuple(evidence), fix)


def odoo_down(f: DoctorFacts) -> Cause | None:
    odoo = f.service(ODOO_SERVICE)
    conf = f.odoo_conf or OdooConf()
    not_running = odoo is not None and odoo.state != "running"
    not_listening = (odoo is None or odoo.state == "running") and f.odoo_sockets is not None \
        and not sig.listens(f.odoo_sockets, conf.http_port)
    if not not_running and not not_listening:
        return None
    t = f.target
    evidence = [_svc_text(odoo)] if odoo else []
    if not_listening:
        ports = sorted({s.port for s in f.odoo_sockets or ()})
        evidence.append(f"nothing listens on {conf.http_port} in the odoo container (listening: "
                        f"{', '.join(map(str, ports)) or 'nothing'})")
    evidence += [e.line for e in sig.nginx_events(f, LogKind.UPSTREAM_REFUSED, LogKind.NO_LIVE_UPSTREAMS)[-1:]]
    if not_running:
        return Cause("odoo_down", "Odoo's container is not running: nginx has nothing to proxy to (502). Start it; "
                     f"if it stops again, read its log ({_logs(ODOO_SERVICE)}).", tuple(evidence),
                     _on_droplet(t, _compose(t, "up", "-d", ODOO_SERVICE)))
    return Cause("odoo_down", f"Odoo's container runs but does not listen on {conf.http_port}: it is still loading "
                 "or stuck. Its log says which.", tuple(evidence), _logs(ODOO_SERVICE))


def nginx_down(f: DoctorFacts) -> Cause | None:
    missing = sig.edge_ports_missing(f)
    if not missing:
        return None
    evidence = [f"nothing listens on port {', '.join(map(str, missing))} on the droplet (ss -ltnp)"]
    if f.nginx_test is not None and not f.nginx_test.ok:
        evidence += [line for line in f.nginx_test.lines if "[emerg]" in line][:1]
    return Cause("nginx_down", "nginx is not running: the edge refuses connections. Check its configuration and "
                 "start it.", tuple(evidence), _on_droplet(f.target, "nginx -t && systemctl start nginx"))


def nginx_config_invalid(f: DoctorFacts) -> Cause | None:
    test = f.nginx_test
    if test is None or test.ok:
        return None
    bad = [line for line in test.lines if "[emerg]" in line] or list(test.lines[-1:])
    return Cause("nginx_config_invalid", "nginx's configuration does not pass `nginx -t`: nginx keeps serving the "
                 "old one until its next restart, then the edge is down. Put back the rendered site.",
                 tuple(bad), _restore_site(f.target))


def module_state(f: DoctorFacts) -> Cause | None:
    pending = f.pending_modules or ()
    log = sig.odoo_events(f, LogKind.MODULES_NOT_LOADED, LogKind.MODULES_INCONSISTENT)
    if not pending and not log:
        return None
    evidence = [f"ir_module_module: {m.name} is '{m.state}'" for m in pending] + [e.line for e in log[-1:]]
    t = f.target
    to_install = [m.name for m in pending if m.state == "to install"]
    to_upgrade = [m.name for m in pending if m.state != "to install"]
    args = (["-i", ",".join(to_install)] if to_install else []) + (["-u", ",".join(to_upgrade)] if to_upgrade
                                                                     else [])
    if not args:  # only the log knows: update the module list and let Odoo finish what it started
        args = ["-u", "base"]
    # --no-http: the server already holds 8069; this run only finishes the install and exits.
    fix = "odoo-droplet exec --service odoo -- " + shlex.join(["odoo", "-d", t.database, *args,
                                                               "--stop-after-init", "--no-http"])
    return Cause("module_state", "An install or upgrade did not finish: modules are left half-way, and Odoo may "
                 "refuse to load the registry or serve stale code. Finish it.", tuple(evidence), fix)


def registry_failed(f: DoctorFacts) -> Cause | None:
    log = sig.odoo_events(f, LogKind.REGISTRY_FAILED)
    if not log:
        return None
    return Cause("registry_failed", "Odoo cannot load the database's registry: every request for the database "
                 "fails. The traceback above the line in Odoo's log names the module.",
                 tuple(e.line for e in log[-2:]), _logs(ODOO_SERVICE))


def upstream_wrong(f: DoctorFacts) -> Cause | None:
    wrong = sig.wrong_upstreams(f)
    refused = sig.refused_elsewhere(f)
    if not wrong and not refused:
        return None
    evidence = [f"location {p} proxies to port {'/'.join(map(str, ports))}; Odoo serves it on {want}"
                for p, ports, want in wrong]
    evidence += [e.line for e in refused[-1:]]
    for _, ports, _ in wrong[:1]:
        if f.host_sockets is not None and not any(sig.listens(f.host_sockets, p) for p in ports):
            evidence.append(f"nothing listens on port {'/'.join(map(str, ports))} on the droplet (ss -ltnp)")
    site = f.nginx_site
    fix = _restore_site(f.target)
    if wrong and site:
        # The one edit that puts the port back, when the upstream server line names it.
        _, ports, want = wrong[0]
        hosts = [h for u in site.upstreams for h, p in u.servers if p == ports[0]]
        if hosts:
            fix = _edit_site(f.target, f"s/{hosts[0]}:{ports[0]};/{hosts[0]}:{want};/")
    return Cause("upstream_wrong", "nginx sends requests to a port Odoo does not listen on: every request through "
                 "it is a 502 (connect() refused) while Odoo itself is healthy.", tuple(evidence), fix)


def realtime_route_missing(f: DoctorFacts) -> Cause | None:
    problem = sig.realtime_problem(f)
    ws = f.edge.websocket
    probe_failed = ws is not None and ws.status != 101
    if not problem and not probe_failed:
        return None
    evidence = [problem] if problem else []
    if ws is not None and probe_failed:
        body = " ".join(ws.body.split())[:120]
        evidence.append(f"{ws.url}: {ws.status or ws.error}" + (f" {body!r}" if body else "") + ", expected 101")
    evidence += [e.line for e in sig.odoo_events(f, LogKind.WEBSOCKET_WRONG_PORT)[-1:]]
    return Cause("realtime_route_missing", "The realtime route does not work: Odoo 18 serves /websocket from its "
                 "gevent port (8072 with workers), and nginx must send it there with Upgrade and Connection "
                 "headers. Discuss, chat and notifications stop updating.", tuple(evidence), _restore_site(f.target))


def proxy_mode_mismatch(f: DoctorFacts) -> Cause | None:
    conf = f.odoo_conf
    off = conf is not None and not conf.proxy_mode
    missing = sig.missing_forwarded_host(f)
    redirect = f.edge.odoo_redirect
    http_urls = redirect is not None and redirect.location.startswith("http://")
    if not off and not missing and not http_urls:
        return None
    evidence = ["odoo.conf: proxy_mode is off"] if off else []
    evidence += [f"location {p}: no X-Forwarded-Host" for p in missing]
    if redirect is not None and http_urls:
        evidence.append(f"{redirect.url}: {redirect.status} -> {redirect.location}")
    fix = _edit_odoo_conf(f.target, "s/^proxy_mode *=.*/proxy_mode = True/") if off else _restore_site(f.target)
    return Cause("proxy_mode_mismatch", "Odoo and nginx disagree about the proxy: without proxy_mode (or without "
                 "X-Forwarded-Host, which proxy_mode needs) Odoo sees http and nginx's address, so it writes "
                 "http:// redirects and a wrong web.base.url.", tuple(evidence), fix)


def worker_killed(f: DoctorFacts) -> Cause | None:
    odoo = f.service(ODOO_SERVICE)
    memory = [e for e in sig.odoo_events(f, LogKind.WORKER_MEMORY) if sig.hard_memory_kill(e)]
    soft = sig.odoo_events(f, LogKind.WORKER_MEMORY)
    limits = sig.odoo_events(f, LogKind.WORKER_CPU, LogKind.WORKER_TIMEOUT)
    closed = sig.nginx_events(f, LogKind.UPSTREAM_CLOSED)
    oom = odoo is not None and odoo.oom_killed
    if not (memory or limits or oom or (closed and soft)):
        # nginx's "prematurely closed" alone does not say who ended the request.
        return None
    evidence = ([_svc_text(odoo)] if oom and odoo else []) + [e.line for e in soft[-2:]]
    evidence += [e.line for e in limits[-1:]] + [e.line for e in closed[-1:]]
    conf = f.odoo_conf or OdooConf()
    t = f.target
    if limits and not (memory or oom):
        # The design's rule: Odoo's limit is not shorter than nginx's read timeout; past that, double it.
        read = max((f.nginx_site.read_timeout(loc) for loc in f.nginx_site.proxied()), default=0) \
            if f.nginx_site else 0
        if limits[-1].kind == LogKind.WORKER_CPU:
            key, value = "limit_time_cpu", conf.limit_time_cpu * 2
        else:
            key, value = "limit_time_real", max(read, conf.limit_time_real * 2)
        return Cause("worker_killed", f"Odoo killed a worker at its time limit (limit_time_real {conf.limit_time_real}"
                     f"s, limit_time_cpu {conf.limit_time_cpu}s) while nginx still waited: the user got a 502. "
                     "Raise the limit to what the work needs, or make the work lighter.", tuple(evidence),
                     _edit_odoo_conf(t, f"s/^{key} *=.*/{key} = {value}/"))
    return Cause("worker_killed", "An Odoo worker was killed by its memory limit (limit_memory_hard "
                 f"{conf.limit_memory_hard // 1024 ** 2} MiB) or the kernel's OOM killer mid-request: the user got a "
                 "502. Find the request in Odoo's log; give the droplet more memory (a larger size) or raise "
                 "limit_memory_hard.", tuple(evidence), _logs(ODOO_SERVICE, "1h"))


def timeout_too_short(f: DoctorFacts) -> Cause | None:
    timeouts = sig.nginx_events(f, LogKind.UPSTREAM_TIMEOUT)
    if not timeouts:
        return None
    short = sig.short_read_timeouts(f)
    conf = f.odoo_conf or OdooConf()
    evidence = [f"location {p}: proxy_read_timeout {s}s < limit_time_real {conf.limit_time_real}s" for p, s in short]
    evidence += [e.line for e in timeouts[-2:]]
    # With no timeout shorter than Odoo's limit, the request itself outlasts both: its log names it.
    fix = _edit_site(f.target, f"s/proxy_read_timeout [0-9]*[a-z]*;/proxy_read_timeout {conf.limit_time_real}s;/") \
        if short else _logs(ODOO_SERVICE, "1h")
    return Cause("timeout_too_short", "nginx stopped waiting before Odoo finished (504): proxy_read_timeout must "
                 "not be shorter than Odoo's limit_time_real (720 s for long reports).", tuple(evidence), fix)


def _certbot(f: DoctorFacts) -> str:
    return _on_droplet(f.target, "certbot renew --force-renewal && systemctl reload nginx")


def certificate_expired(f: DoctorFacts) -> Cause | None:
    cert = f.edge.certificate
    if cert is None or cert.not_after > f.now:
        return None
    return Cause("certificate_expired", "The edge's certificate has expired: browsers refuse the site. Renewal "
                 "(certbot's timer) has not worked; renew now and read certbot's log for why.",
                 (f"not after {cert.not_after:%Y-%m-%d %H:%M} UTC (now {f.now:%Y-%m-%d %H:%M} UTC), issuer "
                  f"{cert.issuer or '?'}",), _certbot(f))


def certificate_name_mismatch(f: DoctorFacts) -> Cause | None:
    cert, domain = f.edge.certificate, f.target.domain
    if cert is None or not domain or sig.certificate_covers(cert.names, domain):
        return None
    return Cause("certificate_name_mismatch", f"The edge's certificate does not name {domain}: browsers refuse it.",
                 (f"names: {', '.join(cert.names) or '-'}",),
                 _on_droplet(f.target, f"certbot certonly --webroot -w /var/www/letsencrypt -d {domain} && "
                                       "systemctl reload nginx"))


def dns_mismatch(f: DoctorFacts) -> Cause | None:
    d, r = f.edge.dns, f.edge.reserved_ip
    if d is None or r is None or r.ip in d.targets:
        return None
    return Cause("dns_mismatch", f"{d.name} does not point at the reserved IP {r.ip}: visitors reach another "
                 "address.", (f"{d.name} A {', '.join(d.targets) or '(none)'}",),
                 f"doctl compute domain records list {d.name.partition('.')[2] or d.name}")


PRECEDENCE: tuple[tuple[str, Callable[[DoctorFacts], Cause | None]], ...] = (
    ("disk_full", disk_full),
    ("db_down", db_down),
    ("db_connections_full", db_connections_full),
    ("odoo_crashloop", odoo_crashloop),
    ("odoo_down", odoo_down),
    ("nginx_down", nginx_down),
    ("nginx_config_invalid", nginx_config_invalid),
    ("module_state", module_state),
    ("registry_failed", registry_failed),
    ("upstream_wrong", upstream_wrong),
    ("realtime_route_missing", realtime_route_missing),
    ("proxy_mode_mismatch", proxy_mode_mismatch),
    ("worker_killed", worker_killed),
    ("timeout_too_short", timeout_too_short),
    ("certificate_expired", certificate_expired),
    ("certificate_name_mismatch", certificate_name_mismatch),
    ("dns_mismatch", dns_mismatch),
)


def droplet_unreachable(f: DoctorFacts) -> Cause | None:
    """Neither the containers nor the nginx site could be read: every inside check is blind."""
    if f.services is not None or f.nginx_site is not None:
        return None
    return Cause("droplet_unreachable", "doctor could not read the droplet, so it cannot say it is healthy: check "
                 "that SSH reaches it as root with the deploy's key and that Docker answers.",
                 tuple(f"{name}: {why}" for name, why in f.errors[:4]),
                 _on_droplet(f.target, "docker compose version && docker ps"))


def probable_cause(f: DoctorFacts, checks: Sequence[Check]) -> Cause | None:
    """The first cause in PRECEDENCE that applies; else `droplet_unreachable` when doctor saw nothing inside,
    `unexplained` when checks fail and none applies, None when healthy."""
    for _, detect in PRECEDENCE:
        cause = detect(f)
        if cause is not None:
            return cause
    blind = droplet_unreachable(f)
    if blind is not None:
        return blind
    failing = [chk for chk in checks if chk.result == Result.FAIL]
    if not failing:
        return None
    return Cause("unexplained", f"{len(failing)} check(s) fail and none matches a known cause: start from the first.",
                 tuple(f"{chk.name}: {chk.evidence}" for chk in failing), _logs(ODOO_SERVICE))
