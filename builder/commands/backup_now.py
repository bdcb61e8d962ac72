"""`odoo-droplet backup-now [--droplet ID] [--json]`: a manual backup on the droplet holding the reserved IP
(or the one named), taken by its agent over the SSH channel (builder/commands/remote.py) and uploaded by it to
Spaces. JSON: `{"backup_id", "status", "location"}`; exit 0 when Spaces holds it with matching checksums,
1 when it failed or waits on the droplet for Spaces (`status: "pending upload"`: the droplet's publish timer
uploads it), 2 when the droplet takes no backups (managed PostgreSQL, no Spaces) or the input is wrong.
"""

from __future__ import annotations

import argparse
import json

from builder.commands.options import Subparsers
from builder.commands.remote import add_target_options, announce, connect
from builder.errors import EXIT_OK, OperatorError, Refused
from builder.output import Output
from firstboot.backup.ids import BackupKind
from firstboot.contract.layout import Layout

NAME = "backup-now"
TIMEOUT = 6 * 3600.0  # a large database's dump and archives; the agent bounds each of its commands too
EX_TEMPFAIL = 75  # the agent's "kept on the droplet, waiting for Spaces"


class BackupNotUploaded(OperatorError):
    """The backup failed, or is only on the droplet: exit 1, with the agent's answer as the JSON's keys."""


def add_parser(subparsers: Subparsers) -> None:
    p = subparsers.add_parser(NAME, help="take a backup now on the droplet (the reserved IP's holder by default) "
                                         "and upload it to Spaces")
    add_target_options(p)


def agent_backup_argv(kind: BackupKind = BackupKind.MANUAL) -> tuple[str, ...]:
    """The agent's own command, as its systemd units run it (PYTHONPATH is the snapshot's install folder)."""
    return ("env", f"PYTHONPATH={Layout().install_dir}", "python3", "-m", "firstboot.agent", "backup",
            "--kind", kind.value)


def parse_answer(stdout: bytes) -> dict[str, object] | None:
    """The agent's one JSON line (the last line that parses: a warning may come before it)."""
    for line in reversed(stdout.decode(errors="replace").splitlines()):
        try:
            doc = json.loads(line)
        except ValueError:
            continue
        if isinstance(doc, dict) and "status" in doc:
            return doc
    return None


def run(args: argparse.Namespace, out: Output) -> int:
    session = connect(args, out)
    argv = agent_backup_argv()
    announce(session, argv)
    out.say(f"backup: dumping {session.deploy.odoo.database} and its filestore on droplet "
            f"{session.channel.droplet_id}, then uploading to Spaces (this takes as long as the data is large)")
    proc = session.channel.run(argv, timeout=TIMEOUT)
    answer = parse_answer(proc.stdout)
    if answer is None:
        raise BackupNotUploaded(f"the agent on droplet {session.channel.droplet_id} gave no answer (exit "
                                f"{proc.returncode}): {proc.stderr.decode(errors='replace').strip()[-300:]}",
                                "odoo-droplet logs --service agent shows what it did")
    result = {"backup_id": answer.get("backup_id"), "status": answer.get("status"),
              "location": answer.get("location"), "droplet_id": session.channel.droplet_id}
    listed = answer.get("problems")
    problems = [str(p) for p in listed] if isinstance(listed, list) else []
    if proc.returncode == 0:
        out.result(result, f"backup {result['backup_id']}: {result['status']} at {result['location']}")
        return EXIT_OK
    why = "; ".join(problems) or f"the agent exited {proc.returncode}"
    if proc.returncode == 2:
        raise Refused(f"droplet {session.channel.droplet_id} takes no backups: {why}", details=result)
    if proc.returncode == EX_TEMPFAIL:
        raise BackupNotUploaded(f"backup {result['backup_id']} is kept on droplet {session.channel.droplet_id} "
                                f"({result['location']}) and not in Spaces yet: {why}",
                                "the droplet's publish timer uploads it when Spaces answers; `odoo-droplet "
                                "backups` shows it then", details=result)
    raise BackupNotUploaded(f"the backup failed on droplet {session.channel.droplet_id}: {why}",
                            "nothing that looks complete was left; `odoo-droplet logs --service agent` has the "
                            "details", details=result)
