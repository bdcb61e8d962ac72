"""The droplet's cloud-init user-data: settings and secrets as 0600 files, then the first-boot agent.

Pure: `render_user_data(deploy, secrets)` returns the `#cloud-config` text. The skeleton (comments,
runcmd) lives in builder/assets/cloudinit/user-data.yaml.tmpl; every value goes through `yaml.safe_dump`, so no
setting or secret (quotes, colons, `#`, newlines in JSON) can change the document's structure.

DigitalOcean refuses user_data over 64 KiB. Past that the file contents are sent gzip+base64
(cloud-init's `encoding: gz+b64`); when even that does not fit, `UserDataTooLarge` says by how much.
"""

from __future__ import annotations

import base64
import gzip
import json
import shlex
from dataclasses import replace
from typing import Any

import yaml

from builder import assets
from firstboot.config import Deploy, Secrets
from firstboot.contract.layout import Layout

USER_DATA_LIMIT = 65536  # bytes; DigitalOcean's limit for a droplet's user_data
TEMPLATE = assets.CLOUDINIT / "user-data.yaml.tmpl"  # package data (builder/assets/)
PLACEHOLDER = "@@WRITE_FILES@@"
# Where cloud-init writes them: the contract's layout, the same paths the agent reads.
DEPLOY_JSON = str(Layout().deploy_json)
SECRETS_ENV = str(Layout().secrets_env)
FIRSTBOOT_UNIT = "odoo-droplet-firstboot.service"


class UserDataTooLarge(ValueError):
    """The rendered user-data does not fit DigitalOcean's limit even compressed."""

    def __init__(self, size: int, limit: int = USER_DATA_LIMIT):
        self.size, self.limit = size, limit
        super().__init__(
            f"user-data is {size} bytes even with its files compressed (gz+b64); DigitalOcean accepts "
            f"at most {limit} bytes (64 KiB). Shorten the settings (the module list is the usual "
            f"culprit) by at least {size - limit} bytes."
        )


def deploy_json(deploy: Deploy) -> str:
    """What the droplet's deploy.json (DEPLOY_JSON) holds: `Deploy.to_dict()`, stable key order."""
    return json.dumps(deploy.to_dict(), indent=2, sort_keys=True) + "\n"


def quote_env_value(value: str) -> str:
    """The value as shell quoting that a plain "strip one pair of surrounding quotes" reader reads
    the same way, whenever such quoting exists: bare when nothing needs quoting, '...' when there is
    no single quote, "..." when there is one but nothing a shell expands inside double quotes.
    Otherwise `shlex.quote` ('"'"' joins), which shells and `shlex.split` read and naive readers do not.
    """
    quoted = shlex.quote(value)
    if quoted == value or "'" not in value:
        return quoted
    if not any(c in value for c in '"\\$`!'):
        return f'"{value}"'
    return quoted


def droplet_secrets(secrets: Secrets) -> Secrets:
    """The secrets as the droplet receives them: its DIGITALOCEAN_TOKEN is the droplet token (DROPLET_TOKEN,
    custom scopes reserved_ip:update, domain:update, droplet:read) when the operator gives one, never both.
    Without one the operator's own token goes, as before (`check-config` warns about that)."""
    return replace(secrets, do_token=secrets.droplet_token or secrets.do_token, droplet_token=None)


def secrets_env(secrets: Secrets) -> str:
    """KEY=VALUE lines, each value shell-quoted (`quote_env_value`).

    Readers: `shlex.split(line)` gives one token `KEY=value` (Python stdlib), and a shell can
    `. secrets.env`. A newline would end the line early, so it is refused rather than mangled.
    """
    lines = []
    for key, value in sorted(secrets.to_env().items()):
        if "\n" in value or "\r" in value or "\0" in value:
            raise ValueError(f"secret {key} contains a line break or NUL; it cannot go in secrets.env")
        lines.append(f"{key}={quote_env_value(value)}")
    return "\n".join(lines) + "\n"


class _Dumper(yaml.SafeDumper):
    """safe_dump, with multi-line strings as literal blocks so the rendered file stays reviewable.

    PyYAML falls back to a quoted scalar by itself whenever a literal block could not represent the
    string exactly (trailing spaces, control characters), so this never trades safety for looks.
    """


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def _file(path: str, content: str, compress: bool) -> dict[str, Any]:
    entry: dict[str, Any] = {"path": path, "owner": "root:root", "permissions": "0600"}
    if compress:
        # mtime=0: the same settings always render the same bytes (reviewable diffs, stable tests).
        packed = gzip.compress(content.encode(), compresslevel=9, mtime=0)
        entry["encoding"] = "gz+b64"
        entry["content"] = base64.b64encode(packed).decode("ascii")
    else:
        entry["content"] = content
    return entry


def _document(deploy: Deploy, secrets: Secrets, compress: bool) -> str:
    files = [
        _file(DEPLOY_JSON, deploy_json(deploy), compress),
        _file(SECRETS_ENV, secrets_env(droplet_secrets(secrets)), compress),
    ]
    block = yaml.dump(
        {"write_files": files},
        Dumper=_Dumper,
        sort_keys=False,
        width=1 << 30,
        allow_unicode=True,
        default_flow_style=False,
    )
    text = TEMPLATE.read_text()
    if PLACEHOLDER not in text:
        raise RuntimeError(f"{TEMPLATE} lost its {PLACEHOLDER} line")
    return text.replace(PLACEHOLDER + "\n", block)


def render_user_data(deploy: Deploy, secrets: Secrets, *, limit: int = USER_DATA_LIMIT) -> str:
    """The `#cloud-config` for one droplet. Pass `secrets.redacted()` for a preview."""
    text = _document(deploy, secrets, compress=False)
    if len(text.encode()) <= limit:
        return text
    text = _document(deploy, secrets, compress=True)
    size = len(text.encode())
    if size > limit:
        raise UserDataTooLarge(size, limit)
    return text
