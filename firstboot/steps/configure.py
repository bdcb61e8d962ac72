"""configure: the stack's files for this attempt's tag, then nginx and the certificate."""

from __future__ import annotations

import logging
import secrets

from firstboot.certificate import ensure_certificate
from firstboot.job import Job
from firstboot.nginx_site import configure_nginx
from firstboot.phases import Step
from firstboot.render.compose import (
    DB_INIT_DIR,
    DB_INIT_SCRIPT,
    DB_PASSWORD_FILE,
    REDIS_PASSWORD_FILE,
    render_db_init_script,
    render_db_password_file,
)
from firstboot.state import atomic_write
from firstboot.workers import plan_workers

log = logging.getLogger("odoo-droplet")


def run(job: Job, step: Step) -> None:
    agent = job.agent
    att = job.attempt(step)
    d = agent.tag_deploy(att.tag)
    plan = plan_workers(job.state.resources.measured(), agent.deploy.odoo.workers)
    stack = agent.layout.stack_dir
    stack.mkdir(parents=True, exist_ok=True)
    image = agent.image_ref(att.tag)
    atomic_write(stack / "docker-compose.yml", agent.renderers.compose(d, image), 0o600)
    atomic_write(stack / "odoo.env", agent.renderers.compose_env(d, agent.secrets), 0o600)
    atomic_write(stack / DB_PASSWORD_FILE, render_db_password_file(agent.secrets), 0o600)
    if d.postgres.mode == "selfhost":
        # No secret in it; 0644 so the image's entrypoint (as postgres) can source it.
        (stack / DB_INIT_DIR).mkdir(mode=0o755, exist_ok=True)
        atomic_write(stack / DB_INIT_DIR / DB_INIT_SCRIPT, render_db_init_script(d), 0o644)
    if d.redis.enabled and not (stack / REDIS_PASSWORD_FILE).exists():
        # Made once per droplet (kept across attempts): an addon that uses Redis reads it from this 0600 file.
        atomic_write(stack / REDIS_PASSWORD_FILE, secrets.token_urlsafe(32), 0o600)
    conf = stack / "odoo.conf"
    atomic_write(conf, agent.renderers.odoo_conf(d, agent.secrets, plan), 0o600)
    # The odoo image runs as its own user: the 0600 file must be that user's to be readable.
    uid = agent.run(("docker", "run", "--rm", "--network", "none", "--entrypoint", "id", image, "-u"), timeout=60)
    if uid.ok and uid.stdout.strip().isdigit():
        agent.chown(conf, int(uid.stdout.strip()))
    else:
        log.warning("could not read the odoo image's uid; odoo.conf stays root-owned")
    configure_nginx(agent, d)
    ensure_certificate(job, "configure")
