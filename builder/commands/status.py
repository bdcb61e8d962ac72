"""`odoo-droplet status`: the project's droplets, snapshots, the reserved IP holder, the last proofs, where
the DNS record stands (exit 1 while it failed to move), and the backups: the newest set in Spaces, the newest
one a restore drill verified (with their ages), and a backup the serving droplet still holds as `pending upload`
(its `last.json`, read over the SSH channel when a key is at hand; status never fails for want of it)."""

from __future__ import annotations

import argparse
import datetime as dt
import json
from typing import Any

from builder.commands.options import Subparsers, add_common, cloud_for
from builder.doclient import ip_of
from builder.errors import EXIT_FAILED, EXIT_OK, OperatorError, SpacesError
from builder.inputs import load_deploy
from builder.output import Output
from builder.reserved_ip import known_reserved_ip, reserved_ip_holder
from builder.spaces import Spaces
from firstboot.backup.inventory import listing
from firstboot.contract.keys import LAST_GOOD_KEY, PROOFS_PREFIX, proof_ids, proof_key, proofs_dir_key
from firstboot.contract.layout import Layout
from firstboot.plans.dns import dns_is_moved, dns_line
from firstboot.proof import DEPLOY_STATUS

NAME = "status"
LAST_PROOFS = 5
LAST_JSON_TIMEOUT = 20.0  # reading one small file over SSH; status stays quick when the droplet does not answer
PENDING_UPLOAD = "pending upload"


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
    lines += backup_lines(data.get("backups"))
    if data.get("dns_wanted"):
        lines += [f"dns: {dns_line(data['dns']) if data['dns'] else '(no cutover recorded yet)'}"
                  + (f"  [deploy {data['dns_deploy']}]" if data.get("dns_deploy") else "")]
    return lines


def age_text(when: str | None, now: dt.datetime) -> str | None:
    """`2026-12-02T03:00:00Z` -> `3h ago` (`45m`, `2d`), None when there is no time or it does not parse."""
    if not when:
        return None
    try:
        then = dt.datetime.strptime(when, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)
    except ValueError:
        return None
    seconds = max(0, int((now - then).total_seconds()))
    if seconds < 3600:
        return f"{seconds // 60}m ago"
    if seconds < 2 * 86400:
        return f"{seconds // 3600}h ago"
    return f"{seconds // 86400}d ago"


def backups_summary(entries: list[dict[str, object]], droplet_last: dict[str, Any] | None,
                    now: dt.datetime) -> dict[str, Any]:
    """From `backups`' list (newest first) and the serving droplet's last.json: the last backup, the last
    verified one, and the one waiting on the droplet for Spaces (pending upload), each with its age."""
    last = entries[0] if entries else None
    verified = next((e for e in entries if e.get("verified")), None)
    pending = None
    if droplet_last and droplet_last.get("status") == PENDING_UPLOAD and droplet_last.get("backup_id"):
        bid = str(droplet_last["backup_id"])
        pending = {"id": bid, "location": droplet_last.get("location"),
                   "age": age_text(f"{bid[:4]}-{bid[4:6]}-{bid[6:8]}T{bid[9:11]}:{bid[11:13]}:{bid[13:15]}Z", now)}
    return {
        "last": None if last is None else {"id": last["id"], "kind": last["kind"], "status": last["status"],
                                          "created": last["created"], "age": age_text(str(last["created"]), now)},
        "last_verified": None if verified is None else {"id": verified["id"], "verified": verified["verified"],
                                                       "age": age_text(str(verified["verified"]), now)},
        "pending_upload": pending,
        "droplet_last": droplet_last,
    }


def backup_lines(b: dict[str, Any] | None) -> list[str]:
    if b is None:
        return []
    last, verified, pending = b["last"], b["last_verified"], b["pending_upload"]
    lines = ["backups:"]
    if pending:
        lines.append(f"  pending upload: {pending['id']} ({pending['age'] or '?'}) waits on the droplet for Spaces "
                     f"({pending['location']})")
    lines.append(f"  last backup:   {last['id']} {last['status']} ({last['age'] or '?'})" if last
                 else "  last backup:   (none in Spaces)")
    lines.append(f"  last verified: {verified['id']} (drill passed {verified['age'] or '?'})" if verified
                 else "  last verified: never (odoo-droplet backups verify)")
    if b.get("note"):
        lines.append(f"  ({b['note']})")
    return lines


def read_droplet_last(cloud: Any, deploy: Any, spaces: Spaces | None, holder: int | None
                      ) -> tuple[dict[str, Any] | None, str | None]:
    """The serving droplet's backups/last.json over the SSH channel: (document, None), or (None, why not).
    No SSH key, no host keys published, the droplet not answering: said, never an error of `status`."""
    if holder is None:
        return None, None
    from builder.commands import remote  # the channel (tests replace remote.open_channel)

    try:
        channel = remote.open_channel(cloud, deploy, spaces, holder)
        proc = channel.run(("cat", "--", str(Layout().backup_last_json)), timeout=LAST_JSON_TIMEOUT)
    except OperatorError as e:
        return None, f"the droplet's own backup record not read: {e.message}"
    if proc.returncode != 0:
        return None, None  # no backup taken on that droplet yet
    try:
        doc = json.loads(proc.stdout)
    except ValueError:
        return None, "the droplet's last.json does not parse"
    return (doc, None) if isinstance(doc, dict) else (None, "the droplet's last.json is not an object")


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
    backups: dict[str, Any] | None = None
    if spaces is not None and deploy.postgres.mode == "selfhost":
        from builder.commands.backups import read_sets  # the list `odoo-droplet backups` shows

        entries: list[dict[str, object]] = []
        note = None
        try:
            entries = listing(read_sets(spaces, deploy.odoo.database))
        except SpacesError as err:
            note = f"backups not read from Spaces: {err}"
        droplet_last, why = read_droplet_last(cloud, deploy, spaces, holder)
        backups = backups_summary(entries, droplet_last, dt.datetime.now(dt.UTC))
        backups["note"] = note or why
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
        "backups": backups,
    }
    out.result(data, "\n".join(status_lines(deploy.project, data)))
    # A record that did not move is a failure the operator must see in the exit status too (README: exit codes).
    return EXIT_FAILED if dns is not None and not dns_is_moved(dns) else EXIT_OK
