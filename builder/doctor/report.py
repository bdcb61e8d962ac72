"""The report doctor prints: a JSON document and a text rendering, and the exit status it ends with.

JSON (issue 14's shape): `{"healthy": bool, "cause": null | {"id", "summary", "evidence": [...], "fix"},
"checks": [{"name", "result", "evidence"}]}`; a fact that could not be gathered shows in its check's evidence.
Text: the probable cause first (what an operator at 3 a.m. needs), then the table of checks, then what could
not be read.
"""

from __future__ import annotations

from dataclasses import dataclass

from builder.doctor.causes import Cause
from builder.doctor.checks import Check, Result

EXIT_HEALTHY = 0
EXIT_CAUSE_FOUND = 1
EXIT_BAD_INPUT = 2  # the CLI's: an unknown droplet, no SSH key; decided there, listed here with the others

_MARK = {Result.PASS: "ok", Result.WARN: "WARN", Result.FAIL: "FAIL"}


@dataclass(frozen=True)
class DoctorReport:
    cause: Cause | None
    checks: tuple[Check, ...]
    not_gathered: tuple[tuple[str, str], ...] = ()  # (command, why) the SSH channel or a parser reported

    @property
    def healthy(self) -> bool:
        return self.cause is None

    @property
    def exit_code(self) -> int:
        return EXIT_HEALTHY if self.healthy else EXIT_CAUSE_FOUND

    def to_json(self) -> dict[str, object]:
        return {
            "healthy": self.healthy,
            "cause": self.cause.to_dict() if self.cause else None,
            "checks": [chk.to_dict() for chk in self.checks],
        }


def render_text(report: DoctorReport) -> str:
    lines: list[str] = []
    cause = report.cause
    if cause is None:
        fails = sum(chk.result == Result.FAIL for chk in report.checks)
        warns = sum(chk.result == Result.WARN for chk in report.checks)
        lines.append(f"Healthy: no cause found ({len(report.checks)} checks, {warns} warnings, {fails} failures).")
    else:
        lines += [f"Probable cause: {cause.id}", f"  {cause.summary}", "  Evidence:"]
        lines += [f"    {e}" for e in cause.evidence] or ["    (none)"]
        lines += ["  Fix:", f"    {cause.fix}"]
    lines.append("")
    width = max((len(chk.name) for chk in report.checks), default=5)
    lines.append(f"{'check':<{width}}  {'':4}  evidence")
    for chk in report.checks:
        lines.append(f"{chk.name:<{width}}  {_MARK[chk.result]:<4}  {chk.evidence}")
    if report.not_gathered:
        lines += ["", "Not gathered:"] + [f"  {name}: {why}" for name, why in report.not_gathered]
    return "\n".join(lines) + "\n"
