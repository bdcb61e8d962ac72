"""`odoo-droplet status`: the project's droplets, snapshots, the reserved IP holder and the last proofs."""

from __future__ import annotations

import argparse
from typing import Any

from builder.commands.options import Subparsers, add_common, cloud_for
from builder.doclient import ip_of
from builder.errors import EXIT_OK, SpacesError
from builder.inputs import load_deploy
from builder.output import Output
from builder.reserved_ip import known_reserved_ip, reserved_ip_holder
from builder.spaces import Spaces
from firstboot.contract.keys import PROOFS_PREFIX, proof_ids, proofs_dir_key

NAME = "status"
LAST_PROOFS = 5


def add_parser(subparsers: Subparsers) -> None:
    p = subparsers.add_parser(NAME, help="droplets, snapshots, the reserved IP holder, the last proofs")
    add_common(p)


def status_lines(project: str, data: dict[str, Any]) -> list[str]:
    rip, holder = data["reserved_ip"], data["reserved_ip_droplet"]
    lines = [f"project {project}", "droplets:"]
    lines += [f"  {d['id']:>8} {d['name']:<32} {d['status']:<8} {d['ip'] or '-':<15}"
              + ("  <- reserved IP" if d["holds_reserved_ip"] else "") for d in data["droplets"]] or ["  (none)"]
    lines += ["snapshots:"] + ([f"  {s['id']:>8} {s['name']}" for s in data["snapshots"]] or ["  (none)"])
    lines += [f"reserved IP: {rip or '(none)'}" + (f" -> droplet {holder}" if holder else " (unassigned)" if rip else "")]
    lines += ["last proofs:"] + ([f"  {p}" for p in data["last_proofs"]] or ["  (none)"])
    return lines


def run(args: argparse.Namespace, out: Output) -> int:
    deploy, secrets = load_deploy(args.config, api=True, lenient=True)
    cloud = cloud_for(out)
    spaces = Spaces.for_deploy(deploy, secrets)
    droplets = cloud.droplets(deploy.project)
    snaps = [s for s in cloud.snapshots() if str(s.get("name", "")).startswith(f"{deploy.project}-")]
    rip = known_reserved_ip(deploy, spaces)
    holder = reserved_ip_holder(cloud, rip)
    proofs: list[str] = []
    if spaces is not None:
        try:
            proofs = proof_ids(spaces.keys(PROOFS_PREFIX))[-LAST_PROOFS:]
        except SpacesError as err:
            out.say(f"  (Spaces: {err})")
    data = {
        "droplets": [{"id": d["id"], "name": d["name"], "status": d["status"], "ip": ip_of(d),
                      "holds_reserved_ip": d["id"] == holder} for d in droplets],
        "snapshots": [{"id": s["id"], "name": s["name"], "created_at": s.get("created_at")} for s in snaps],
        "reserved_ip": rip,
        "reserved_ip_droplet": holder,
        "last_proofs": [spaces.url(proofs_dir_key(p)) for p in proofs] if spaces else [],
    }
    out.result(data, "\n".join(status_lines(deploy.project, data)))
    return EXIT_OK
