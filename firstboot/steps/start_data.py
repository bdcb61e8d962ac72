"""start-data: the data services up (PostgreSQL when self-hosted, Redis when enabled) and answering."""

from __future__ import annotations

from firstboot.database import wait_data_ready
from firstboot.errors import StepFailed
from firstboot.job import Job
from firstboot.phases import Step
from firstboot.stack import data_services


def run(job: Job, step: Step) -> None:
    agent = job.agent
    services = data_services(agent.deploy)
    if services:
        r = agent.run(agent.compose.up(*services), timeout=300)
        if not r.ok:
            raise StepFailed(f"compose up {' '.join(services)}: {r.stderr.strip()[-300:]}")
    wait_data_ready(agent)
