"""The proofs a deploy leaves behind, built from the persisted state (pure).

deploy_status.json validates against reference/proof-schema/PROD_DEPLOY_PROOF_SCHEMA.json and carries our
own fields beside the schema's: phases (timings), gates (each result of the deciding attempt), attempts,
rollback, cutover, images (tag -> digest). status.json is the small live view the CLI polls.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from firstboot.config import Deploy
from firstboot.gates import GATE_NAMES, HttpResult, ModuleRow
from firstboot.state import Attempt, State

DEPLOY_STATUS = "deploy_status.json"
STATUS = "status.json"
HEALTHCHECK_LOG = "healthcheck.log"
MODULE_INSTALL_LOG = "module_install.log"

# Odoo's ir_module_module.state -> the schema's enum (installed, to_install, uninstalled). Odoo's own
# value is kept beside it as `odoo_state`, so nothing is lost in the mapping.
_STATE_MAP = {"installed": "installed", "to install": "to_install", "to upgrade": "to_install"}


def iso(now: dt.datetime) -> str:
    return now.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def module_entries(rows: list[ModuleRow], requested: tuple[str, ...]) -> list[dict[str, str]]:
    by_name = {r.name: r for r in rows}
    out = []
    for name in requested:
        row = by_name.get(name)
        if row is None:
            out.append({"name": name, "version": "", "state": "uninstalled", "odoo_state": "missing"})
        else:
            out.append({"name": name, "version": row.version or "", "state": _STATE_MAP.get(row.state,
                        "uninstalled"), "odoo_state": row.state})
    return out


def healthcheck_line(when: str, gate: str, r: HttpResult | None, detail: str, passed: bool,
                     latency_ms: int) -> str:
    """One probe in healthcheck.log: time, gate, verdict, URL, status, latency, excerpt."""
    url = r.url if r else "-"
    status = str(r.status) if r else "-"
    excerpt = (r.excerpt(120) if r else detail[:120]).replace("\n", " ")
    verdict = "PASS" if passed else "FAIL"
    return f"{when} {gate} {verdict} url={url} status={status} latency_ms={latency_ms} excerpt={excerpt!r}\n"


def _deciding_attempt(state: State) -> Attempt | None:
    return state.attempts[-1] if state.attempts else None


def _gate(gates: dict[str, dict[str, Any]], name: str) -> dict[str, Any]:
    return gates.get(name, {"passed": False, "detail": "not run"})


def build_deploy_status(state: State, deploy: Deploy, now: dt.datetime, *, edge_base: str,
                        proof_dir: str) -> dict[str, Any]:
    att = _deciding_attempt(state)
    gates = {g["name"]: g for g in (att.gates if att else [])}
    install = att.install if att else {}
    status = state.status or "failed"
    overall = bool(att and att.passed and all(_gate(gates, n).get("passed") for n in GATE_NAMES))

    def http_check(name: str, url: str) -> dict[str, Any]:
        g = _gate(gates, name)
        return {"url": url, "status_code": int(g.get("status_code", 0)), "passed": bool(g.get("passed")),
                "response_time_ms": int(g.get("latency_ms", 0))}

    login = http_check("login_page", f"{edge_base}/web/login")
    health = http_check("health_edge", f"{edge_base}/web/health")
    health.pop("response_time_ms")
    containers = att.containers if att else {}
    doc: dict[str, Any] = {
        "deploy_id": state.deploy_id,
        "timestamp": state.started_at,
        "ship_version": deploy.ship_version,
        "git_sha": deploy.build.git_sha,
        "git_ref": deploy.build.git_ref,
        "modules": {
            "installed": install.get("modules", module_entries([], deploy.odoo.modules)),
            "install_log": f"{proof_dir}/{MODULE_INSTALL_LOG}",
            "install_duration_seconds": float(install.get("seconds", 0.0)),
        },
        "health_checks": {
            "login_page": login,
            "health_endpoint": health,
            "db_connectivity": {"passed": bool(_gate(gates, "db_reachable").get("passed")),
                                "database_name": deploy.odoo.database},
            # Odoo 18 has no /longpolling: the realtime channel is the /websocket route (DESIGN.md s.4).
            "longpolling": {"url": f"{edge_base.replace('https://', 'wss://')}/websocket",
                            "passed": bool(_gate(gates, "realtime_route").get("passed"))},
            "overall": overall,
            "healthcheck_log": f"{proof_dir}/{HEALTHCHECK_LOG}",
        },
        "container_status": _container_status(containers),
        "rollback_info": {
            "previous_tag": state.prior_tag or "",
            "rollback_available": bool(state.prior_tag),
        },
        "status": status,
        # Our own fields.
        "finished_at": iso(now),
        "odoo_tag": att.tag if att else deploy.odoo.tag,
        "user_data": state.user_data,
        "phases": state.phases,
        "gates": [{k: g.get(k) for k in ("name", "passed", "detail", "latency_ms")}
                  for g in (att.gates if att else [])],
        "attempts": [{"tag": a.tag, "passed": a.passed, "failed": a.failed, "fresh_db": a.fresh_db,
                      "db_initialised": a.db_initialised,
                      "install_exit_code": a.install.get("exit_code"),
                      "gates": [{k: g.get(k) for k in ("name", "passed", "detail", "latency_ms")}
                                for g in a.gates]}
                     for a in state.attempts],
        "rollback": state.rollback.to_dict() or {"performed": False},
        "cutover": state.cutover.to_dict() or {"reserved_ip": None, "assigned": False, "dns": None,
                                               "reason": "not reached"},
        "images": state.images,
        "resources": state.resources.to_dict(),
        "security": state.security.to_dict(),
        "database": database_record(state, deploy),
        "runs": state.runs,
    }
    if status != "success":
        doc["error_message"] = state.error_message or state.fatal or "deploy did not succeed"
    return doc


def database_record(state: State, deploy: Deploy) -> dict[str, Any]:
    """`database`: where the served database came from. `source` as the settings say; `backup_id` and
    `restored_rows` once a backup was restored (None otherwise); `status`: fresh, restored, kept (it existed),
    failed (with `reason`), or not reached."""
    rec = dict(state.database)
    rec.setdefault("source", deploy.database.source)
    rec.setdefault("backup_id", None)
    rec.setdefault("restored_rows", None)
    rec.setdefault("status", "not reached")
    rec.pop("stamp", None)
    return rec


def _container_status(containers: dict[str, dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for svc, info in containers.items():
        state = info.get("state", "")
        if svc == "odoo":
            # The schema's enum for odoo: running, stopped, restarting, dead.
            state = state if state in ("running", "restarting", "dead") else "stopped"
            out[svc] = {"state": state, "uptime": info.get("uptime", "")}
        else:
            out[svc] = {"state": state}
    return out


def build_status(state: State, now: dt.datetime) -> dict[str, Any]:
    """status.json: what the CLI shows while the agent works."""
    att = state.attempt
    return {
        "deploy_id": state.deploy_id,
        "updated": iso(now),
        "current": state.current,
        "done": "finalize" in state.done,
        "status": state.status,
        "attempt": len(state.attempts) - 1 if att else None,
        "tag": att.tag if att else None,
        "phases": state.phases,
        "cutover": state.cutover.to_dict() or None,
        "error_message": state.error_message or state.fatal,
    }
