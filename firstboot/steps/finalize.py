"""finalize: deploy_status.json once more, with the cutover in it (the runner uploads it when timed)."""

from __future__ import annotations

from firstboot.job import Job
from firstboot.phases import Step


def run(job: Job, step: Step) -> None:
    job.write_deploy_status()
