"""Runs the steps: owns the state (loaded or begun at start, never None), times each step into
`phases`, records how it ended, and keeps the live status in Spaces current.

Which step comes next is firstboot/phases.py's; what each step does is firstboot/steps/'s, looked up in
the STEPS table by the step's name.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from firstboot.contract.ids import deploy_id_for
from firstboot.core import Agent
from firstboot.errors import Fatal, StepFailed
from firstboot.job import Job
from firstboot.phases import Step, next_step
from firstboot.proof import iso
from firstboot.publishing import LiveStatus, upload_proofs
from firstboot.security import block_metadata
from firstboot.state import State, load_state
from firstboot.steps import STEPS, StepFn

log = logging.getLogger("odoo-droplet")

MAX_RUNS = 5  # a deploy that crashed this often is not retried by the unit again: publish and stop


class StepRunner:
    def __init__(self, job: Job, steps: Mapping[str, StepFn] = STEPS) -> None:
        self.job = job
        self.steps = steps
        self.live = LiveStatus()

    @classmethod
    def start(cls, agent: Agent) -> StepRunner:
        """Load the state or begin a new deploy; count this start."""
        st = load_state(agent.layout.state_json)
        if st is None:
            now = agent.clock.now()
            st = State(deploy_id=agent.deploy.deploy_id or deploy_id_for(now), started_at=iso(now),
                       user_data=agent.inputs.user_data)
        st.runs += 1
        runner = cls(Job(agent, st), agent.steps or STEPS)
        runner.job.save()
        return runner

    @property
    def state(self) -> State:
        return self.job.state

    def run_all(self, max_steps: int = 64) -> State:
        st = self.state
        block_metadata(self.job)  # every boot: the rule does not survive a reboot
        if st.runs > MAX_RUNS and next_step(st) is not None and st.fatal is None:
            st.fatal = f"the agent started {st.runs} times without finishing; giving up"
            st.status = "failed"
        for _ in range(max_steps):
            step = next_step(st)
            if step is None:
                break
            self.run_step(step)
        st.current = None
        self.job.save()
        return st

    def run_step(self, step: Step) -> None:
        st, job, clock = self.state, self.job, self.job.agent.clock
        key = step.key
        rec = st.phases.get(key, {})
        if rec.get("started") and not rec.get("ended"):
            rec["resumed"] = int(rec.get("resumed", 0)) + 1
        rec.update(started=iso(clock.now()), ended=None, seconds=None, ok=None)
        st.phases[key] = rec
        st.current = key
        job.save()
        self.live.upload(job)
        t0 = clock.monotonic()
        log.info("phase %s: start", key)
        ok = self._dispatch(step)
        seconds = round(clock.monotonic() - t0, 3)
        rec.update(ended=iso(clock.now()), seconds=seconds, ok=ok)
        if step.top_level:
            st.done.append(step.done_key)
        elif ok:
            st.attempts[step.attempt or 0].done.append(step.name)
        log.info("phase %s: %s in %.1fs", key, "ok" if ok else "failed", seconds)
        st.current = None
        if step.name == "finalize":
            job.write_deploy_status()  # again, now that finalize itself is timed
        job.save()
        if step.name == "finalize":
            upload_proofs(job)  # status.json now says done: the operator's CLI stops following
        else:
            self.live.upload(job)

    def _dispatch(self, step: Step) -> bool:
        """Run the step; a StepFailed fails its attempt, a Fatal the deploy. True when it went through."""
        st = self.state
        redact = self.job.agent.redact
        try:
            self.steps[step.name](self.job, step)
        except StepFailed as e:
            att = st.attempts[step.attempt or 0] if st.attempts else None
            if att is not None:
                att.failed = f"{step.name}: {e}"
                att.passed = False
            log.error("phase %s failed: %s", step.key, redact(str(e)))
            return False
        except Fatal as e:
            st.fatal = f"{step.name}: {e}"
            st.status = "failed"
            st.error_message = st.fatal
            log.error("fatal in %s: %s", step.key, redact(str(e)))
            return False
        return True
