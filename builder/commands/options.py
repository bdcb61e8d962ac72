"""What the commands share: the options every command takes, the cloud client, the clock."""

from __future__ import annotations

import argparse
import datetime as dt
from dataclasses import replace
from typing import TypeAlias

from builder.doclient import ApiTarget, Cloud, make_client
from builder.output import Output
from builder.secrets_env import environment

# argparse's type for what add_subparsers() returns has no public name (and is generic only to type checkers).
Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def add_common(p: argparse.ArgumentParser, config: bool = True) -> None:
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    if config:
        p.add_argument("--config", default="deploy.yaml", help="settings file (default: deploy.yaml)")


def cloud_for(out: Output, token: str | None = None) -> Cloud:
    """The DigitalOcean API (or the local cloud) named by the environment, saying waits and retries on `out`.
    `token`: another token than DIGITALOCEAN_TOKEN (the droplet's own, to check what it may do)."""
    target = ApiTarget.from_env(environment())
    if token is not None:
        target = replace(target, token=token)
    return Cloud(make_client(target), say=out.say)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)
