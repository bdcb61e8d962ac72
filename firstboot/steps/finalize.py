"""finalize: deploy_status.json once more, with the cutover in it (the runner uploads it when timed); then the
backup timer, rendered from the settings, on a droplet that serves a database of its own."""

from __future__ import annotations

import logging

from firstboot.backups import install_backup_timer
from firstboot.job import Job
from firstboot.phases import Step

log = logging.getLogger("odoo-droplet")

# A droplet whose deploy ended with a healthy stack (its tag, or the prior one after a rollback) has data to
# keep; whether it is the serving one is asked at each run (the reserved IP may move on later).
SERVES_DATA = ("success", "rolled_back")


def run(job: Job, step: Step) -> None:
    job.write_deploy_status()
    agent = job.agent
    if job.state.status not in SERVES_DATA:
        return
    try:
        if install_backup_timer(agent.layout, agent.deploy, lambda argv: agent.run(argv, timeout=60).ok):
            log.info("backups: odoo-droplet-backup.timer on %r", agent.deploy.backups.schedule)
    except OSError as e:  # the site does not need it: said loudly, the deploy stands
        log.error("backups: the timer could not be installed: %s", e)
