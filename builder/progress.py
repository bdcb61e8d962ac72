"""Live progress of a first boot, from the agent's status.json (pure: state in, lines out)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Follower:
    """Remembers what it already showed, so each phase is printed once when it ends."""

    shown_done: set[str] = field(default_factory=set)
    shown_current: str | None = None

    def lines(self, status: dict[str, Any]) -> list[str]:
        out: list[str] = []
        phases = status.get("phases") or {}
        ended = [(name, p) for name, p in phases.items() if p.get("ended")]
        ended.sort(key=lambda item: item[1].get("ended") or "")
        for name, p in ended:
            if name in self.shown_done:
                continue
            self.shown_done.add(name)
            mark = "ok" if p.get("ok", True) else "FAILED"
            out.append(f"  {name:<22} {mark:<6} {float(p.get('seconds') or 0):7.1f} s")
        current = status.get("current")
        if current and current != self.shown_current and current not in self.shown_done:
            self.shown_current = current
            tag = f" (tag {status['tag']})" if status.get("tag") else ""
            out.append(f"  {current:<22} ...{tag}")
        return out


def is_finished(status: dict[str, Any] | None) -> bool:
    return bool(status and status.get("done"))


def gate_table(deploy_status: dict[str, Any]) -> list[str]:
    rows = [f"  {'gate':<18} {'result':<6} detail"]
    for g in deploy_status.get("gates", []):
        rows.append(f"  {g.get('name', '?'):<18} {'pass' if g.get('passed') else 'FAIL':<6} {str(g.get('detail', ''))[:90]}")
    return rows
