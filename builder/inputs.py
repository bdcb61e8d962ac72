"""A command's inputs: the settings file and the secrets it needs, both validated before anything is done.

A bad settings file raises builder.settings.SettingsError (turned into BadInput at the edge, builder.cli);
missing or malformed secrets raise BadInput here. Either way every problem is listed and nothing is created.
"""

from __future__ import annotations

from pathlib import Path

from builder.errors import BadInput
from builder.gitinfo import build_info
from builder.secrets_env import environment, secret_problems, secrets_from
from builder.settings import load_settings, to_deploy, with_size
from firstboot.config import Deploy, Secrets

# Secrets only a deploy needs (the droplet's passwords): status, verify, destroy and image go without them.
DEPLOY_ONLY_SECRETS = ("DB_PASSWORD", "ADMIN_PASSWD")


def load_deploy(config: str, *, api: bool = False, size: str | None = None,
                lenient: bool = False) -> tuple[Deploy, Secrets]:
    """Settings + secrets, both validated. `api`: the API token and Spaces keys are needed too. `lenient`:
    only those are (status, verify, destroy, image deploy nothing, so no passwords or registry token)."""
    settings = load_settings(config)
    if size:
        settings = with_size(settings, size)
    env = environment(Path(config).resolve().parent / ".env") if Path(config).exists() else environment()
    deploy = to_deploy(settings, env, build_info())
    problems = secret_problems(deploy, env, api=api)
    if lenient:
        problems = [p for p in problems if not p.field.endswith(DEPLOY_ONLY_SECRETS)
                    and deploy.registry.token_env not in p.field]
    if problems:
        raise BadInput(problems, config)
    return deploy, secrets_from(deploy, env)
