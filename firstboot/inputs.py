"""The agent's inputs: settings and secrets.

With user-data, cloud-init wrote deploy.json and secrets.env; without it (a console-made droplet) the
snapshot's baked settings are used and passwords are generated once into the credentials file (0600),
read back on every later run.
"""

from __future__ import annotations

import json
import os
import secrets as pysecrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from firstboot.config import Deploy, Secrets
from firstboot.contract.envfile import parse_env, render_env
from firstboot.contract.layout import Layout
from firstboot.contract.passwords import generate_password
from firstboot.state import atomic_write

CREDENTIALS_HEADER = (
    "Generated on first boot of this droplet. Keep them safe.\n"
    "ODOO_ADMIN_PASSWORD is the password of Odoo's `admin` user (log in at /web/login);\n"
    "ADMIN_PASSWD is Odoo's master password (database manager); DB_PASSWORD is PostgreSQL's."
)
ADMIN_PASSWORD = "ODOO_ADMIN_PASSWORD"


@dataclass
class Inputs:
    deploy: Deploy
    secrets: Secrets
    user_data: bool
    baked: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def load_deploy(layout: Layout, baked: dict[str, Any]) -> Deploy:
    if layout.deploy_json.exists():
        return Deploy.from_dict(json.loads(layout.deploy_json.read_text()))
    if baked.get("deploy"):
        return Deploy.from_dict(baked["deploy"])
    return Deploy()


def tighten_modes(layout: Layout) -> list[str]:
    """The settings and secrets from user-data must be root's alone: fix a loose mode, say so."""
    warnings = []
    for p in (layout.deploy_json, layout.secrets_env):
        if p.exists() and p.stat().st_mode & 0o077:
            warnings.append(f"{p} was mode {oct(p.stat().st_mode & 0o777)}; set to 0600")
            os.chmod(p, 0o600)
    return warnings


def generated_credentials(layout: Layout, token: Callable[[int], str],
                          names: tuple[str, ...] = ("DB_PASSWORD", "ADMIN_PASSWD", ADMIN_PASSWORD)) -> dict[str, str]:
    """Passwords nobody gave: made once into the credentials file (0600, named by the login message), then
    read back on every run. A name the file lacks (a file from an older agent) is added, the others kept."""
    env = parse_env(layout.credentials.read_text()) if layout.credentials.exists() else {}
    missing = [n for n in names if not env.get(n)]
    if missing:
        env.update({n: generate_password(token) for n in missing})
        atomic_write(layout.credentials, render_env(env, header=CREDENTIALS_HEADER), mode=0o600)
    return env


def load_inputs(layout: Layout, token: Callable[[int], str] = pysecrets.token_urlsafe) -> Inputs:
    baked: dict[str, Any] = {}
    if layout.baked_json.exists():
        baked = json.loads(layout.baked_json.read_text())
    user_data = layout.secrets_env.exists()
    deploy = load_deploy(layout, baked)
    if user_data:
        given = parse_env(layout.secrets_env.read_text())
        warnings = tighten_modes(layout)
        if not given.get(ADMIN_PASSWORD):
            # user-data from an older builder: the admin password is still never left at Odoo's default.
            given[ADMIN_PASSWORD] = generated_credentials(layout, token, (ADMIN_PASSWORD,))[ADMIN_PASSWORD]
            warnings.append(f"no {ADMIN_PASSWORD} in user-data: generated one into {layout.credentials}")
        secrets = Secrets.from_env(given)
    else:
        env = generated_credentials(layout, token)
        # Only the passwords: a droplet without user-data has no token and no Spaces keys.
        secrets = Secrets.from_env({k: env[k] for k in ("DB_PASSWORD", "ADMIN_PASSWD", ADMIN_PASSWORD)})
        warnings = []
    return Inputs(deploy, secrets, user_data, baked, warnings)
