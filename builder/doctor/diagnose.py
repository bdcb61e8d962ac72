"""The decision: all facts -> the checks and the probable cause. Pure; the one entry point the CLI calls."""

from __future__ import annotations

from builder.doctor.causes import probable_cause
from builder.doctor.checks import run_checks
from builder.doctor.facts import DoctorFacts
from builder.doctor.report import DoctorReport


def diagnose(facts: DoctorFacts) -> DoctorReport:
    checks = tuple(run_checks(facts))
    return DoctorReport(cause=probable_cause(facts, checks), checks=checks, not_gathered=facts.errors)
