"""verify: probe every gate in rounds until all pass (and stay up through the soak) or the deadline."""

from __future__ import annotations

from collections.abc import Callable

from firstboot import gates as G
from firstboot.admin import base_url_gate, base_url_of
from firstboot.core import Agent
from firstboot.database import module_rows
from firstboot.errors import StepFailed
from firstboot.job import Job
from firstboot.phases import Step
from firstboot.plans.admin import DEFAULT_LOGIN, DEFAULT_PASSWORD
from firstboot.probes import docker_inspect, parse_compose_ps, parse_inspect
from firstboot.proof import HEALTHCHECK_LOG, healthcheck_line, iso
from firstboot.stack import all_services

VERIFY_POLL_SECONDS = 2.0

Sample = tuple[float, list[G.ContainerInfo]]
Probe = tuple[G.GateResult, G.HttpResult | None]


def run(job: Job, step: Step) -> None:
    agent = job.agent
    clock = agent.clock
    att = job.attempt(step)
    timeout = agent.deploy.gates.timeout_seconds
    job.append_proof(HEALTHCHECK_LOG, f"# verify {att.tag} (attempt {step.attempt or 0}) at {iso(clock.now())}\n")
    # The install set the admin password on a database this deploy created; an older database keeps its own.
    ours = bool((att.install.get("admin") or {}).get("password_set"))
    outcome, results, samples = verify_rounds(agent, timeout, ours,
                                              lambda line: job.append_proof(HEALTHCHECK_LOG, line))
    att.gates = [{**g.to_dict(), "status_code": r.status if r else None} for g, r in results]
    att.containers = {c.service: {"state": c.state, "health": c.health, "restarts": c.restart_count,
                                  "uptime": c.started_at} for c in (samples[-1][1] if samples else [])}
    att.passed = outcome == "pass"
    if not att.passed:
        job.failing_responses = [(g, r) for g, r in results if not g.passed]
        failing = ", ".join(g.name for g, _ in results if not g.passed)
        raise StepFailed(f"gates failed: {failing}")


def verify_rounds(agent: Agent, timeout: float, admin_password_set: bool,
                  log_line: Callable[[str], None] = lambda line: None) -> tuple[str, list[Probe], list[Sample]]:
    """Probe every gate in rounds until all pass, one fails for good, or `timeout` runs out: ("pass" or
    "fail", the last round's results, the container samples). Also what the operator's `restore` runs."""
    clock = agent.clock
    t0 = clock.monotonic()
    samples: list[Sample] = []
    outcome, results = "retry", []
    expected_url = base_url_of(agent)
    for _ in range(10_000):  # bounded by the deadline well before this count
        results = probe_round(agent, samples, expected_url, admin_password_set)
        when = iso(clock.now())
        for g, r in results:
            log_line(healthcheck_line(when, g.name, r, g.detail, g.passed, g.latency_ms))
        outcome = G.round_outcome([g for g, _ in results], clock.monotonic() - t0, timeout)
        if outcome != "retry":
            break
        clock.sleep(VERIFY_POLL_SECONDS)
    return outcome, results, samples


def containers(agent: Agent) -> list[G.ContainerInfo]:
    ps = agent.run(agent.compose.ps(), timeout=30)
    if not ps.ok:
        return []
    try:
        rows = parse_compose_ps(ps.stdout)
    except ValueError:
        return []
    names = {r.get("Name", ""): r.get("Service", "") for r in rows if r.get("Name")}
    if not names:
        return []
    ins = agent.run(docker_inspect(*names), timeout=30)
    try:
        return parse_inspect(ins.stdout, names) if ins.stdout.strip() else []
    except ValueError:
        return []


def probe_round(agent: Agent, samples: list[Sample], expected_url: str | None = None,
                admin_password_set: bool = True) -> list[Probe]:
    """One probe of every gate (firstboot/gates.py judges each)."""
    d, t = agent.deploy, agent.deploy.gates.probe_timeout_seconds
    base = agent.edge_base
    samples.append((agent.clock.monotonic(), containers(agent)))
    host = agent.domain_host

    def on_edge(url: str, follow: int = 0) -> G.HttpResult:
        # Our own nginx on loopback, with the public name as Host (and SNI).
        return agent.http.get(url, connect_host="127.0.0.1", port=443, tls=True, host_header=host, timeout=t,
                              follow=follow)

    out: list[Probe] = []
    out.append((G.container_up(samples, all_services(d), d.gates.soak_seconds), None))
    r = agent.http.get("http://127.0.0.1:8069/web/health?db_server_status=1", connect_host="127.0.0.1",
                       port=8069, tls=False, host_header="127.0.0.1:8069", timeout=t)
    out.append((G.health_internal(r), r))
    r = on_edge(f"{base}/web/health")
    out.append((G.health_edge(r), r))
    r = on_edge(f"{base}/web/login")
    out.append((G.login_page(r), r))
    ws = f"{base.replace('https://', 'wss://')}/websocket"
    r = agent.http.websocket(ws, connect_host="127.0.0.1", port=443, tls=True, host_header=host, origin=base,
                             timeout=t)
    out.append((G.realtime_route(r), r))
    c = agent.run(agent.compose.pg_isready(d), timeout=20)
    out.append((G.db_reachable(c), None))
    rows, err = module_rows(agent)
    out.append((G.module_state_ok(rows, d.odoo.modules, err), None))
    r = on_edge(f"{base}/web/login?db={d.odoo.database}", follow=3)
    out.append((G.registry_loaded(r), r))
    # Before any login: an administrator's login rewrites web.base.url unless it is frozen.
    out.append((base_url_gate(agent, expected_url), None))
    out.append(admin_login_probe(agent, admin_password_set))
    return out


def admin_login_probe(agent: Agent, password_set: bool) -> Probe:
    """Through nginx: the real password first (a success resets Odoo's count of failed logins), then Odoo's
    default one, which must be refused — tried only once Odoo answered, to keep failures to two a round."""
    d, t = agent.deploy, agent.deploy.gates.probe_timeout_seconds
    login = d.odoo.admin_email or DEFAULT_LOGIN

    def attempt(who: str, password: str) -> G.HttpResult:
        return agent.http.authenticate(agent.edge_base, d.odoo.database, who, password, connect_host="127.0.0.1",
                                       port=443, tls=True, host_header=agent.domain_host, timeout=t)

    real = attempt(login, agent.secrets.odoo_admin_password or "") if password_set else None
    defaults: list[G.HttpResult] = []
    if real is None or G.rpc_login(real)[0] != "no answer":
        defaults = [attempt(who, DEFAULT_PASSWORD) for who in dict.fromkeys((login, DEFAULT_LOGIN))]
    return G.admin_login(real, defaults, login), real or (defaults[0] if defaults else None)
