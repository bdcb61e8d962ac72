"""preflight: can anything be tried here? First the droplet's SSH host keys go out (so the operator can reach
even a droplet that fails here), then resources, disk, docker, the metadata block, a certificate to start
with, the prior tag to roll back to, and the images."""

from __future__ import annotations

import logging

from firstboot.certificate import ensure_self_signed_cert
from firstboot.contract.passwords import db_password_problem
from firstboot.core import Agent
from firstboot.errors import Fatal
from firstboot.job import Job
from firstboot.phases import Step, choose_prior_tag
from firstboot.probes import image_inspect, parse_image_digest
from firstboot.publishing import last_good_tag, publish_host_keys
from firstboot.records import ResourcesRecord
from firstboot.security import block_metadata
from firstboot.stack import data_images
from firstboot.state import Attempt
from firstboot.workers import SizeTooSmall, plan_workers

log = logging.getLogger("odoo-droplet")

MIN_FREE_DISK_GB = 2.0
DOCKER_WAIT_SECONDS = 120
POLL_SECONDS = 1.0
PULL_SECONDS = 900


def run(job: Job, step: Step) -> None:
    agent, st = job.agent, job.state
    for w in agent.inputs.warnings:
        log.warning(w)
    publish_host_keys(agent)
    problem = db_password_problem(agent.secrets.db_password)
    if problem:
        raise Fatal(problem)  # no install could succeed: say why now, not as a wait-for-psql usage error
    measure(job)
    wait_docker(agent)
    block_metadata(job)
    ensure_self_signed_cert(agent)
    st.prior_tag, st.prior_source = choose_prior_tag(
        last_good_tag(agent), agent.deploy.odoo.prior_tag, baked_tag(agent), agent.deploy.odoo.tag)
    st.attempts = [Attempt(tag=agent.deploy.odoo.tag)]
    check_images(job)


def measure(job: Job) -> None:
    """The machine's resources and free disk, recorded; too small a droplet is refused here."""
    agent, st = job.agent, job.state
    res = agent.resources()
    st.resources = ResourcesRecord(vcpus=res.vcpus, memory_mb=res.memory_mb, disk_gb=res.disk_gb)
    try:
        plan = plan_workers(res, agent.deploy.odoo.workers)
    except (SizeTooSmall, ValueError) as e:
        raise Fatal(str(e)) from e
    st.resources.workers = plan.workers
    free = agent.free_disk_gb()
    st.resources.disk_free_gb = round(free, 1)
    if free < MIN_FREE_DISK_GB:
        raise Fatal(f"{free:.1f} GB free on / (need {MIN_FREE_DISK_GB})")


def check_images(job: Job) -> None:
    """The snapshot carries both tags; a registry is needed only for what it does not carry. A missing
    data image refuses the deploy, a missing prior tag drops the rollback, a missing configured tag
    fails the first attempt (the rollback may still serve)."""
    agent, st = job.agent, job.state
    att = st.attempts[0]
    for ref in data_images(agent.deploy):
        if not ensure_image(job, ref):
            raise Fatal(f"image {ref} is not on this droplet and cannot be pulled")
    if st.prior_tag and not ensure_image(job, agent.image_ref(st.prior_tag)):
        log.warning("prior tag %s: image not present; no rollback possible", st.prior_tag)
        st.prior_source = f"{st.prior_source} (image missing: no rollback)"
        st.prior_tag = None
    if not ensure_image(job, agent.image_ref(att.tag)):
        att.failed = f"preflight: image {agent.image_ref(att.tag)} not present and the pull failed"
        att.passed = False


def baked_tag(agent: Agent) -> str | None:
    """baked.json (builder/packer.py): "tag" is the tag the snapshot was built for, "prior_tag" the one
    before it; both images are in the snapshot. The first that is not the tag being deployed."""
    baked = agent.inputs.baked
    return next((t for t in (baked.get("tag"), baked.get("prior_tag")) if t and t != agent.deploy.odoo.tag), None)


def wait_docker(agent: Agent) -> None:
    clock = agent.clock
    deadline = clock.monotonic() + DOCKER_WAIT_SECONDS
    while True:
        r = agent.run(("docker", "info", "--format", "{{.ServerVersion}}"), timeout=30)
        if r.ok:
            return
        if r.returncode == 127:
            raise Fatal("docker is not installed (the snapshot is missing docker.io)")
        if clock.monotonic() >= deadline:
            raise Fatal(f"docker does not answer: {r.stderr.strip()[:200]}")
        clock.sleep(POLL_SECONDS)


def ensure_image(job: Job, ref: str) -> bool:
    """The image is local (pulled if it was not); its digest goes into the proof."""
    agent = job.agent
    r = agent.run(image_inspect(ref), timeout=30)
    if not r.ok:
        log.info("image %s not local; pulling", ref)
        if not agent.run(("docker", "pull", ref), timeout=PULL_SECONDS).ok:
            return False
        r = agent.run(image_inspect(ref), timeout=30)
        if not r.ok:
            return False
    job.state.images[ref] = parse_image_digest(r.stdout)
    return True
