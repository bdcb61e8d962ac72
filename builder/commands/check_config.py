"""`odoo-droplet check-config [FILE] [--online]`: validate a settings file and the secrets it needs; with
`--online`, also what only the API can tell (the token, the DNS zone and its scopes), creating nothing."""

from __future__ import annotations

import argparse
from pathlib import Path

from builder.commands.droplet import preflight_dns
from builder.commands.options import Subparsers, add_common, cloud_for
from builder.errors import EXIT_OK
from builder.inputs import load_deploy
from builder.output import Output
from builder.secrets_env import environment, secret_warnings

NAME = "check-config"


def add_parser(subparsers: Subparsers) -> None:
    p = subparsers.add_parser(NAME, help="validate a settings file and the secrets it needs")
    p.add_argument("file", nargs="?", default=None)
    p.add_argument("--online", action="store_true",
                   help="also ask the API: the token works, and the DNS zone (dns.domain) exists and the "
                        "droplet's token may write its record (creates nothing)")
    add_common(p)


def run(args: argparse.Namespace, out: Output) -> int:
    config = args.file or args.config
    deploy, secrets = load_deploy(config, api=args.online)
    env = environment(Path(config).resolve().parent / ".env") if Path(config).exists() else environment()
    warnings = secret_warnings(deploy, env)
    for warning in warnings:
        out.say(f"warning: {warning}")
    checked: list[str] = []
    if args.online:
        cloud = cloud_for(out)
        cloud.call("check the API token", cloud.client.account.get)
        checked.append("the API token works")
        if deploy.dns is not None:
            checked.append(preflight_dns(out, cloud, deploy.dns, secrets))
    for line in checked:
        out.say(f"  {line}")
    out.result({"ok": True, "config": config, "project": deploy.project, "warnings": warnings, "online": checked},
               f"{config}: valid (project {deploy.project}, {deploy.droplet.size} in {deploy.droplet.region})")
    return EXIT_OK
