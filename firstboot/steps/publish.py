"""publish: the deploy's verdict and every proof, to Spaces through the outbox (before any cutover)."""

from __future__ import annotations

from firstboot.job import Job
from firstboot.phases import Step
from firstboot.proof import HEALTHCHECK_LOG, MODULE_INSTALL_LOG
from firstboot.publishing import upload_proofs


def run(job: Job, step: Step) -> None:
    st = job.state
    if st.status is None:
        st.status = "failed"
    for name in (HEALTHCHECK_LOG, MODULE_INSTALL_LOG):
        if not (job.proof_dir / name).exists():
            job.write_proof(name, "" if name == HEALTHCHECK_LOG else "# install did not run\n")
    job.write_deploy_status()
    job.save()
    upload_proofs(job)
