"""`odoo-droplet droplet`: create a droplet from the snapshot and follow its first boot to a verdict."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from builder.commands.options import Subparsers, add_common, cloud_for, utcnow
from builder.deploy import Deployer, DeployResult, admin_password, exit_code
from builder.dns_zone import check_dns_zone
from builder.doclient import Cloud
from builder.errors import BadInput
from builder.inputs import load_deploy
from builder.output import Output
from builder.progress import gate_table
from builder.settings import Problem
from builder.spaces import Spaces
from builder.userdata import UserDataTooLarge, render_user_data
from firstboot.config import Deploy, DnsSpec, Secrets
from firstboot.contract.layout import Layout
from firstboot.plans.dns import dns_line

NAME = "droplet"


def add_parser(subparsers: Subparsers) -> None:
    p = subparsers.add_parser(NAME, help="create a droplet from the snapshot and follow its first boot")
    add_common(p)
    p.add_argument("--tag", help="deploy this Odoo image tag instead of the one in the settings")
    p.add_argument("--snapshot", help="snapshot name or id (default: the newest {project}-*)")
    p.add_argument("--no-user-data", action="store_true", help='as "create droplet from snapshot" in the console')


def user_data_for(config: str) -> Callable[[Deploy, Secrets], str]:
    """render_user_data, with a too-large result said as a settings problem (as `render` says it)."""

    def render(deploy: Deploy, secrets: Secrets) -> str:
        try:
            return render_user_data(deploy, secrets)
        except UserDataTooLarge as err:
            raise BadInput([Problem("user-data", "(rendered)", str(err))], config) from None

    return render


def preflight_dns(out: Output, cloud: Cloud, dns: DnsSpec, secrets: Secrets) -> str:
    """The zone exists and the token the droplet gets may write its record (builder/dns_zone.py), else exit 2."""
    own = secrets.droplet_token if secrets.droplet_token and secrets.droplet_token != secrets.do_token else None
    writer = cloud_for(out, own) if own else None
    return check_dns_zone(cloud, dns, writer=writer, writer_token="DROPLET_TOKEN" if own else "DIGITALOCEAN_TOKEN")


def cutover_line(result: DeployResult) -> str:
    if result.cutover:
        return f"reserved IP {result.reserved_ip} now points here" if result.reserved_ip else "DNS points here"
    if not result.reserved_ip:
        return "not done"
    where = f"droplet {result.reserved_ip_holder}" if result.reserved_ip_holder else "no droplet"
    return f"not done: reserved IP {result.reserved_ip} untouched (points to {where})"


def summary(result: DeployResult) -> str:
    """The deploy's verdict for the operator; `dns` FAILED also means exit 1 (exit_code)."""
    lines = [
        "",
        f"deploy {result.deploy_id}: {result.status.upper()}" + (f" — {result.error}" if result.error else ""),
        f"  droplet   {result.droplet_id} at {result.address}",
        f"  url       {result.url}",
        f"  cutover   {cutover_line(result)}",
        *([f"  dns       {dns_line(result.dns) if result.dns else 'not moved (the cutover did not reach it)'}"]
          if result.dns or result.dns_wanted else []),
        f"  proofs    {result.proofs or f'{Layout().proofs_dir}/ on the droplet'}",
    ]
    if result.gates:
        lines += ["", *gate_table({"gates": result.gates})]
    return "\n".join(lines)


def run(args: argparse.Namespace, out: Output) -> int:
    # A console droplet (no user-data) gets no secrets: only the API token and the Spaces keys are needed.
    deploy, secrets = load_deploy(args.config, api=True, lenient=args.no_user_data)
    if args.tag:
        deploy = deploy.with_tag(args.tag)
    if not args.no_user_data:
        # No default credential survives a deploy: Odoo's `admin` gets this password at install.
        admin = admin_password(secrets, Path(args.config).resolve().parent)
        secrets = admin.secrets
        if admin.path is not None:
            verb = "generated into" if admin.created else "kept in"
            out.say(f"Odoo admin password: {verb} {admin.path} (0600, git-ignored; login "
                    f"{deploy.odoo.admin_email or 'admin'}); set ODOO_ADMIN_PASSWORD to choose your own")
    # The API first: a wrong token gets its message before anything (a Spaces bucket) is created.
    cloud = cloud_for(out)
    cloud.call("check the API token", cloud.client.account.get)
    if deploy.dns is not None and not args.no_user_data:
        out.say(preflight_dns(out, cloud, deploy.dns, secrets))
    spaces = Spaces.for_deploy(deploy, secrets) if not args.no_user_data else None
    if spaces is not None:
        spaces.ensure_bucket()
    deployer = Deployer(cloud, spaces, out.say)
    out.say(f"deploying {deploy.image_ref()} to a new {deploy.droplet.size} droplet in {deploy.droplet.region}")
    result = deployer.run(deploy, secrets, snapshot=args.snapshot, user_data=not args.no_user_data,
                          render_user_data=user_data_for(args.config), now=utcnow())
    if args.no_user_data:
        deploy = Deploy(project=deploy.project)  # a console droplet: no cutover wanted
    out.result(result.as_json(), summary(result))
    return exit_code(result, deploy)
