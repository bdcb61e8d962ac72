"""The backups of one database as a bucket listing shows them (pure): which sets there are, whether each is
complete, when it last passed a drill; what retention sees (`retention_records`) and what `odoo-droplet
backups` lists (`listing`). The agent (pruning) and the operator's CLI (the list) read Spaces the same way.

The shell lists `backups/<database>/`, gives each object its size and the SHA-256 Spaces holds for it, and
reads each set's manifest.json and verification.json; this module decides the rest.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

from firstboot.backup.completeness import Completeness, StoredObject, check_set_bytes
from firstboot.backup.drill import last_verified
from firstboot.backup.ids import parse_backup_id
from firstboot.backup.keys import backup_ids, set_listing
from firstboot.backup.retention import BackupRecord
from firstboot.backup.upload import BackupStatus, backup_entry, backup_status

_TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


@dataclass(frozen=True)
class RemoteSet:
    backup_id: str
    completeness: Completeness
    verified_at: dt.datetime | None
    stored_bytes: int  # every object of the set, whatever the manifest says


def remote_sets(database: str, objects: Mapping[str, StoredObject], manifests: Mapping[str, bytes | None],
                verifications: Mapping[str, bytes | None]) -> list[RemoteSet]:
    """Every set with at least one object under backups/<database>/, oldest first. `manifests` and
    `verifications` are by backup id (None or absent: no such object)."""
    out = []
    for backup_id in backup_ids(list(objects), database):
        listing = set_listing(objects, database, backup_id)
        out.append(RemoteSet(backup_id, check_set_bytes(manifests.get(backup_id), listing),
                             last_verified(verifications.get(backup_id)),
                             sum(o.size for o in listing.values())))
    return out


def retention_records(sets: list[RemoteSet]) -> list[BackupRecord]:
    return [BackupRecord(s.backup_id, s.completeness.complete, s.verified_at if s.completeness.complete else None)
            for s in sets]


def listing(sets: list[RemoteSet], pending_local: frozenset[str] = frozenset()) -> list[dict[str, object]]:
    """`{"id", "kind", "created", "size_bytes", "odoo_version", "encrypted", "verified", "status"}` for each
    set, newest first. A set that is not complete in Spaces says why (`problems`); one still on the droplet
    (`pending_local`) is `pending upload`."""
    entries: list[dict[str, object]] = []
    for s in sorted(sets, key=lambda s: parse_backup_id(s.backup_id), reverse=True):
        line = backup_status(s.backup_id in pending_local, s.completeness.complete, s.verified_at)
        manifest = s.completeness.manifest
        if manifest is not None:
            entry = backup_entry(manifest, line)
        else:
            parsed = parse_backup_id(s.backup_id)
            entry = {"id": s.backup_id, "kind": parsed.kind.value, "created": parsed.created.strftime(_TIME_FORMAT),
                     "size_bytes": s.stored_bytes, "odoo_version": None, "encrypted": None, "verified": None,
                     "status": line.status.value}
        if line.status is not BackupStatus.UPLOADED and line.status is not BackupStatus.VERIFIED:
            entry["problems"] = s.completeness.reasons
        entries.append(entry)
    return entries
