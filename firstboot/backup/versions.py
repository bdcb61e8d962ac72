"""Odoo and PostgreSQL versions as backups compare them."""

from __future__ import annotations

import re

# "18.0", "18.0-20260723" (the image's build), "18.0.1.3" (base's latest_version), "18.0+e", "saas~17.2"
_ODOO = re.compile(r"^(?:Odoo Server )?(?P<series>(?:saas~)?\d+\.\d+)(?:$|[-+.~ ])")
# "16.4", "16.4 (Debian 16.4-1.pgdg120+1)", "15beta2", "9.6.24"
_POSTGRES = re.compile(r"^(?:PostgreSQL )?(?P<major>\d+)(?:\.(?P<minor>\d+))?")


def odoo_series(version: str) -> str:
    """The release series a database belongs to (`18.0`, `saas~17.2`): Odoo runs only databases of
    its own series, so this is what a restore compares. ValueError when `version` names none."""
    m = _ODOO.match(version.strip())
    if not m:
        raise ValueError(f"not an Odoo version: {version!r}")
    return m["series"]


def postgres_major(version: str) -> tuple[int, ...]:
    """The major version (`(16,)`; `(9, 6)` before PostgreSQL 10, when majors had two numbers):
    pg_restore reads dumps of its own major and older ones, never newer."""
    m = _POSTGRES.match(version.strip())
    if not m:
        raise ValueError(f"not a PostgreSQL version: {version!r}")
    major = int(m["major"])
    if major < 10 and m["minor"] is not None:
        return (major, int(m["minor"]))
    return (major,)


def format_postgres_major(major: tuple[int, ...]) -> str:
    return ".".join(str(n) for n in major)
