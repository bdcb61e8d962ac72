"""Passwords the droplet can use: what the official odoo image's entrypoint accepts, and how the agent
makes them when nobody gave one."""

from __future__ import annotations

import secrets as pysecrets
from collections.abc import Callable


def db_password_problem(password: str) -> str | None:
    """Why the official odoo image cannot use this database password, or None.

    Its entrypoint reads db_password from odoo.conf with `cut -d " " -f3` (the first word only, `"`
    stripped) and hands it to wait-for-psql.py as a separate argument after `--db_password`, which argparse
    takes for an option when it starts with `-`: the install then dies with "expected one argument"
    (seen on local droplets: token_urlsafe starts with "-" once in 64)."""
    if password.startswith("-"):
        return "DB_PASSWORD starts with '-': the odoo image's entrypoint passes it to wait-for-psql.py " \
               "as its own argument, which is then read as an option; choose one that does not"
    if any(c.isspace() for c in password) or '"' in password:
        return "DB_PASSWORD holds whitespace or a double quote: the odoo image's entrypoint reads only " \
               "its first word from odoo.conf (and drops quotes); choose one without"
    return None


def generate_password(token: Callable[[int], str] = pysecrets.token_urlsafe) -> str:
    """A random password the odoo image's entrypoint accepts (`db_password_problem`)."""
    for _ in range(1000):
        value = token(24)
        if db_password_problem(value) is None:
            return value
    raise RuntimeError("could not generate an acceptable password")
