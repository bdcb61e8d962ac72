"""The health gates (DESIGN.md section 3) as data, and the pure rules that turn a probe result into
pass/fail with a reason. Probes (firstboot/probes.py) gather; this module only judges.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

GATES: tuple[tuple[str, str], ...] = (
    ("container_up", "compose ps: odoo, db, redis running, healthy, restart count not rising over the soak"),
    ("health_internal", "GET 127.0.0.1:8069/web/health?db_server_status=1: 200 and db_server_status true"),
    ("health_edge", "GET https://DOMAIN/web/health through this droplet's nginx: 200"),
    ("login_page", "GET https://DOMAIN/web/login through nginx: 200 with the login form"),
    ("realtime_route", "websocket handshake at https://DOMAIN/websocket with Origin: 101"),
    ("db_reachable", "pg_isready: accepting connections"),
    ("module_state_ok", "ir_module_module: every requested module installed, none pending"),
    ("registry_loaded", "GET https://DOMAIN/web/login?db=DB: 200 (needs the database's loaded registry)"),
    ("base_url", "ir_config_parameter: web.base.url is the public https URL and web.base.url.freeze is set"),
    ("admin_login", "POST https://DOMAIN/web/session/authenticate: the real admin password gets a session, "
                    "the default `admin` is refused"),
)
GATE_NAMES = tuple(name for name, _ in GATES)
# A module state Odoo leaves behind only when an install or upgrade did not finish.
PENDING_STATES = ("to install", "to upgrade", "to remove")
RESTART_LIMIT = 3  # restarts seen during verify: a crash loop, not a slow start


@dataclass(frozen=True)
class HttpResult:
    url: str
    status: int  # 0: no HTTP answer (refused, timeout, TLS error)
    latency_ms: int
    body: str = ""  # the first few KiB
    headers: dict[str, str] = field(default_factory=dict)
    error: str | None = None

    def excerpt(self, n: int = 160) -> str:
        text = self.error or " ".join(self.body.split())
        return text[:n]


@dataclass(frozen=True)
class CommandResult:
    args: tuple[str, ...]
    returncode: int
    stdout: str = ""
    stderr: str = ""
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.returncode == 0


@dataclass(frozen=True)
class ContainerInfo:
    service: str
    name: str
    state: str  # running, restarting, exited, created, dead, paused
    health: str  # healthy, unhealthy, starting, "" (no healthcheck)
    restart_count: int = 0
    started_at: str = ""


@dataclass(frozen=True)
class ModuleRow:
    name: str
    version: str
    state: str  # Odoo's own: installed, uninstalled, to install, to upgrade, to remove, uninstallable


@dataclass(frozen=True)
class GateResult:
    name: str
    passed: bool
    detail: str
    latency_ms: int = 0
    terminal: bool = False  # waiting longer cannot fix it (a crash loop, a module that did not install)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("terminal")
        return d


def container_up(
    samples: list[tuple[float, list[ContainerInfo]]], services: tuple[str, ...], soak_seconds: float
) -> GateResult:
    """`samples`: (time, containers) from oldest to newest during this verify. Passes when every service
    runs (and is healthy if it has a healthcheck) and its restart count has not changed for `soak_seconds`."""
    if not samples:
        return GateResult("container_up", False, "no compose ps sample")
    now, latest = samples[-1]
    by_service = {c.service: c for c in latest}
    for svc in services:
        c = by_service.get(svc)
        if c is None:
            return GateResult("container_up", False, f"{svc}: no container")
        first = next((x for _, cs in samples for x in cs if x.service == svc), c)
        restarts = c.restart_count - first.restart_count
        if restarts >= RESTART_LIMIT or (c.state == "exited" and restarts > 0):
            return GateResult(
                "container_up", False, f"{svc}: crash loop ({restarts} restarts, {c.state})", terminal=True
            )
        if c.state != "running":
            return GateResult("container_up", False, f"{svc}: {c.state}")
        if c.health not in ("", "healthy"):
            return GateResult("container_up", False, f"{svc}: {c.health}")
    # The soak: the oldest sample from which no restart count changed must be soak_seconds old.
    counts = {c.service: c.restart_count for c in latest}
    stable_since = now
    for t, cs in reversed(samples):
        if any(counts.get(c.service) != c.restart_count for c in cs if c.service in services):
            break
        if all(c.state == "running" for c in cs if c.service in services) and {
            c.service for c in cs
        } >= set(services):
            stable_since = t
        else:
            break
    stable = now - stable_since
    if stable < soak_seconds:
        return GateResult("container_up", False, f"soaking: stable for {stable:.0f}s of {soak_seconds}s")
    states = ", ".join(f"{s} {by_service[s].state}" for s in services)
    return GateResult("container_up", True, f"{states}; no restart for {stable:.0f}s")


def health_internal(r: HttpResult) -> GateResult:
    if r.status != 200:
        return GateResult("health_internal", False, _http_detail(r), r.latency_ms)
    try:
        ok = json.loads(r.body).get("db_server_status") is True
    except (ValueError, AttributeError):
        ok = False
    detail = "200, db_server_status true" if ok else f"200 but db_server_status not true: {r.excerpt()}"
    return GateResult("health_internal", ok, detail, r.latency_ms)


def health_edge(r: HttpResult) -> GateResult:
    return GateResult("health_edge", r.status == 200, _http_detail(r), r.latency_ms)


def has_login_form(body: str) -> bool:
    b = body.lower()
    return "<form" in b and 'name="login"' in b and 'name="password"' in b


def login_page(r: HttpResult) -> GateResult:
    if r.status != 200:
        return GateResult("login_page", False, _http_detail(r), r.latency_ms)
    ok = has_login_form(r.body)
    return GateResult("login_page", ok, "200 with the login form" if ok else "200 without a login form",
                      r.latency_ms)


def realtime_route(r: HttpResult) -> GateResult:
    upgrade = {k.lower(): v for k, v in r.headers.items()}.get("upgrade", "").lower()
    ok = r.status == 101 and upgrade == "websocket"
    detail = "101 Switching Protocols (websocket)" if ok else _http_detail(r)
    return GateResult("realtime_route", ok, detail, r.latency_ms)


def db_reachable(c: CommandResult) -> GateResult:
    out = (c.stdout + c.stderr).strip()
    ok = c.returncode == 0 and "accepting connections" in out
    return GateResult("db_reachable", ok, out[:160] or f"exit {c.returncode}", int(c.seconds * 1000))


def module_state_ok(rows: list[ModuleRow] | None, requested: tuple[str, ...], error: str = "") -> GateResult:
    if rows is None:
        return GateResult("module_state_ok", False, f"cannot read ir_module_module: {error}"[:200])
    by_name = {r.name: r for r in rows}
    missing = [m for m in requested if m not in by_name]
    pending = sorted(r.name for r in rows if r.state in PENDING_STATES)
    not_installed = [m for m in requested if m in by_name and by_name[m].state != "installed"]
    problems = []
    if missing:
        problems.append(f"unknown (no row): {', '.join(missing)}")
    if not_installed:
        problems.append("not installed: " + ", ".join(f"{m} ({by_name[m].state})" for m in not_installed))
    if pending:
        problems.append(f"pending: {', '.join(pending)}")
    if problems:
        # Module rows do not change by themselves after the install: no point waiting.
        return GateResult("module_state_ok", False, "; ".join(problems), terminal=True)
    return GateResult("module_state_ok", True, f"{len(requested)} requested modules installed")


def registry_loaded(r: HttpResult) -> GateResult:
    ok = r.status == 200 and has_login_form(r.body)
    return GateResult("registry_loaded", ok, "200, registry loaded" if ok else _http_detail(r), r.latency_ms)


def base_url(params: dict[str, str] | None, expected: str | None, error: str = "") -> GateResult:
    """`params`: web.base.url and web.base.url.freeze as stored (None: the query failed). Odoo reads the
    freeze with `str2bool`-like truthiness; only a true value keeps a login from rewriting the URL."""
    if params is None:
        return GateResult("base_url", False, f"cannot read ir_config_parameter: {error}"[:200])
    if not expected:
        return GateResult("base_url", False, "no public URL known to compare with")
    got = params.get("web.base.url")
    frozen = (params.get("web.base.url.freeze") or "").strip().lower() in ("true", "1", "yes", "t")
    if got != expected:
        # Nothing rewrites it back by itself: waiting cannot help.
        return GateResult("base_url", False, f"web.base.url is {got!r}, not {expected!r}", terminal=True)
    if not frozen:
        return GateResult("base_url", False, f"web.base.url is {got} but web.base.url.freeze is not set "
                                             "(the next admin login would rewrite it)", terminal=True)
    return GateResult("base_url", True, f"web.base.url = {got}, frozen")


def rpc_login(r: HttpResult) -> tuple[str, str]:
    """An answer of /web/session/authenticate: ("session", uid) when Odoo opened a session, ("refused",
    why) for Odoo's AccessDenied, ("no answer", why) for anything else (a 502, not JSON, ...)."""
    if r.status != 200:
        return "no answer", _http_detail(r)
    try:
        doc = json.loads(r.body)
    except ValueError:
        return "no answer", f"200 but not JSON-RPC: {r.excerpt(80)}"
    if not isinstance(doc, dict):
        return "no answer", "200 but not JSON-RPC"
    result = doc.get("result")
    if isinstance(result, dict) and isinstance(result.get("uid"), int) and result["uid"]:
        return "session", f"uid {result['uid']}"
    error = doc.get("error")
    if isinstance(error, dict):
        raw = error.get("data")
        data: dict[str, Any] = raw if isinstance(raw, dict) else {}
        name = str(data.get("name") or "")
        message = str(data.get("message") or error.get("message") or "")
        if name.endswith("AccessDenied"):
            return "refused", message or "Access Denied"
        return "no answer", f"{name or 'error'}: {message}"[:160]
    return "refused", "no session (uid false)"


