"""`odoo-droplet backups [--json]`: the deploy's backups as Spaces holds them, newest first.

Read from the bucket alone (no droplet, no SSH): every set under `backups/<database>/`, each checked as the
droplet checks it (firstboot/backup/inventory.py: its manifest, every part with the manifest's size and the
SHA-256 Spaces vouches for), with the time of the last restore drill that passed. JSON:
`{"database", "location", "backups": [{"id", "kind", "created", "size_bytes", "odoo_version", "encrypted",
"verified", "status"}, ...]}` (`problems` on a set that is not complete). Exit 0, 2 without Spaces.
"""

from __future__ import annotations

import argparse

from builder.commands.options import Subparsers, add_common
from builder.errors import EXIT_OK, Refused
from builder.inputs import load_deploy
from builder.output import Output
from builder.spaces import Spaces
from firstboot.backup.completeness import StoredObject
from firstboot.backup.inventory import RemoteSet, listing, remote_sets
from firstboot.backup.keys import MANIFEST_NAME, VERIFICATION_NAME, backup_part_key, database_backups_prefix
from firstboot.spaces import verified_sha256

NAME = "backups"


def add_parser(subparsers: Subparsers) -> None:
    p = subparsers.add_parser(NAME, help="list the backups in Spaces (id, kind, age, size, Odoo version, verified)")
    add_common(p)


def read_sets(spaces: Spaces, database: str) -> list[RemoteSet]:
    """The sets as the droplet's own pruning reads them (firstboot/backups.py read_remote_sets), through boto3."""
    objects: dict[str, StoredObject] = {}
    for key, size in spaces.sizes(database_backups_prefix(database)).items():
        headers = spaces.head(key)
        if headers is not None:
            objects[key] = StoredObject(size, verified_sha256(headers) or "")
    ids = {k.split("/")[2] for k in objects if k.count("/") >= 3}

    def read(backup_id: str, name: str) -> bytes | None:
        key = backup_part_key(database, backup_id, name)
        return spaces.get_bytes(key) if key in objects else None

    return remote_sets(database, objects, {i: read(i, MANIFEST_NAME) for i in ids},
                       {i: read(i, VERIFICATION_NAME) for i in ids})


def _size(n: object) -> str:
    value = float(n) if isinstance(n, int) else 0.0
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return str(n)  # pragma: no cover


def text(entries: list[dict[str, object]], location: str) -> str:
    if not entries:
        return f"no backups in {location}"
    lines = [f"backups in {location}", f"{'id':<30} {'kind':<11} {'size':>10}  {'odoo':<14} {'verified':<20} status"]
    for e in entries:
        lines.append(f"{e['id']!s:<30} {e['kind']!s:<11} {_size(e['size_bytes']):>10}  {e['odoo_version'] or '-'!s:<14} "
                     f"{e['verified'] or 'never'!s:<20} {e['status']}")
        problems = e.get("problems")
        lines += [f"    {p}" for p in problems] if isinstance(problems, list) else []
    return "\n".join(lines)


def run(args: argparse.Namespace, out: Output) -> int:
    deploy, secrets = load_deploy(args.config, api=True, lenient=True)
    spaces = Spaces.for_deploy(deploy, secrets)
    if spaces is None:
        raise Refused("the settings name no Spaces bucket: backups live in Spaces", "add spaces: {region, bucket}")
    database = deploy.odoo.database
    location = spaces.url(database_backups_prefix(database))
    entries = listing(read_sets(spaces, database))
    out.result({"database": database, "location": location, "backups": entries}, text(entries, location))
    return EXIT_OK
