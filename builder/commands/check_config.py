"""`odoo-droplet check-config [FILE]`: validate a settings file and the secrets it needs."""

from __future__ import annotations

import argparse
from pathlib import Path

from builder.commands.options import Subparsers, add_common
from builder.errors import EXIT_OK
from builder.inputs import load_deploy
from builder.output import Output
from builder.secrets_env import environment, secret_warnings

NAME = "check-config"


def add_parser(subparsers: Subparsers) -> None:
    p = subparsers.add_parser(NAME, help="validate a settings file and the secrets it needs")
    p.add_argument("file", nargs="?", default=None)
    add_common(p)


def run(args: argparse.Namespace, out: Output) -> int:
    config = args.file or args.config
    deploy, _ = load_deploy(config)
    env = environment(Path(config).resolve().parent / ".env") if Path(config).exists() else environment()
    warnings = secret_warnings(deploy, env)
    for warning in warnings:
        out.say(f"warning: {warning}")
    out.result({"ok": True, "config": config, "project": deploy.project, "warnings": warnings},
               f"{config}: valid (project {deploy.project}, {deploy.droplet.size} in {deploy.droplet.region})")
    return EXIT_OK
