"""The commands that talk to DigitalOcean (or the local cloud): droplet, verify, status, destroy, image."""

from __future__ import annotations

import argparse
import datetime as dt
import json
from pathlib import Path

from builder.deploy import Deployer, DeployResult, exit_code
from builder.doclient import ApiError, ApiTarget, Cloud, ip_of, make_client
from builder.output import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK, Output
from builder.progress import gate_table
from builder.secrets_env import environment
from builder.spaces import Spaces, SpacesError
from firstboot.config import Deploy, Secrets

RESERVED_IP_STATE = "state/reserved_ip.json"


def cloud_for(out: Output) -> Cloud:
    target = ApiTarget.from_env(environment())
    return Cloud(make_client(target), say=out.say)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def known_reserved_ip(deploy: Deploy, spaces: Spaces | None) -> str | None:
    if deploy.reserved_ip.mode == "address":
        return deploy.reserved_ip.address
    if deploy.reserved_ip.mode == "auto" and spaces is not None:
        recorded = spaces.get_json(RESERVED_IP_STATE) or {}
        return recorded.get("ip")
    return None


def cmd_droplet(args: argparse.Namespace, out: Output, deploy: Deploy, secrets: Secrets) -> int:
    from builder.userdata import render_user_data

    if args.tag:
        deploy = deploy.with_tag(args.tag)
    # The API first: a wrong token gets its message before anything (a Spaces bucket) is created.
    cloud = cloud_for(out)
    cloud.call("check the API token", cloud.client.account.get)
    spaces = Spaces.for_deploy(deploy, secrets) if not args.no_user_data else None
    if spaces is not None:
        spaces.ensure_bucket()
    deployer = Deployer(cloud, spaces, out.say)
    out.say(f"deploying {deploy.image_ref()} to a new {deploy.droplet.size} droplet in {deploy.droplet.region}")
    result = deployer.run(deploy, secrets, snapshot=args.snapshot, user_data=not args.no_user_data,
                          render_user_data=render_user_data, now=utcnow())
    if args.no_user_data:
        deploy = Deploy(project=deploy.project)  # a console droplet: no cutover wanted
    code = exit_code(result, deploy)
    lines = [
        "",
        f"deploy {result.deploy_id}: {result.status.upper()}" + (f" — {result.error}" if result.error else ""),
        f"  droplet   {result.droplet_id} at {result.address}",
        f"  url       {result.url}",
        f"  cutover   {cutover_line(result)}",
        f"  proofs    {result.proofs or '/var/lib/odoo-droplet/proofs/ on the droplet'}",
    ]
    if result.gates:
        lines += ["", *gate_table({"gates": result.gates})]
    out.result(result.as_json(), "\n".join(lines))
    return code


def cutover_line(result: DeployResult) -> str:
    if result.cutover:
        return f"reserved IP {result.reserved_ip} now points here" if result.reserved_ip else "DNS points here"
    if not result.reserved_ip:
        return "not done"
    where = f"droplet {result.reserved_ip_holder}" if result.reserved_ip_holder else "no droplet"
    return f"not done: reserved IP {result.reserved_ip} untouched (points to {where})"


def cmd_verify(args: argparse.Namespace, out: Output, deploy: Deploy, secrets: Secrets) -> int:
    from builder.verify import EdgeTarget, edge_checks, verify_report
    from firstboot.probes import LoopbackHttp

    spaces = Spaces.for_deploy(deploy, secrets)
    connect = args.address or known_reserved_ip(deploy, spaces)
    if not connect:
        out.error("nothing to verify: give --address, or configure a reserved IP (settings reserved_ip)")
        return EXIT_BAD_INPUT
    target = EdgeTarget(connect, deploy.edge.domain or connect)
    results = edge_checks(deploy, target, LoopbackHttp(), timeout=deploy.gates.probe_timeout_seconds)
    report = verify_report(deploy, target, results, utcnow())
    local = Path(".state/proofs") / report["verify_id"] / "verify.json"  # git-ignored, beside the deploy journal
    local.parent.mkdir(parents=True, exist_ok=True)
    local.write_text(json.dumps(report, indent=2))
    report["proof"] = str(local)
    if spaces is not None:
        try:
            spaces.put_json(f"proofs/{report['verify_id']}/verify.json", report)
            report["proof"] = spaces.url(f"proofs/{report['verify_id']}/verify.json")
        except SpacesError as err:
            out.say(f"  (proof kept locally only: {err})")
    human = "\n".join([f"verify {target.base} via {connect}: {'PASS' if report['overall'] else 'FAIL'}",
                       *gate_table(report), f"  proof: {report['proof']}"])
    out.result(report, human)
    return EXIT_OK if report["overall"] else EXIT_FAILED


