"""The admin account and the public URL on the droplet: the URL users reach, the `odoo shell` that sets them
(decisions and the script: firstboot/plans/admin.py), and what the base_url gate reads back."""

from __future__ import annotations

import logging

from firstboot import gates as G
from firstboot.core import Agent
from firstboot.database import sql
from firstboot.errors import StepFailed
from firstboot.metadata import MetadataError
from firstboot.plans.admin import admin_failure, admin_script, plan_admin, public_base_url
from firstboot.proof import iso
from firstboot.state import Attempt

log = logging.getLogger("odoo-droplet")

SHELL_TIMEOUT_SECONDS = 300
BASE_URL_QUERY = ("SELECT key, value FROM ir_config_parameter "
                  "WHERE key IN ('web.base.url', 'web.base.url.freeze') ORDER BY key;\n")


def base_url_of(agent: Agent) -> str | None:
    """`https://<edge.domain>`, else the reserved IP the settings name, else this droplet's public IPv4."""
    d = agent.deploy
    if d.edge.domain:
        return public_base_url(d.edge.domain, None, None)
    rip = d.reserved_ip.address if d.reserved_ip.mode != "none" else None
    if rip:
        return public_base_url(None, rip, None)
    try:
        return public_base_url(None, None, agent.metadata().public_ipv4())
    except MetadataError as e:
        log.warning("no public address from the metadata service: %s", e)
        return None


def configure_admin(agent: Agent, att: Attempt) -> None:
    """Set the admin password (and login e-mail) on a database this deploy created, and web.base.url (frozen)
    on every database; recorded in `att.install["admin"]` so a resumed agent does it once. Idempotent."""
    done = att.install.get("admin")
    plan = plan_admin(fresh_db=att.fresh_db, done=bool(done))
    if plan == "skip":
        return
    base_url = base_url_of(agent)
    if base_url is None:
        raise StepFailed("cannot set web.base.url: no edge.domain, reserved IP or public address known")
    odoo = agent.deploy.odoo
    password = agent.secrets.odoo_admin_password if plan == "password" else None
    if plan == "password" and not password:
        raise StepFailed("no ODOO_ADMIN_PASSWORD: the admin user would keep Odoo's default password")
    script = admin_script(base_url, password, odoo.admin_email if plan == "password" else None)
    r = agent.run(agent.compose.shell(odoo.database), timeout=SHELL_TIMEOUT_SECONDS, stdin=script)
    why = admin_failure(r.returncode, r.stdout + r.stderr)
    if why:
        raise StepFailed(agent.redact(why))
    att.install["admin"] = {
        "password_set": plan == "password",
        "login": (odoo.admin_email or "admin") if plan == "password" else None,
        "base_url": base_url,
        "at": iso(agent.clock.now()),
    }
    log.info("admin account %s; web.base.url = %s (frozen)",
             "password set" if plan == "password" else "left as it was (existing database)", base_url)


def read_base_url(agent: Agent) -> tuple[dict[str, str] | None, str]:
    """web.base.url and web.base.url.freeze as stored, or None and why not."""
    r = sql(agent, agent.deploy.odoo.database, BASE_URL_QUERY)
    if not r.ok:
        return None, r.stderr.strip()[:200]
    params = {}
    for line in r.stdout.splitlines():
        key, sep, value = line.partition("|")
        if sep:
            params[key.strip()] = value.strip()
    return params, ""


def base_url_gate(agent: Agent, expected: str | None) -> G.GateResult:
    params, err = read_base_url(agent)
    return G.base_url(params, expected, err)
