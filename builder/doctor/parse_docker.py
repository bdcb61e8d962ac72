"""`docker compose ps --format json` and `docker inspect` output -> one `ServiceState` per compose service."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from builder.doctor.facts import ServiceState

_SERVICE_LABEL = "com.docker.compose.service"
_FRACTION = re.compile(r"(\.\d{6})\d+")  # docker prints nanoseconds; datetime keeps microseconds


class ParseError(ValueError):
    """Output that is not what the command prints (the check then says "not gathered" and why)."""


@dataclass(frozen=True)
class ComposeRow:
    service: str
    name: str
    state: str
    health: str
    status_text: str
    exit_code: int | None


@dataclass(frozen=True)
class InspectRow:
    service: str
    name: str
    state: str
    health: str
    restart_count: int
    exit_code: int | None
    oom_killed: bool
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    health_log: str


def docker_time(value: str) -> dt.datetime | None:
    """Docker's RFC 3339 time in UTC; None for its zero time (0001-01-01, "never")."""
    if not value or value.startswith("0001-01-01"):
        return None
    try:
        return dt.datetime.fromisoformat(_FRACTION.sub(r"\1", value).replace("Z", "+00:00"))
    except ValueError:
        return None


def _json_objects(text: str) -> list[Mapping[str, object]]:
    """Compose v2 prints a JSON array (up to 2.20) or one JSON object per line (later): accept both."""
    text = text.strip()
    if not text:
        return []
    try:
        if text.startswith("["):
            data = json.loads(text)
            return [d for d in data if isinstance(d, dict)]
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    except json.JSONDecodeError as e:
        raise ParseError(f"not JSON: {e}") from e


def _int(value: object) -> int | None:
    return value if isinstance(value, int) else None


def _str(value: object) -> str:
    return value if isinstance(value, str) else ""


def _dict(value: object) -> Mapping[str, object]:
    return value if isinstance(value, dict) else {}


def parse_compose_ps(stdout: str) -> list[ComposeRow]:
    return [
        ComposeRow(
            service=_str(row.get("Service")),
            name=_str(row.get("Name")),
            state=_str(row.get("State")).lower(),
            health=_str(row.get("Health")).lower(),
            status_text=_str(row.get("Status")),
            exit_code=_int(row.get("ExitCode")),
        )
        for row in _json_objects(stdout)
    ]


def parse_inspect(stdout: str) -> list[InspectRow]:
    """`docker inspect` prints one array; with a missing name it still prints the others (and exits 1)."""
    text = stdout.strip()
    if not text:
        return []
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise ParseError(f"not JSON: {e}") from e
    rows = []
    for c in data if isinstance(data, list) else []:
        if not isinstance(c, dict):
            continue
        state = _dict(c.get("State"))
        health = _dict(state.get("Health"))
        log = health.get("Log")
        last = _str(_dict(log[-1]).get("Output")) if isinstance(log, list) and log else ""
        name = _str(c.get("Name")).lstrip("/")
        labels = _dict(_dict(c.get("Config")).get("Labels"))
        rows.append(InspectRow(
            service=_str(labels.get(_SERVICE_LABEL)) or name,
            name=name,
            state=_str(state.get("Status")).lower(),
            health=_str(health.get("Status")).lower(),
            restart_count=_int(c.get("RestartCount")) or 0,
            exit_code=_int(state.get("ExitCode")),
            oom_killed=state.get("OOMKilled") is True,
            started_at=docker_time(_str(state.get("StartedAt"))),
            finished_at=docker_time(_str(state.get("FinishedAt"))),
            health_log=(last.strip().splitlines() or [""])[0][:200],
        ))
    return rows


def merge_services(
    expected: Iterable[str], ps: Iterable[ComposeRow], inspect: Iterable[InspectRow]
) -> tuple[ServiceState, ...]:
    """One state per expected service (and any other the project runs); `state` "" when it has no container.

    inspect wins where both know (restart count, OOMKilled and times exist only there); compose's status
    text stays for the evidence ("Restarting (1) 4 seconds ago")."""
    by_ps = {r.service: r for r in ps}
    by_inspect = {r.service: r for r in inspect}
    names = list(dict.fromkeys([*expected, *by_ps, *by_inspect]))
    out = []
    for svc in names:
        p, i = by_ps.get(svc), by_inspect.get(svc)
        if i is not None:
            out.append(ServiceState(
                service=svc, name=i.name, state=i.state, health=i.health, restart_count=i.restart_count,
                exit_code=i.exit_code, oom_killed=i.oom_killed, started_at=i.started_at,
                finished_at=i.finished_at, status_text=p.status_text if p else "", health_log=i.health_log,
            ))
        elif p is not None:
            out.append(ServiceState(service=svc, name=p.name, state=p.state, health=p.health,
                                    exit_code=p.exit_code, status_text=p.status_text))
        else:
            out.append(ServiceState(service=svc, name="", state=""))
    return tuple(out)
