"""Odoo's and the agent's side: odoo.conf options, PostgreSQL answers, the agent's last deploy_status.json."""

from __future__ import annotations

import json

from builder.doctor.facts import DeployStatus, ModuleState, OdooConf, PgConnections
from builder.doctor.parse_docker import ParseError

_TRUE = {"true", "1", "yes", "on"}


def _conf_int(values: dict[str, str], key: str, default: int) -> int:
    raw = values.get(key, "")
    try:
        return int(raw)
    except ValueError:
        return default


def parse_odoo_conf(text: str) -> OdooConf:
    """`key = value` lines of odoo.conf ([options]); Odoo's own defaults for what is not there."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith((";", "#", "[")):
            continue
        key, sep, value = line.partition("=")
        if sep:
            values[key.strip()] = value.strip()
    d = OdooConf()
    return OdooConf(
        proxy_mode=values.get("proxy_mode", str(d.proxy_mode)).lower() in _TRUE,
        workers=_conf_int(values, "workers", d.workers),
        http_port=_conf_int(values, "http_port", d.http_port),
        gevent_port=_conf_int(values, "gevent_port", d.gevent_port),
        limit_time_real=_conf_int(values, "limit_time_real", d.limit_time_real),
        limit_time_cpu=_conf_int(values, "limit_time_cpu", d.limit_time_cpu),
        limit_memory_soft=_conf_int(values, "limit_memory_soft", d.limit_memory_soft),
        limit_memory_hard=_conf_int(values, "limit_memory_hard", d.limit_memory_hard),
        db_name=values.get("db_name", d.db_name),
        db_maxconn=_conf_int(values, "db_maxconn", d.db_maxconn),
    )


def parse_pg_ready(returncode: int, output: str) -> tuple[bool, str]:
    """pg_isready: exit 0 accepting, 1 rejecting (starting up), 2 no response, 3 no attempt."""
    text = " ".join(output.split()) or f"pg_isready exited {returncode}"
    return returncode == 0, text


def _rows(stdout: str) -> list[list[str]]:
    return [line.split("|") for line in stdout.splitlines() if line.strip()]


def parse_pg_connections(stdout: str) -> PgConnections:
    """`count|max_connections|superuser_reserved_connections`, one row."""
    rows = [r for r in _rows(stdout) if len(r) >= 2]
    if not rows:
        raise ParseError("no connections row")
    row = rows[0]
    try:
        return PgConnections(used=int(row[0]), max_connections=int(row[1]),
                             reserved=int(row[2]) if len(row) > 2 else 3)
    except ValueError as e:
        raise ParseError(f"connections row {row!r}: {e}") from e


def parse_pending_modules(stdout: str) -> tuple[ModuleState, ...]:
    """`name|state` rows of ir_module_module in to install / to upgrade / to remove."""
    return tuple(ModuleState(r[0].strip(), r[1].strip()) for r in _rows(stdout) if len(r) >= 2)


def parse_deploy_status(stdout: str) -> DeployStatus | None:
    """The path of the newest deploy_status.json on the first line, then the file; None when there is none."""
    path, _, body = stdout.partition("\n")
    if not body.strip():
        return None
    try:
        doc = json.loads(body)
    except json.JSONDecodeError as e:
        raise ParseError(f"{path.strip()}: not JSON: {e}") from e
    if not isinstance(doc, dict):
        raise ParseError(f"{path.strip()}: not a JSON object")
    gates = doc.get("gates")
    failing = tuple(
        (str(g.get("name", "")), str(g.get("detail", "")))
        for g in (gates if isinstance(gates, list) else [])
        if isinstance(g, dict) and not g.get("passed")
    )
    rollback = doc.get("rollback_info")
    return DeployStatus(
        path=path.strip(),
        deploy_id=str(doc.get("deploy_id", "")),
        status=str(doc.get("status", "")),
        failing_gates=failing,
        previous_tag=str(rollback.get("previous_tag", "")) if isinstance(rollback, dict) else "",
        odoo_tag=str(doc.get("odoo_tag", "")),
        error_message=str(doc.get("error_message", "")),
    )
