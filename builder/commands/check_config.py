"""`odoo-droplet check-config [FILE]`: validate a settings file and the secrets it needs."""

from __future__ import annotations

import argparse

from builder.commands.options import Subparsers, add_common
from builder.errors import EXIT_OK
from builder.inputs import load_deploy
from builder.output import Output

NAME = "check-config"


def add_parser(subparsers: Subparsers) -> None:
    p = subparsers.add_parser(NAME, help="validate a settings file and the secrets it needs")
    p.add_argument("file", nargs="?", default=None)
    add_common(p)


def run(args: argparse.Namespace, out: Output) -> int:
    config = args.file or args.config
    deploy, _ = load_deploy(config)
    out.result({"ok": True, "config": config, "project": deploy.project},
               f"{config}: valid (project {deploy.project}, {deploy.droplet.size} in {deploy.droplet.region})")
    return EXIT_OK