def reserved_ip_holder(cloud: Cloud, ip: str | None) -> int | None:
    """The id of the droplet the reserved IP points at; None when unassigned, unknown or not configured."""
    if not ip:
        return None
    try:
        return (cloud.reserved_ip(ip).get("droplet") or {}).get("id")
    except ApiError as err:
        if err.status != 404:
            raise
        return None


def cmd_status(args: argparse.Namespace, out: Output, deploy: Deploy, secrets: Secrets) -> int:
    cloud = cloud_for(out)
    spaces = Spaces.for_deploy(deploy, secrets)
    droplets = cloud.droplets(deploy.project)
    snaps = [s for s in cloud.snapshots() if str(s.get("name", "")).startswith(f"{deploy.project}-")]
    rip = known_reserved_ip(deploy, spaces)
    holder = reserved_ip_holder(cloud, rip)
    proofs: list[str] = []
    if spaces is not None:
        try:
            ids = sorted({k.split("/")[1] for k in spaces.keys("proofs/") if k.count("/") >= 2})
            proofs = ids[-5:]
        except SpacesError as err:
            out.say(f"  (Spaces: {err})")
    data = {
        "droplets": [{"id": d["id"], "name": d["name"], "status": d["status"], "ip": ip_of(d),
                      "holds_reserved_ip": d["id"] == holder} for d in droplets],
        "snapshots": [{"id": s["id"], "name": s["name"], "created_at": s.get("created_at")} for s in snaps],
        "reserved_ip": rip,
        "reserved_ip_droplet": holder,
        "last_proofs": [spaces.url(f"proofs/{p}/") for p in proofs] if spaces else [],
    }
    lines = [f"project {deploy.project}", "droplets:"]
    lines += [f"  {d['id']:>8} {d['name']:<32} {d['status']:<8} {d['ip'] or '-':<15}"
              + ("  <- reserved IP" if d["holds_reserved_ip"] else "") for d in data["droplets"]] or ["  (none)"]
    lines += ["snapshots:"] + ([f"  {s['id']:>8} {s['name']}" for s in data["snapshots"]] or ["  (none)"])
    lines += [f"reserved IP: {rip or '(none)'}" + (f" -> droplet {holder}" if holder else " (unassigned)" if rip else "")]
    lines += ["last proofs:"] + ([f"  {p}" for p in data["last_proofs"]] or ["  (none)"])
    out.result(data, "\n".join(lines))
    return EXIT_OK


def cmd_destroy(args: argparse.Namespace, out: Output, deploy: Deploy, secrets: Secrets) -> int:
    cloud = cloud_for(out)
    spaces = Spaces.for_deploy(deploy, secrets)
    ids = [int(i) for i in args.droplet]
    rip = known_reserved_ip(deploy, spaces)
    holder = reserved_ip_holder(cloud, rip)
    if holder in ids and not args.force:
        out.error(f"droplet {holder} holds the reserved IP {rip} and is serving traffic; "
                  "destroying it takes the site down. Use --force if that is what you want.")
        out.result({"ok": False, "refused": holder})
        return EXIT_BAD_INPUT
    for droplet_id in ids:
        cloud.droplet(droplet_id)  # 404 with a clear message before anything is deleted
    for droplet_id in ids:
        cloud.delete_droplet(droplet_id)
        out.say(f"droplet {droplet_id} destroyed")
    out.result({"ok": True, "destroyed": ids})
    return EXIT_OK


