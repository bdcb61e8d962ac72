"""`odoo-droplet restore BACKUP [--droplet ID] [--json]`: put a backup from Spaces in place of the database of
the droplet holding the reserved IP (or the one named), done by its agent over the SSH channel
(builder/commands/remote.py): a safety backup of the live database first, Odoo stopped, BACKUP restored into a
new database (checksums verified first, another Odoo series refused) and swapped in, Odoo started, every gate;
when a gate fails the safety backup is put back the same way. JSON: `{"backup_id", "safety_backup_id",
"status", "gates"}` (plus `problems`, `restored_rows`, `put_back`); exit 0 restored and every gate passed, 1
failed or put back, 2 refused with nothing changed (no such backup, another Odoo series, a droplet that takes
no backups) or wrong input.
"""

from __future__ import annotations

import argparse

from builder.commands.backup_now import parse_answer
from builder.commands.options import Subparsers
from builder.commands.remote import add_target_options, announce, connect
from builder.errors import EXIT_OK, BadInput, OperatorError, Refused
from builder.output import Output
from builder.settings import Problem
from firstboot.backup.ids import is_backup_id
from firstboot.config import DATABASE_SOURCE_LATEST
from firstboot.contract.layout import Layout

NAME = "restore"
TIMEOUT = 12 * 3600.0  # a safety backup, a restore, the gates, and maybe the safety backup put back
KEYS = ("backup_id", "safety_backup_id", "status", "gates", "problems", "restored_rows", "database_uuid",
        "aside_database", "put_back")


class RestoreFailed(OperatorError):
    """The restore failed (the database as it was) or its gates failed (the safety backup put back): exit 1."""


def add_parser(subparsers: Subparsers) -> None:
    p = subparsers.add_parser(NAME, help="restore a backup from Spaces on the droplet (a safety backup first; "
                                         "put back if a gate fails)")
    p.add_argument("backup", metavar="BACKUP", help="a backup id from `odoo-droplet backups`, or latest")
    add_target_options(p)


def check_backup(value: str) -> str:
    if value == DATABASE_SOURCE_LATEST or is_backup_id(value):
        return value
    raise BadInput([Problem("BACKUP", value, "not a backup id (e.g. 20261202T030000Z-scheduled; see "
                                              "`odoo-droplet backups`) nor latest")], "the command line")


def agent_restore_argv(backup: str) -> tuple[str, ...]:
    """The agent's own command (PYTHONPATH is the snapshot's install folder); the id is checked first."""
    return ("env", f"PYTHONPATH={Layout().install_dir}", "python3", "-m", "firstboot.agent", "restore",
            check_backup(backup))


def run(args: argparse.Namespace, out: Output) -> int:
    argv = agent_restore_argv(args.backup)  # bad input said before anything is reached
    session = connect(args, out)
    announce(session, argv)
    did = session.channel.droplet_id
    out.say(f"restore: on droplet {did}, a safety backup of {session.deploy.odoo.database} first, then "
            f"{args.backup} in its place and every gate (this takes as long as the data is large)")
    proc = session.channel.run(argv, timeout=TIMEOUT)
    answer = parse_answer(proc.stdout)
    if answer is None:
        raise RestoreFailed(f"the agent on droplet {did} gave no answer (exit {proc.returncode}): "
                            f"{proc.stderr.decode(errors='replace').strip()[-300:]}",
                            "odoo-droplet logs --service agent shows what it did; odoo-droplet doctor checks the site")
    result: dict[str, object] = {k: answer[k] for k in KEYS if k in answer}
    result.setdefault("gates", [])
    result["droplet_id"] = did
    listed = answer.get("problems")
    why = "; ".join(str(p) for p in listed) if isinstance(listed, list) and listed else f"exit {proc.returncode}"
    if proc.returncode == 0:
        out.result(result, f"restored {result.get('backup_id')} on droplet {did}; every gate passed (safety backup "
                           f"{result.get('safety_backup_id')})")
        return EXIT_OK
    if proc.returncode == 2:
        raise Refused(f"restore of {args.backup} refused on droplet {did}, nothing changed: {why}", details=result)
    if result.get("status") == "put back":
        raise RestoreFailed(f"restore of {result.get('backup_id')} failed its gates on droplet {did}: {why}",
                            "the site serves the data from before the restore; odoo-droplet doctor says why",
                            details=result)
    raise RestoreFailed(f"restore of {args.backup} failed on droplet {did}: {why}",
                        "odoo-droplet logs --service agent has the details", details=result)
