"""rollback: stop the failed tag's Odoo and deal with its database (firstboot/plans/rollback.py); the
prior tag's attempt follows through the usual phases."""

from __future__ import annotations

from firstboot.database import drop_database, wait_data_ready
from firstboot.job import Job
from firstboot.phases import Step
from firstboot.plans.rollback import plan_rollback
from firstboot.stack import data_services


def run(job: Job, step: Step) -> None:
    agent, st = job.agent, job.state
    agent.run(agent.compose.stop("odoo"), timeout=120)
    agent.run(agent.compose.rm("odoo"), timeout=120)
    plan = plan_rollback(st.attempts[0].fresh_db, data_services(agent.deploy))
    if plan.drop_database:
        if plan.restart_data:
            agent.run(agent.compose.up(*plan.restart_data), timeout=300)
        wait_data_ready(agent)
        drop_database(agent)
    st.rollback.database = plan.database_note
