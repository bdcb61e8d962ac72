"""decide: after an attempt's verify, success, a rollback to the prior tag, or failure
(firstboot/phases.py decide); diagnostics of a failed attempt go into the proofs."""

from __future__ import annotations

import json
import logging

from firstboot.job import Job
from firstboot.phases import Step, decide
from firstboot.proof import iso
from firstboot.records import RollbackRecord
from firstboot.state import Attempt

log = logging.getLogger("odoo-droplet")


def run(job: Job, step: Step) -> None:
    st, now = job.state, job.agent.clock.now
    i = step.attempt or 0
    dec = decide(st, i)
    log.info("decide: %s", dec.reason)
    if not st.attempts[i].passed:
        save_diagnostics(job, i)
    if dec.rollback_to:
        failing = [g["name"] for g in st.attempts[i].gates if not g.get("passed")]
        st.rollback = RollbackRecord(performed=True, from_tag=st.attempts[i].tag, to_tag=dec.rollback_to,
                                     source=st.prior_source, reason=dec.reason, failing_gates=failing,
                                     started=iso(now()))
        st.attempts.append(Attempt(tag=dec.rollback_to))
        return
    st.status = dec.status
    if dec.status != "success":
        st.error_message = dec.reason
    if st.rollback:
        st.rollback.passed = dec.status == "rolled_back"
        st.rollback.ended = iso(now())


def save_diagnostics(job: Job, i: int) -> None:
    agent = job.agent
    prefix = f"diagnostics/attempt-{i}-"
    logs = agent.run(agent.compose.logs(200), timeout=60)
    job.write_proof(prefix + "compose-logs.txt", logs.stdout + logs.stderr)
    err = agent.layout.nginx_error_log
    tail = "\n".join(err.read_text(errors="replace").splitlines()[-100:]) if err.exists() else ""
    job.write_proof(prefix + "nginx-error.log", tail + "\n")
    failing = [{"gate": g.name, "detail": g.detail,
                **({"url": r.url, "status": r.status, "headers": r.headers, "body": r.body[:4096],
                    "error": r.error} if r else {})}
               for g, r in job.failing_responses]
    job.write_proof(prefix + "failing-responses.json", json.dumps(failing, indent=2) + "\n")
    job.failing_responses = []
