"""start-app: the whole stack up, Odoo included."""

from __future__ import annotations

from firstboot.errors import StepFailed
from firstboot.job import Job
from firstboot.phases import Step
from firstboot.stack import all_services


def run(job: Job, step: Step) -> None:
    agent = job.agent
    r = agent.run(agent.compose.up(*all_services(agent.deploy)), timeout=300)
    if not r.ok:
        raise StepFailed(f"compose up: {r.stderr.strip()[-300:]}")
