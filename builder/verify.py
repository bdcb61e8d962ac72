"""`odoo-droplet verify`: the gates that can be seen from outside, through the edge (the PRD's
verify_prod.sh, corrected for Odoo 18: /websocket with Origin instead of /longpolling, and the health
check that really asks PostgreSQL)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from firstboot import gates
from firstboot.config import Deploy
from firstboot.gates import GateResult, HttpResult
from firstboot.probes import Http


@dataclass(frozen=True)
class EdgeTarget:
    connect_host: str  # where to connect: the reserved IP or the droplet's address
    host_header: str  # the domain users type (or the address itself)

    @property
    def base(self) -> str:
        return f"https://{self.host_header}"


def edge_checks(deploy: Deploy, target: EdgeTarget, http: Http, timeout: float = 10) -> list[GateResult]:
    base, db = target.base, deploy.odoo.database
    kw: dict[str, Any] = {"connect_host": target.connect_host, "host_header": target.host_header, "timeout": timeout}
    health = http.get(f"{base}/web/health", port=443, tls=True, **kw)
    db_health = http.get(f"{base}/web/health?db_server_status=1", port=443, tls=True, **kw)
    login = http.get(f"{base}/web/login", port=443, tls=True, **kw)
    loaded = http.get(f"{base}/web/login?db={db}", port=443, tls=True, **kw)
    ws = http.websocket(f"{base}/websocket", port=443, tls=True, origin=base, **kw)
    plain = http.get(f"http://{target.host_header}/web/login", port=80, tls=False, **kw)
    results = [
        gates.health_edge(health),
        _renamed(gates.health_internal(db_health), "db_server_status"),
        gates.login_page(login),
        gates.registry_loaded(loaded),
        gates.realtime_route(ws),
        https_redirect(plain),
    ]
    return results


def _renamed(result: GateResult, name: str) -> GateResult:
    return GateResult(name, result.passed, result.detail, result.latency_ms)


def https_redirect(r: HttpResult) -> GateResult:
    location = {k.lower(): v for k, v in r.headers.items()}.get("location", "")
    ok = r.status in (301, 308) and location.startswith("https://")
    detail = f"{r.status} to {location}" if r.status else f"no answer: {r.error}"
    return GateResult("https_redirect", ok, detail, r.latency_ms)


def verify_report(deploy: Deploy, target: EdgeTarget, results: list[GateResult], now: dt.datetime) -> dict[str, Any]:
    return {
        "verify_id": now.strftime("verify-%Y%m%d-%H%M%S"),
        "timestamp": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "project": deploy.project,
        "target": {"connect": target.connect_host, "host": target.host_header},
        "gates": [r.to_dict() for r in results],
        "overall": all(r.passed for r in results),
    }