def admin_login(real: HttpResult | None, defaults: list[HttpResult], login: str) -> GateResult:
    """`real`: the login with the configured password (None: a database that existed before this deploy,
    whose admin password is its own); `defaults`: the logins with Odoo's default password `admin` (the probe
    tries them only once Odoo answered the real one: failed logins count toward Odoo's login cooldown, so
    they are kept to two a round)."""
    if real is None:
        if not defaults:
            return GateResult("admin_login", False, "the default password was not tried")
        return _defaults_only(defaults)
    outcome, why = rpc_login(real)
    if outcome == "no answer":
        return GateResult("admin_login", False, f"{login}: {why}", real.latency_ms)
    failed = _default_accepted(defaults, real.latency_ms)
    if failed is not None:
        return failed
    if outcome == "refused":
        # The password was set at install, before Odoo started: a refusal now will not turn into a session.
        return GateResult("admin_login", False, f"{login} with the real password: refused ({why})",
                          real.latency_ms, terminal=True)
    if not defaults:
        return GateResult("admin_login", False, "the default password was not tried", real.latency_ms)
    return GateResult("admin_login", True, f"{login}: session ({why}); default password refused",
                      real.latency_ms)


def _default_accepted(defaults: list[HttpResult], latency_ms: int | None = None) -> GateResult | None:
    """The failing verdict when a login with the default password was not refused, else None. `latency_ms`:
    the one to record (the real login's), or None for each default login's own."""
    for d in defaults:
        outcome, why = rpc_login(d)
        ms = d.latency_ms if latency_ms is None else latency_ms
        if outcome == "session":
            # Odoo's default credential works on a site about to take traffic: no wait fixes that.
            return GateResult("admin_login", False, f"the default password `admin` is accepted ({why})", ms,
                              terminal=True)
        if outcome != "refused":
            return GateResult("admin_login", False, f"default password: {why}", ms)
    return None


def _defaults_only(defaults: list[HttpResult]) -> GateResult:
    failed = _default_accepted(defaults)
    if failed is not None:
        return failed
    return GateResult("admin_login", True, "default password refused (an existing database: its admin "
                                           "password is its own)", defaults[0].latency_ms)


def _http_detail(r: HttpResult) -> str:
    if r.status == 0:
        return f"no answer: {r.error or 'unknown error'}"[:200]
    return f"{r.status}: {r.excerpt(120)}"


def round_outcome(results: list[GateResult], elapsed: float, timeout: float) -> str:
    """After one round of probes: "pass" (all gates), "fail" (a terminal failure or out of time), or
    "retry" (poll again)."""
    if results and all(r.passed for r in results):
        return "pass"
    if any(r.terminal for r in results) or elapsed >= timeout:
        return "fail"
    return "retry"