def cmd_image(args: argparse.Namespace, out: Output, deploy: Deploy, secrets: Secrets) -> int:
    from builder.bundle import snapshot_name
    from builder.packer import (
        PackerError,
        bake,
        build_droplet_tags,
        detect_packer_version,
        failure_summary,
        snapshot_tags,
        uses_plugins,
    )

    name = snapshot_name(deploy)
    env = dict(environment())
    env["DIGITALOCEAN_TOKEN"] = secrets.do_token or ""
    if secrets.registry_token:
        env[deploy.registry.token_env] = secrets.registry_token
    workdir = Path(args.workdir or ".state/packer") / name
    # Ask the API once before Packer starts: a wrong token or URL then gets our message (what to fix)
    # in a second, with nothing created, instead of a Packer stack trace after its first call.
    cloud = cloud_for(out)
    cloud.call("check the API token", cloud.client.account.get)
    if args.if_missing:
        # The name carries the commit: a snapshot by this name was baked from this very code (make demo's warm runs).
        same = [s for s in cloud.snapshots() if s.get("name") == name]
        found = max(same, key=lambda s: (s.get("created_at", ""), s.get("id", 0)), default=None)  # the newest
        if found is not None:
            data = {"ok": True, "snapshot_id": found["id"], "snapshot_name": name, "tags": found.get("tags") or [],
                    "reused": True}
            out.result(data, f"snapshot {name} exists already (same commit): id {found['id']}, not baked again")
            return EXIT_OK
    out.say(f"baking snapshot {name} from {deploy.droplet.base_image} in {deploy.droplet.region} with Packer")
    try:
        result = bake(deploy, name, workdir, env=env, on_line=lambda line: out.say(f"  {line}"),
                      redact=secrets.redact)
    except (PackerError, OSError) as err:
        out.error(f"packer: {err}")
        out.result({"ok": False, "error": str(err)})
        return EXIT_FAILED
    if result.returncode != 0 or result.snapshot_id is None:
        why = failure_summary(result)
        out.error(f"the image build failed: {why}")
        # Packer destroys its build droplet on failure; an interrupted Packer may not: say so, with the ids.
        build_tag = build_droplet_tags(deploy)[-1]  # this project's build droplets (not other projects')
        left = [d["id"] for d in cloud.droplets(build_tag)]
        if left:
            out.error(f"droplets tagged {build_tag} still exist: {', '.join(map(str, left))} (an interrupted "
                      f"build leaves its droplet; `odoo-droplet destroy {' '.join(map(str, left))}` removes it)")
        out.result({"ok": False, "error": why, "snapshot_name": name, "build_droplets_left": left})
        return EXIT_FAILED
    tagged: list[str] = []
    if not uses_plugins(detect_packer_version()):
        for tag in snapshot_tags(deploy):
            try:
                cloud.tag_image(tag, result.snapshot_id)
                tagged.append(tag)
            except ApiError as err:
                out.say(f"  (snapshot not tagged {tag}: {err})")
    else:
        tagged = snapshot_tags(deploy)
    data = {"ok": True, "snapshot_id": result.snapshot_id, "snapshot_name": name, "tags": tagged, "reused": False}
    out.result(data, f"snapshot {name} ready: id {result.snapshot_id}" + (f", tags {', '.join(tagged)}" if tagged else ""))
    return EXIT_OK


def add_parsers(sub: argparse._SubParsersAction, add_common) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("droplet", help="create a droplet from the snapshot and follow its first boot")
    add_common(p)
    p.add_argument("--tag", help="deploy this Odoo image tag instead of the one in the settings")
    p.add_argument("--snapshot", help="snapshot name or id (default: the newest {project}-*)")
    p.add_argument("--no-user-data", action="store_true", help='as "create droplet from snapshot" in the console')

    p = sub.add_parser("image", help="bake the snapshot with Packer (agent, Docker, nginx, the Odoo tags pre-loaded)")
    add_common(p)
    p.add_argument("--workdir", help="where the rendered Packer template goes (default .state/packer/<name>)")
    p.add_argument("--if-missing", action="store_true",
                   help="reuse the snapshot of this name (same project, version and commit) when it exists")

    p = sub.add_parser("verify", help="run the edge gates from outside and write a proof")
    add_common(p)
    p.add_argument("--address", help="connect here instead of the reserved IP")

    p = sub.add_parser("status", help="droplets, snapshots, the reserved IP holder, the last proofs")
    add_common(p)

    p = sub.add_parser("destroy", help="destroy droplets (refuses the reserved IP holder without --force)")
    add_common(p)
    p.add_argument("droplet", nargs="+", help="droplet id(s)")
    p.add_argument("--force", action="store_true")


API_COMMANDS = {"image": cmd_image, "droplet": cmd_droplet, "verify": cmd_verify, "status": cmd_status, "destroy": cmd_destroy}
