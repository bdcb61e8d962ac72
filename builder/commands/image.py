"""`odoo-droplet image`: bake the snapshot with Packer (agent, Docker, nginx, the Odoo tags pre-loaded)."""

from __future__ import annotations

import argparse
from pathlib import Path

from builder.bundle import snapshot_name
from builder.commands.options import Subparsers, add_common, cloud_for
from builder.doclient import ApiError, Cloud
from builder.errors import EXIT_OK, ImageBuildFailed, PackerError
from builder.inputs import load_deploy
from builder.output import Output
from builder.packer import (
    PackerResult,
    bake,
    build_droplet_tags,
    detect_packer_version,
    failure_summary,
    snapshot_tags,
    uses_plugins,
)
from builder.secrets_env import environment
from firstboot.config import Deploy, Secrets

NAME = "image"


def add_parser(subparsers: Subparsers) -> None:
    p = subparsers.add_parser(NAME, help="bake the snapshot with Packer (agent, Docker, nginx, the Odoo tags pre-loaded)")
    add_common(p)
    p.add_argument("--workdir", help="where the rendered Packer template goes (default .state/packer/<name>)")
    p.add_argument("--if-missing", action="store_true",
                   help="reuse the snapshot of this name (same project, version and commit) when it exists")


def packer_env(deploy: Deploy, secrets: Secrets) -> dict[str, str]:
    """Packer's whole environment: ours, plus the API token and the registry token under its configured name."""
    env = dict(environment())
    env["DIGITALOCEAN_TOKEN"] = secrets.do_token or ""
    if secrets.registry_token:
        env[deploy.registry.token_env] = secrets.registry_token
    return env


def newest_named(cloud: Cloud, name: str) -> dict | None:
    same = [s for s in cloud.snapshots() if s.get("name") == name]
    return max(same, key=lambda s: (s.get("created_at", ""), s.get("id", 0)), default=None)


def build_failed(cloud: Cloud, deploy: Deploy, name: str, result: PackerResult) -> ImageBuildFailed:
    """Packer destroys its build droplet on failure; an interrupted Packer may not: name what is left."""
    build_tag = build_droplet_tags(deploy)[-1]  # this project's build droplets (not other projects')
    left = [int(d["id"]) for d in cloud.droplets(build_tag)]
    return ImageBuildFailed(failure_summary(result), snapshot_name=name, build_tag=build_tag, left=left)


def tag_snapshot(cloud: Cloud, deploy: Deploy, snapshot_id: int, out: Output) -> list[str]:
    """Packer 1.7+ tags the snapshot itself; with 1.6.6 tag it through the API (best effort: said, not fatal)."""
    try:
        plugins = uses_plugins(detect_packer_version())
    except (OSError, ValueError) as err:
        raise PackerError(str(err)) from None
    if plugins:
        return snapshot_tags(deploy)
    tagged: list[str] = []
    for tag in snapshot_tags(deploy):
        try:
            cloud.tag_image(tag, snapshot_id)
            tagged.append(tag)
        except ApiError as err:
            out.say(f"  (snapshot not tagged {tag}: {err})")
    return tagged


def run(args: argparse.Namespace, out: Output) -> int:
    deploy, secrets = load_deploy(args.config, api=True, lenient=True)
    name = snapshot_name(deploy)
    env = packer_env(deploy, secrets)
    workdir = Path(args.workdir or ".state/packer") / name
    # Ask the API once before Packer starts: a wrong token or URL then gets our message (what to fix)
    # in a second, with nothing created, instead of a Packer stack trace after its first call.
    cloud = cloud_for(out)
    cloud.call("check the API token", cloud.client.account.get)
    if args.if_missing:
        # The name carries the commit: a snapshot by this name was baked from this very code (make demo's warm runs).
        found = newest_named(cloud, name)
        if found is not None:
            data = {"ok": True, "snapshot_id": found["id"], "snapshot_name": name, "tags": found.get("tags") or [],
                    "reused": True}
            out.result(data, f"snapshot {name} exists already (same commit): id {found['id']}, not baked again")
            return EXIT_OK
    out.say(f"baking snapshot {name} from {deploy.droplet.base_image} in {deploy.droplet.region} with Packer")
    result = bake(deploy, name, workdir, env=env, on_line=lambda line: out.say(f"  {line}"), redact=secrets.redact)
    if result.returncode != 0 or result.snapshot_id is None:
        raise build_failed(cloud, deploy, name, result)
    tagged = tag_snapshot(cloud, deploy, result.snapshot_id, out)
    data = {"ok": True, "snapshot_id": result.snapshot_id, "snapshot_name": name, "tags": tagged, "reused": False}
    out.result(data, f"snapshot {name} ready: id {result.snapshot_id}" + (f", tags {', '.join(tagged)}" if tagged else ""))
    return EXIT_OK
