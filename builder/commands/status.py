"""`odoo-droplet status`: the project's droplets, snapshots, the reserved IP holder, the last proofs, and where
the DNS record stands (exit 1 while it failed to move)."""

from __future__ import annotations

import argparse
from typing import Any

from builder.commands.options import Subparsers, add_common, cloud_for
from builder.doclient import ip_of
from builder.errors import EXIT_FAILED, EXIT_OK, SpacesError
from builder.inputs import load_deploy
from builder.output import Output
from builder.reserved_ip import known_reserved_ip, reserved_ip_holder
from builder.spaces import Spaces
from firstboot.contract.keys import LAST_GOOD_KEY, PROOFS_PREFIX, proof_ids, proof_key, proofs_dir_key
from firstboot.plans.dns import dns_is_moved, dns_line
from firstboot.proof import DEPLOY_STATUS

NAME = "status"
LAST_PROOFS = 5


def add_parser(subparsers: Subparsers) -> None:
    p = subparsers.add_parser(NAME, help="droplets, snapshots, the reserved IP holder, the last proofs, the DNS record")
    add_common(p)


def status_lines(project: str, data: dict[str, Any]) -> list[str]:
    rip, holder = data["reserved_ip"], data["reserved_ip_droplet"]
    lines = [f"project {project}", "droplets:"]
    lines += [f"  {d['id']:>8} {d['name']:<32} {d['status']:<8} {d['ip'] or '-':<15}"
              + ("  <- reserved IP" if d["holds_reserved_ip"] else "") for d in data["droplets"]] or ["  (none)"]
    lines += ["snapshots:"] + ([f"  {s['id']:>8} {s['name']}" for s in data["snapshots"]] or ["  (none)"])
    lines += [f"reserved IP: {rip or '(none)'}" + (f" -> droplet {holder}" if holder else " (unassigned)" if rip else "")]
    lines += ["last proofs:"] + ([f"  {p}" for p in data["last_proofs"]] or ["  (none)"])
    if data.get("dns_wanted"):
        lines += [f"dns: {dns_line(data['dns']) if data['dns'] else '(no cutover recorded yet)'}"
                  + (f"  [deploy {data['dns_deploy']}]" if data.get("dns_deploy") else "")]
    return lines


def last_dns(spaces: Spaces) -> tuple[str | None, dict[str, Any] | None]:
    """The `cutover.dns` of the deploy state/last_good.json names (the one serving): (deploy id, dns). The
    droplet rewrites that proof when its publish timer finally moves a record that failed at cutover."""
    last_good = spaces.get_json(LAST_GOOD_KEY) or {}
    deploy_id = last_good.get("deploy_id")
    if not isinstance(deploy_id, str):
        return None, None
    proof = spaces.get_json(proof_key(deploy_id, DEPLOY_STATUS)) or {}
    dns = (proof.get("cutover") or {}).get("dns")
    return deploy_id, dns if isinstance(dns, dict) else None


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
    dns_deploy, dns = None, None
    if deploy.dns is not None and spaces is not None:
        try:
            dns_deploy, dns = last_dns(spaces)
        except SpacesError as err:
            out.say(f"  (Spaces: {err})")
    data = {
        "droplets": [{"id": d["id"], "name": d["name"], "status": d["status"], "ip": ip_of(d),
                      "holds_reserved_ip": d["id"] == holder} for d in droplets],
        "snapshots": [{"id": s["id"], "name": s["name"], "created_at": s.get("created_at")} for s in snaps],
        "reserved_ip": rip,
        "reserved_ip_droplet": holder,
        "last_proofs": [spaces.url(proofs_dir_key(p)) for p in proofs] if spaces else [],
        "dns_wanted": deploy.dns is not None,
        "dns": dns,
        "dns_deploy": dns_deploy,
    }
    out.result(data, "\n".join(status_lines(deploy.project, data)))
    # A record that did not move is a failure the operator must see in the exit status too (README: exit codes).
    return EXIT_FAILED if dns is not None and not dns_is_moved(dns) else EXIT_OK
