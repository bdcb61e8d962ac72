"""Secrets come from the environment or a git-ignored `.env` file, never from deploy.yaml.

The environment wins over `.env`, so CI can inject values without touching files.
"""

from __future__ import annotations

import os
from pathlib import Path

from builder.settings import Problem
from firstboot.config import Deploy, Secrets
from firstboot.contract.envfile import parse_env
from firstboot.contract.passwords import db_password_problem

MIN_PASSWORD_LENGTH = 12
# The shortest value each secret may have, as examples/deploy.digitalocean.yaml documents. The passwords
# are the operator's own choice. Tokens and keys are issued by DigitalOcean or a registry and are far
# longer (a DigitalOcean token is 71 characters, a Spaces key 20, its secret 43, a GitHub token 40);
# their floor catches a placeholder, and keeps every secret long enough that it cannot turn up by chance
# in a rendered file, where `render`'s leak check would otherwise stop on it.
MIN_TOKEN_LENGTH = 16
MIN_LENGTHS = {
    "DB_PASSWORD": MIN_PASSWORD_LENGTH,
    "ADMIN_PASSWD": MIN_PASSWORD_LENGTH,
    "ODOO_ADMIN_PASSWORD": MIN_PASSWORD_LENGTH,
    "DIGITALOCEAN_TOKEN": MIN_TOKEN_LENGTH,
    "SPACES_KEY": MIN_TOKEN_LENGTH,
    "SPACES_SECRET": MIN_TOKEN_LENGTH,
    "DROPLET_TOKEN": MIN_TOKEN_LENGTH,
}


def read_dotenv(path: Path) -> dict[str, str]:
    """The `.env` file's KEY=VALUE pairs ({} when there is none), in the one env-file format."""
    if not path.is_file():
        return {}
    return parse_env(path.read_text())


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
    """Every problem with the secrets this deploy would use, each named (a value is never echoed)."""
    problems = []
    for name in required_secret_names(deploy, api=api):
        if not env.get(name):
            problems.append(Problem(f"secrets.{name}", "(missing)", "not set in the environment nor in .env"))
    db_password = env.get("DB_PASSWORD")
    why = db_password_problem(db_password) if db_password else None
    if why:
        problems.append(Problem("secrets.DB_PASSWORD", "(set)", why.removeprefix("DB_PASSWORD ")))
    # Every secret that is set travels with the deploy, needed or not: each must meet its minimum.
    token_env = deploy.registry.token_env
    for name, minimum in {**MIN_LENGTHS, token_env: MIN_TOKEN_LENGTH}.items():
        value = env.get(name)
        if value and len(value) < minimum:
            problems.append(Problem(f"secrets.{name}", "(set)", f"shorter than {minimum} characters"))
    # Without a user name the bake would pull anonymously and 40-images.sh would stop inside Packer, once
    # the build droplet exists: say it here instead.
    if env.get(token_env) and not deploy.registry.username:
        problems.append(Problem(f"secrets.{token_env}", "(set)",
                                "a registry token needs registry.username in the settings (or unset the token "
                                "for anonymous pulls)"))
    return problems


def secret_warnings(deploy: Deploy, env: dict[str, str]) -> list[str]:
    """What is allowed but unsafe, said without a value: the droplet receiving the operator's own token."""
    if "DIGITALOCEAN_TOKEN" not in required_secret_names(deploy) and not env.get("DROPLET_TOKEN"):
        return []  # the droplet is given no token at all (no reserved IP, no DNS)
    operator, droplet = env.get("DIGITALOCEAN_TOKEN"), env.get("DROPLET_TOKEN")
    if droplet and droplet == operator:
        return ["DROPLET_TOKEN is the same value as DIGITALOCEAN_TOKEN: the droplet (and anyone who reads its "
                "user-data) holds the operator's token; make a token with custom scopes reserved_ip:update, "
                "domain:update, droplet:read for it (README: Security)"]
    if not droplet:
        return ["DROPLET_TOKEN is not set: the droplet receives DIGITALOCEAN_TOKEN, the operator's own token; "
                "make a token with custom scopes reserved_ip:update, domain:update, droplet:read and set it as "
                "DROPLET_TOKEN (README: Security)"]
    return []


def secrets_from(deploy: Deploy, env: dict[str, str]) -> Secrets:
    """The secrets for `deploy`: the registry token is read from the variable its settings name."""
    return Secrets.from_env(env, registry_token_env=deploy.registry.token_env)
