"""Secrets come from the environment or a git-ignored `.env` file, never from deploy.yaml.

The environment wins over `.env`, so CI can inject values without touching files.
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path

from builder.settings import Problem
from firstboot.config import Deploy, Secrets
from firstboot.contract.passwords import db_password_problem

MIN_PASSWORD_LENGTH = 12


def read_dotenv(path: Path) -> dict[str, str]:
    """KEY=VALUE lines; `export ` prefixes, comments and shell quoting are understood."""
    values: dict[str, str] = {}
    if not path.is_file():
        return values
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        line = line.removeprefix("export ").strip()
        key, sep, value = line.partition("=")
        if not sep:
            continue
        parts = shlex.split(value, comments=True) if value.strip() else [""]
        values[key.strip()] = parts[0] if parts else ""
    return values


def environment(dotenv: Path | None = None) -> dict[str, str]:
    """The process environment layered over `.env` (default: ./.env)."""
    merged = read_dotenv(dotenv or Path(".env"))
    merged.update(os.environ)
    return merged


def required_secret_names(deploy: Deploy, *, api: bool = False) -> list[str]:
    """What this deploy cannot go without. `api`: the command itself talks to the DigitalOcean API."""
    names = ["DB_PASSWORD", "ADMIN_PASSWD"]
    cutover = deploy.reserved_ip.mode != "none" or deploy.dns is not None
    if api or cutover:
        names.append("DIGITALOCEAN_TOKEN")
    if deploy.spaces is not None:
        names += ["SPACES_KEY", "SPACES_SECRET"]
    if deploy.registry.username:
        names.append(deploy.registry.token_env)
    return names


def secret_problems(deploy: Deploy, env: dict[str, str], *, api: bool = False) -> list[Problem]:
    problems = []
    for name in required_secret_names(deploy, api=api):
        if not env.get(name):
            problems.append(Problem(f"secrets.{name}", "(missing)", "not set in the environment nor in .env"))
    db_password = env.get("DB_PASSWORD")
    why = db_password_problem(db_password) if db_password else None
    if why:
        problems.append(Problem("secrets.DB_PASSWORD", "(set)", why.removeprefix("DB_PASSWORD ")))
    for name in ("DB_PASSWORD", "ADMIN_PASSWD"):
        value = env.get(name)
        if value and len(value) < MIN_PASSWORD_LENGTH:
            problems.append(Problem(f"secrets.{name}", "(set)", f"shorter than {MIN_PASSWORD_LENGTH} characters"))
    return problems


def secrets_from(deploy: Deploy, env: dict[str, str]) -> Secrets:
    return Secrets(
        db_password=env.get("DB_PASSWORD", ""),
        admin_passwd=env.get("ADMIN_PASSWD", ""),
        do_token=env.get("DIGITALOCEAN_TOKEN") or None,
        spaces_key=env.get("SPACES_KEY") or None,
        spaces_secret=env.get("SPACES_SECRET") or None,
        registry_token=env.get(deploy.registry.token_env) or None,
    )
