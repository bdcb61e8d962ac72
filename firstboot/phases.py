"""The first-boot sequence and its pure decisions: which step runs next given the persisted state,
and what to do after a verify. (Whether to cut over: firstboot/plans/cutover.py.)

preflight -> configure -> start-data -> restore -> install -> start-app -> verify -> decide
          -> [rollback -> configure -> start-data -> restore -> install -> start-app -> verify -> decide]

(restore: the database from a backup when `database.source` asks and there is none yet; else nothing.)
          -> publish -> cutover -> finalize

A step is recorded in the state only once it completed, so after a crash the agent re-enters the step
that was running; the steps themselves are idempotent (install checks the database first, cutover
checks who holds the reserved IP first).
"""

from __future__ import annotations

from dataclasses import dataclass

from firstboot.contract.keys import LAST_GOOD_KEY
from firstboot.state import Attempt, State

ATTEMPT_PHASES = ("configure", "start-data", "restore", "install", "start-app", "verify")
ROLLBACK_PHASES = ("rollback", *ATTEMPT_PHASES)
FINAL_STEPS = ("publish", "cutover", "finalize")
# Steps recorded in `state.done` (once per deploy; decide once per attempt); the others are recorded in
# their attempt's `done`.
TOP_LEVEL_STEPS = ("preflight", "decide", *FINAL_STEPS)
# Every step the sequence can return: firstboot/steps/ registers one function for each.
STEP_NAMES = ("preflight", *ROLLBACK_PHASES, "decide", *FINAL_STEPS)


@dataclass(frozen=True)
class Step:
    name: str  # preflight, configure, ..., decide, publish, cutover, finalize
    attempt: int | None = None

    @property
    def key(self) -> str:
        """The name under which the step is timed in the proof (`phases`)."""
        if not self.attempt or self.name == "rollback":
            return self.name
        return f"rollback:{self.name}"

    @property
    def top_level(self) -> bool:
        return self.name in TOP_LEVEL_STEPS

    @property
    def done_key(self) -> str:
        return f"{self.name}:{self.attempt}" if self.name == "decide" else self.name


def attempt_phases(index: int) -> tuple[str, ...]:
    return ATTEMPT_PHASES if index == 0 else ROLLBACK_PHASES


def next_step(state: State) -> Step | None:
    """The first step not yet done, or None when the deploy is finished."""
    if "preflight" not in state.done:
        return Step("preflight")
    if state.fatal is None:
        for i, att in enumerate(state.attempts):
            if att.failed is None:
                for phase in attempt_phases(i):
                    if phase not in att.done:
                        return Step(phase, i)
            if f"decide:{i}" not in state.done:
                return Step("decide", i)
    for name in FINAL_STEPS:
        if name not in state.done:
            return Step(name)
    return None


@dataclass(frozen=True)
class Decision:
    status: str | None  # success | rolled_back | failed; None while a rollback is still to run
    rollback_to: str | None
    reason: str


def decide(state: State, index: int) -> Decision:
    att: Attempt = state.attempts[index]
    failing = [g["name"] for g in att.gates if not g.get("passed")]
    if att.failed is None and att.passed:
        if index == 0:
            return Decision("success", None, f"every gate passed on {att.tag}")
        return Decision("rolled_back", None, f"the prior tag {att.tag} passed every gate after the rollback")
    why = att.failed or f"gates failed: {', '.join(failing) or 'none ran'}"
    if index == 0:
        prior = state.prior_tag
        if prior and prior != att.tag:
            return Decision(None, prior, f"{att.tag}: {why}; rolling back to {prior} ({state.prior_source})")
        return Decision("failed", None, f"{att.tag}: {why}; no prior tag to roll back to")
    return Decision("failed", None, f"{att.tag} (rollback): {why}")


def choose_prior_tag(
    last_good: str | None, user_data: str | None, baked: str | None, current: str
) -> tuple[str | None, str]:
    """The prior good tag, in the order of DESIGN.md section 3, skipping the tag being deployed."""
    for tag, source in (
        (last_good, f"{LAST_GOOD_KEY} in Spaces"),
        (user_data, "deploy.odoo.prior_tag"),
        (baked, "the tag baked into the snapshot"),
    ):
        if tag and tag != current:
            return tag, source
    return None, "none known"
