"""`odoo-droplet destroy ID...`: destroy droplets; the reserved IP's holder only with --force."""

from __future__ import annotations

import argparse

from builder.commands.options import Subparsers, add_common, cloud_for
from builder.errors import EXIT_OK, JsonDict, Refused
from builder.inputs import load_deploy
from builder.output import Output
from builder.reserved_ip import known_reserved_ip, reserved_ip_holder
from builder.spaces import Spaces

NAME = "destroy"


class HolderProtected(Refused):
    """Destroying the reserved IP's holder takes the site down: refused unless --force."""

    def __init__(self, holder: int, ip: str | None):
        self.holder = holder
        super().__init__(f"droplet {holder} holds the reserved IP {ip} and is serving traffic; "
                         "destroying it takes the site down.", "Use --force if that is what you want.")

    def as_json(self) -> JsonDict:
        return {"ok": False, "refused": self.holder}


def add_parser(subparsers: Subparsers) -> None:
    p = subparsers.add_parser(NAME, help="destroy droplets (refuses the reserved IP holder without --force)")
    add_common(p)
    p.add_argument("droplet", nargs="+", type=int, help="droplet id(s)")
    p.add_argument("--force", action="store_true")


def run(args: argparse.Namespace, out: Output) -> int:
    deploy, secrets = load_deploy(args.config, api=True, lenient=True)
    cloud = cloud_for(out)
    spaces = Spaces.for_deploy(deploy, secrets)
    ids: list[int] = list(args.droplet)
    rip = known_reserved_ip(deploy, spaces)
    holder = reserved_ip_holder(cloud, rip)
    if holder is not None and holder in ids and not args.force:
        raise HolderProtected(holder, rip)
    for droplet_id in ids:
        cloud.droplet(droplet_id)  # 404 with a clear message before anything is deleted
    for droplet_id in ids:
        cloud.delete_droplet(droplet_id)
        out.say(f"droplet {droplet_id} destroyed")
    out.result({"ok": True, "destroyed": ids})
    return EXIT_OK
