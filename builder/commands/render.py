"""`odoo-droplet render`: write what would be deployed, for review (secrets redacted)."""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

from builder.bundle import render_bundle
from builder.commands.options import Subparsers, add_common
from builder.errors import EXIT_OK, BadInput
from builder.inputs import load_deploy
from builder.output import Output
from builder.packer import detect_packer_version
from builder.settings import Problem
from builder.userdata import UserDataTooLarge

NAME = "render"
# No Packer here: preview the current plugin-based template.
ASSUMED_PACKER_VERSION = (1, 11, 2)


def add_parser(subparsers: Subparsers) -> None:
    p = subparsers.add_parser(NAME, help="write what would be deployed, for review (secrets redacted)")
    add_common(p)
    p.add_argument("--size", help="preview on another droplet size slug")
    p.add_argument("--out", required=True, help="output directory")


def write_tree(files: dict[str, str], out_dir: Path) -> None:
    """Write all files or none: into a temporary sibling first, then moved into place."""
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        for rel, content in files.items():
            target = staging / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(content)
        if out_dir.exists():
            shutil.rmtree(out_dir)
        staging.rename(out_dir)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


def run(args: argparse.Namespace, out: Output) -> int:
    deploy, secrets = load_deploy(args.config, size=args.size)
    try:
        version = detect_packer_version()
    except (OSError, ValueError):
        version = ASSUMED_PACKER_VERSION
    try:
        files = render_bundle(deploy, secrets, version)
    except UserDataTooLarge as err:
        raise BadInput([Problem("user-data", "(rendered)", str(err))], args.config) from None
    out_dir = Path(args.out)
    write_tree(files, out_dir)
    out.result({"ok": True, "out": str(out_dir), "files": sorted(files)},
               f"rendered {len(files)} files into {out_dir}/ (secrets shown as <redacted>)")
    return EXIT_OK
