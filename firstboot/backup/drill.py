"""The restore drill (`backups verify`): restore into a scratch database, neutralize it, compare its row
counts with the manifest, check every attachment's file and checksum, drop it, record the result.

`plan_drill` gives the commands; `judge_drill` turns what they printed (and the archive's digests, read by
the shell) into a pass or a fail with every difference; the record goes beside the set in Spaces.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass

from firstboot.backup.checks import (
    AttachmentCheck,
    RowCountComparison,
    check_attachment_checksums,
    compare_row_counts,
)
from firstboot.backup.commands import (
    RESTORE_DUMP_IN_CONTAINER,
    Command,
    Stack,
    age_decrypt,
    copy_dump_in,
    create_database,
    derived_database_name,
    drop_database,
    neutralize,
    pg_restore,
    remove_in_container,
)
from firstboot.backup.keys import DUMP_PART, plain_part_name
from firstboot.backup.manifest import Manifest
from firstboot.backup.queries import StoredAttachment, attachments_query, row_counts_query

_TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


@dataclass(frozen=True)
class DrillPlan:
    scratch_database: str
    setup: tuple[Command, ...]  # decrypt, create, restore, neutralize
    row_counts: Command  # its output: parse_row_counts
    attachments: Command  # its output: parse_attachments
    cleanup: tuple[Command, ...]  # run whatever happened before: the scratch database never stays


def scratch_database_name(database: str, stamp: str) -> str:
    return derived_database_name(database, f"drill_{stamp.lower()}")


def plan_drill(manifest: Manifest, stack: Stack, user: str, local_dir: str, stamp: str, jobs: int = 2,
               identity_file: str | None = None) -> DrillPlan:
    """Commands restoring the set in `local_dir` (verified already: see restore.preflight) into a scratch
    database. The odoo container runs (the drill happens on a serving droplet): `odoo neutralize` there."""
    if manifest.encrypted and not identity_file:
        raise ValueError(f"backup {manifest.backup_id} is encrypted: the drill needs an age identity file")
    db, odoo = stack.exec("db"), stack.exec("odoo")
    scratch = scratch_database_name(manifest.database, stamp)
    dump = manifest.part(DUMP_PART)
    if dump is None:  # unreachable: a valid manifest names the dump
        raise ValueError(f"manifest of {manifest.backup_id} names no dump")
    dump_path = f"{local_dir}/{dump.name}"
    setup: list[Command] = []
    if manifest.encrypted and identity_file:
        plain = f"{local_dir}/{plain_part_name(dump.name)}"
        setup.append(age_decrypt(identity_file, dump_path, plain))
        dump_path = plain
    setup += [
        drop_database(db, user, scratch),
        create_database(db, user, scratch),
        copy_dump_in(stack, dump_path),
        pg_restore(db, user, scratch, jobs),
        # Before anything could run it: no mail, no crons, whatever the copy holds.
        neutralize(odoo, scratch),
    ]
    return DrillPlan(
        scratch_database=scratch,
        setup=tuple(setup),
        row_counts=row_counts_query(db, user, scratch, tuple(manifest.row_counts)),
        attachments=attachments_query(db, user, scratch),
        cleanup=(drop_database(db, user, scratch), remove_in_container(db, RESTORE_DUMP_IN_CONTAINER)),
    )


@dataclass(frozen=True)
class DrillResult:
    backup_id: str
    verified_at: dt.datetime
    rows: RowCountComparison
    attachments: AttachmentCheck
    error: str | None = None  # a setup command that failed: the drill did not get as far as comparing

    @property
    def passed(self) -> bool:
        return self.error is None and self.rows.passed and self.attachments.ok

    def problems(self) -> list[str]:
        out = [self.error] if self.error else []
        out += [str(d) for d in self.rows.differences]
        if not self.attachments.ok:
            out.append(self.attachments.message())
        return out


def judge_drill(manifest: Manifest, verified_at: dt.datetime, scratch_counts: Mapping[str, int],
                attachments: list[StoredAttachment], member_sha1: Mapping[str, str],
                error: str | None = None) -> DrillResult:
    """Pass only when every counted table has the manifest's rows and every attachment's file is in the
    filestore archive with Odoo's checksum (`member_sha1`: archive member -> sha1 of its bytes)."""
    return DrillResult(manifest.backup_id, verified_at, compare_row_counts(manifest.row_counts, scratch_counts),
                       check_attachment_checksums(attachments, member_sha1), error)


def serialize_drill(result: DrillResult) -> bytes:
    """`verification.json`, beside the set: what `backups` and `status` read as "last verified"."""
    when = result.verified_at.astimezone(dt.UTC) if result.verified_at.tzinfo else result.verified_at
    doc = {
        "backup_id": result.backup_id,
        "verified_at": when.strftime(_TIME_FORMAT),
        "passed": result.passed,
        "problems": result.problems(),
        "attachments_checked": result.attachments.checked,
    }
    return (json.dumps(doc, sort_keys=True, indent=2) + "\n").encode()


def last_verified(record: bytes | None) -> dt.datetime | None:
    """When the set last passed a drill, from its verification.json (None: never, failed or unreadable)."""
    if record is None:
        return None
    try:
        doc = json.loads(record)
        if not isinstance(doc, dict) or doc.get("passed") is not True:
            return None
        return dt.datetime.strptime(str(doc["verified_at"]), _TIME_FORMAT).replace(tzinfo=dt.UTC)
    except (ValueError, KeyError):
        return None
