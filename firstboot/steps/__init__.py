"""One function per step, registered by the step names of firstboot/phases.py.

A step receives the job (the world it acts on and the state it owns) and the step (its attempt). It
gathers facts, asks a plan (firstboot/plans/) where there is a choice, acts, and records what happened
in the state; it raises StepFailed to end its attempt or Fatal to end the deploy. The runner
(firstboot/runner.py) times it and saves the state around it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType

from firstboot.job import Job
from firstboot.phases import STEP_NAMES, Step
from firstboot.steps import (
    configure,
    cutover,
    decide,
    finalize,
    install,
    preflight,
    publish,
    restore,
    rollback,
    start_app,
    start_data,
    verify,
)

StepFn = Callable[[Job, Step], None]

STEPS: Mapping[str, StepFn] = MappingProxyType({
    "preflight": preflight.run,
    "rollback": rollback.run,
    "configure": configure.run,
    "start-data": start_data.run,
    "restore": restore.run,
    "install": install.run,
    "start-app": start_app.run,
    "verify": verify.run,
    "decide": decide.run,
    "publish": publish.run,
    "cutover": cutover.run,
    "finalize": finalize.run,
})

if set(STEPS) != set(STEP_NAMES):  # pragma: no cover - a step added to phases.py without its function
    raise ImportError(f"firstboot/steps: {sorted(set(STEP_NAMES) ^ set(STEPS))} registered on one side only")
