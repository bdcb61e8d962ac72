"""`odoo-droplet backups [--json]`: the deploy's backups as Spaces holds them, newest first.

Read from the bucket alone (no droplet, no SSH): every set under `backups/<database>/`, each checked as the
droplet checks it (firstboot/backup/inventory.py: its manifest, every part with the manifest's size and the
SHA-256 Spaces vouches for), with the time of the last restore drill that passed. JSON:
`{"database", "location", "backups": [{"id", "kind", "created", "size_bytes", "odoo_version", "encrypted",
"verified", "status"}, ...]}` (`problems` on a set that is not complete). Exit 0, 2 without Spaces.

`odoo-droplet backups verify [BACKUP] [--droplet ID]`: the restore drill, run by the agent of the droplet holding
the reserved IP (or the one named) over the SSH channel (builder/commands/remote.py): `python3 -m firstboot.agent
verify [--backup ID]` (firstboot/backup_verify.py) restores the set (default: the newest complete one) into a
scratch database there, neutralized, compares its row counts with the manifest, checks every attachment's file
and sha1, drops the scratch database and records the result in Spaces (`verification.json` beside the set: the
list's `verified`). JSON: `{"backup_id", "status", "verified_at", "scratch_database", "attachments_checked",
"problems", "record", "droplet_id"}`; exit 0 passed, 1 failed (every problem named), 2 nothing to verify.
"""

from __future__ import annotations

import argparse

from builder.commands.backup_now import parse_answer
from builder.commands.options import Subparsers, add_common
from builder.commands.remote import announce, connect
from builder.errors import EXIT_OK, OperatorError, Refused
from builder.inputs import load_deploy
from builder.output import Output
from builder.spaces import Spaces
from firstboot.backup.completeness import StoredObject
from firstboot.backup.ids import is_backup_id
from firstboot.backup.inventory import RemoteSet, listing, remote_sets
from firstboot.backup.keys import MANIFEST_NAME, VERIFICATION_NAME, backup_part_key, database_backups_prefix
from firstboot.contract.layout import Layout
from firstboot.spaces import verified_sha256

NAME = "backups"


VERIFY = "verify"
VERIFY_TIMEOUT = 8 * 3600.0  # download, restore and checks of a large set; the agent bounds each command too


class VerifyFailed(OperatorError):
    """The drill ran and the backup did not pass (or the agent gave no answer): exit 1, the answer as details."""


def add_parser(subparsers: Subparsers) -> None:
    p = subparsers.add_parser(NAME, help="list the backups in Spaces (id, kind, age, size, Odoo version, verified); "
                                         "`backups verify [BACKUP]`: the restore drill on the droplet")
    p.add_argument("action", nargs="?", choices=(VERIFY,),
                   help="verify: restore a backup into a scratch database on the droplet, check it, drop it, "
                        "record the result in Spaces")
    p.add_argument("backup", nargs="?", metavar="BACKUP",
                   help="verify: the backup id (default: the newest complete backup)")
    add_common(p)
    p.add_argument("--droplet", type=int, metavar="ID",
                   help="verify: the droplet that runs the drill (default: the one holding the reserved IP)")


def agent_verify_argv(backup_id: str | None = None) -> tuple[str, ...]:
    """The agent's own command, as odoo-droplet-verify.service runs it (PYTHONPATH: the install folder)."""
    return ("env", f"PYTHONPATH={Layout().install_dir}", "python3", "-m", "firstboot.agent", "verify",
            *(("--backup", backup_id) if backup_id else ()))


def verify_text(result: dict[str, object]) -> str:
    problems = result.get("problems")
    lines = [f"backup {result.get('backup_id')}: {result.get('status')} (restored into "
             f"{result.get('scratch_database') or '-'} on droplet {result.get('droplet_id')}, dropped after; "
             f"{result.get('attachments_checked')} attachment files checked)"]
    lines += [f"    {p}" for p in problems] if isinstance(problems, list) else []
    if result.get("record"):
        lines.append(f"recorded in Spaces: {result['record']}")
    return "\n".join(lines)


def run_verify(args: argparse.Namespace, out: Output) -> int:
    if args.backup is not None and not is_backup_id(args.backup):
        raise Refused(f"not a backup id: {args.backup!r}", "`odoo-droplet backups` lists them (e.g. "
                                                          "20261202T030000Z-scheduled)")
    session = connect(args, out)
    argv = agent_verify_argv(args.backup)
    announce(session, argv)
    did = session.channel.droplet_id
    out.say(f"verify: restoring {args.backup or 'the newest complete backup'} into a scratch database on droplet "
            f"{did} (this takes as long as the data is large)")
    proc = session.channel.run(argv, timeout=VERIFY_TIMEOUT)
    answer = parse_answer(proc.stdout)
    if answer is None:
        raise VerifyFailed(f"the agent on droplet {did} gave no answer (exit {proc.returncode}): "
                           f"{proc.stderr.decode(errors='replace').strip()[-300:]}",
                           "odoo-droplet logs --service agent shows what it did")
    keys = ("backup_id", "status", "verified_at", "scratch_database", "attachments_checked", "problems", "record")
    result: dict[str, object] = {k: answer.get(k) for k in keys} | {"droplet_id": did}
    listed = answer.get("problems")
    why = "; ".join(str(p) for p in listed) if isinstance(listed, list) and listed else f"exit {proc.returncode}"
    if proc.returncode == 0 and answer.get("status") == "passed":
        out.result(result, verify_text(result))
        return EXIT_OK
    if proc.returncode == 2:
        raise Refused(f"nothing to verify on droplet {did}: {why}", details=result)
    raise VerifyFailed(f"backup {result['backup_id']} failed its restore drill on droplet {did}: {why}",
                       "the result is recorded beside the set in Spaces; take a new backup (`odoo-droplet "
                       "backup-now`) and verify it", details=result)


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
    if args.action == VERIFY:
        return run_verify(args, out)
    if args.backup is not None or args.droplet is not None:
        raise Refused("a backup id or --droplet goes with `backups verify`", "odoo-droplet backups verify BACKUP")
    deploy, secrets = load_deploy(args.config, api=True, lenient=True)
    spaces = Spaces.for_deploy(deploy, secrets)
    if spaces is None:
        raise Refused("the settings name no Spaces bucket: backups live in Spaces", "add spaces: {region, bucket}")
    database = deploy.odoo.database
    location = spaces.url(database_backups_prefix(database))
    entries = listing(read_sets(spaces, database))
    out.result({"database": database, "location": location, "backups": entries}, text(entries, location))
    return EXIT_OK
