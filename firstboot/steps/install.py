"""install: `odoo -i` of the configured modules, once per database (firstboot/plans/install.py decides
when to skip, adopt a running install, or start clean); then the admin account and web.base.url
(firstboot/admin.py, once per attempt: a resumed agent that finds them set moves on)."""

from __future__ import annotations

import logging

from firstboot import gates as G
from firstboot.admin import configure_admin
from firstboot.database import database_exists, drop_database, module_rows
from firstboot.errors import StepFailed
from firstboot.job import Job
from firstboot.phases import Step
from firstboot.plans.install import (
    install_container_name,
    install_failure,
    plan_adopted,
    plan_fresh_install,
    plan_install_start,
    wait_exit_code,
)
from firstboot.probes import docker_inspect, docker_wait
from firstboot.proof import MODULE_INSTALL_LOG, iso, module_entries
from firstboot.state import Attempt

log = logging.getLogger("odoo-droplet")


def run(job: Job, step: Step) -> None:
    agent = job.agent
    i = step.attempt or 0
    att = job.state.attempts[i]
    if plan_install_start(db_initialised=att.db_initialised, container_exists=None) == "done":
        configure_admin(agent, att)  # a resume after the install: once, if not done yet
        return
    name = install_container_name(job.state.deploy_id, i)
    existing = agent.run(docker_inspect(name), timeout=30)
    t0 = agent.clock.monotonic()
    code: int | None = None
    if plan_install_start(db_initialised=False, container_exists=existing.ok) == "adopt":
        code = adopt_install(job, att, i, name)
    if code is None:
        if already_installed(job, att):
            job.save()
            configure_admin(agent, att)
            return
        code = run_install(job, att, i, name)
    agent.run(("docker", "rm", "-f", name), timeout=60)
    att.install.update(exit_code=code, seconds=round(agent.clock.monotonic() - t0, 3))
    rows, err = module_rows(agent)
    gate = G.module_state_ok(rows, agent.deploy.odoo.modules, err)
    att.install["modules"] = module_entries(rows or [], agent.deploy.odoo.modules)
    failure = install_failure(code, gate)
    if failure:
        raise StepFailed(failure)
    att.db_initialised = True
    job.save()  # the install's outcome reaches the disk before the admin account is set
    configure_admin(agent, att)


def already_installed(job: Job, att: Attempt) -> bool:
    """Whether the attempt's database existed before it, with the modules installed (recorded so)."""
    agent = job.agent
    if att.fresh_db is None:
        att.fresh_db = not database_exists(agent)
    if att.fresh_db:
        return False
    rows, _ = module_rows(agent)
    modules_ok = rows is not None and G.module_state_ok(rows, agent.deploy.odoo.modules).passed
    if plan_fresh_install(fresh_db=att.fresh_db, modules_ok=modules_ok) == "install":
        return False
    att.db_initialised = True
    att.install.update(exit_code=None, skipped="modules already installed",
                       modules=module_entries(rows or [], agent.deploy.odoo.modules))
    return True


def run_install(job: Job, att: Attempt, i: int, name: str) -> int:
    """`odoo -i` in a named one-off container (a resumed agent finds it by that name); its exit code."""
    agent = job.agent
    att.install["started"] = iso(agent.clock.now())
    job.save()  # fresh_db and the start reach the disk before the install runs
    odoo = agent.deploy.odoo
    r = agent.run(agent.compose.install(name, odoo.database, odoo.modules),
                  timeout=agent.deploy.gates.install_timeout_seconds)
    install_log(job, i, att.tag, r.stdout + r.stderr)
    return r.returncode


def adopt_install(job: Job, att: Attempt, i: int, name: str) -> int | None:
    """A resumed agent: the install it started is still running (or finished) under dockerd. Wait for
    that one; its exit code, or None when it was discarded and a clean install must run."""
    agent = job.agent
    log.info("install container %s exists: waiting for it instead of starting another", name)
    att.install["resumed"] = True
    w = agent.run(docker_wait(name), timeout=agent.deploy.gates.install_timeout_seconds)
    code = wait_exit_code(w.ok, w.stdout)
    logs = agent.run(("docker", "logs", name), timeout=60)
    if plan_adopted(code, att.fresh_db) == "discard":
        log.warning("install %s was killed (exit %s): dropping the partial database", name, code)
        agent.run(("docker", "rm", "-f", name), timeout=60)
        drop_database(agent)
        return None
    install_log(job, i, att.tag, logs.stdout + logs.stderr)
    return code


def install_log(job: Job, attempt: int, tag: str, output: str) -> None:
    """module_install.log: the first attempt's output, then the rollback's appended below it."""
    header = f"# odoo -i with {tag} (attempt {attempt}) at {iso(job.agent.clock.now())}\n"
    if attempt == 0:
        job.write_proof(MODULE_INSTALL_LOG, header + output)
    else:
        job.append_proof(MODULE_INSTALL_LOG, "\n" + header + output)
