"""restore: the database from a backup, before install, when `database.source` is `latest` or a backup id and
the database does not exist yet (firstboot/restores.py does it; the pure plan is firstboot/backup/restore.py).

`fresh` (the default): nothing happens. A database that exists already (this deploy's, or one a volume kept)
is never overwritten. A refused or failed restore ends the deploy (Fatal, the reason naming the part or the
versions): no install runs on an empty database in its place, so nothing empty is served and no cutover
happens. Once restored, a rollback attempt or a resumed agent finds it done (`state.database`), and install
sees an existing database with its modules installed (firstboot/plans/install.py: skip, not `-i`).
"""

from __future__ import annotations

import logging
import os

from firstboot.config import DATABASE_SOURCE_FRESH
from firstboot.core import Agent
from firstboot.database import database_exists
from firstboot.errors import Fatal
from firstboot.job import Job
from firstboot.phases import Step
from firstboot.restores import RestoreError, RestoreWorld, restore_refusal, restore_set, stamp_for

log = logging.getLogger("odoo-droplet")

FRESH, RESTORING, RESTORED, KEPT, FAILED = "fresh", "restoring", "restored", "kept", "failed"


def restore_world(agent: Agent) -> RestoreWorld:
    return RestoreWorld(agent.layout, agent.deploy, agent.procs, agent.spaces_factory, agent.clock.now,
                        agent.compose.base(), jobs=max(1, os.cpu_count() or 1))


def run(job: Job, step: Step) -> None:
    agent, st = job.agent, job.state
    source = agent.deploy.database.source
    rec = st.database
    if source == DATABASE_SOURCE_FRESH:
        if not rec:
            st.database = {"source": source, "backup_id": None, "restored_rows": None, "status": FRESH}
        return
    if rec.get("status") in (RESTORED, KEPT):
        return  # this deploy restored it already (a rollback attempt, a resumed agent)
    if database_exists(agent):
        if rec.get("status") == RESTORING:  # the agent died after the swap, before recording it
            st.database = {**rec, "status": RESTORED, "restored_rows": rec.get("restored_rows")}
        else:
            st.database = {"source": source, "backup_id": None, "restored_rows": None, "status": KEPT,
                           "reason": f"database {agent.deploy.odoo.database} existed already: not restored"}
        log.info("restore: %s", st.database.get("reason", "restored before the agent restarted"))
        return
    why = restore_refusal(agent.deploy)
    if why:
        st.database = {"source": source, "backup_id": None, "restored_rows": None, "status": FAILED, "reason": why}
        raise Fatal(f"database.source {source}: {why}")
    stamp = rec.get("stamp") or stamp_for(agent.clock.now())
    st.database = {"source": source, "backup_id": None, "restored_rows": None, "status": RESTORING, "stamp": stamp}
    job.save()  # the stamp reaches the disk first: a resumed restore names (and drops) the same databases
    try:
        outcome = restore_set(restore_world(agent), source, live_exists=False, odoo_running=False, stamp=stamp)
    except RestoreError as e:
        st.database = {"source": source, "backup_id": e.backup_id, "restored_rows": None,
                       "status": FAILED, "reason": str(e), "failures": e.to_list()}
        raise Fatal(f"restore of {source} refused, no database served: {e}") from None
    st.database = {**outcome.to_dict(), "status": RESTORED, "stamp": stamp}
    log.info("restore: database %s restored from backup %s", agent.deploy.odoo.database, outcome.backup_id)
