"""Uploads that survive outages: a backup stays on the droplet until Spaces holds every part with the
manifest's size and SHA-256 (and the manifest itself), and only then may the local copy go.

`plan_upload` compares the local set with what a fresh listing of Spaces shows and says what to upload
(the parts that are missing or differ, then the manifest, last, so the remote set never looks complete
before its parts are there), or that the local copy may be deleted. The shell uploads, lists again and
asks again: deletion is only ever decided from a listing, never from an upload it believes went well.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from firstboot.backup.completeness import StoredObject, check_set
from firstboot.backup.keys import MANIFEST_NAME
from firstboot.backup.manifest import Manifest


class BackupStatus(StrEnum):
    PENDING_UPLOAD = "pending upload"  # complete on the droplet, not (yet) in Spaces
    UPLOADED = "uploaded"  # Spaces holds every part with matching checksums
    VERIFIED = "verified"  # uploaded, and a restore drill of it passed
    INCOMPLETE = "incomplete"  # neither copy is complete: cannot be restored


@dataclass(frozen=True)
class UploadPlan:
    upload: tuple[str, ...]  # object names in order; the manifest, when there, is last
    delete_local: bool
    problems: tuple[str, ...] = ()  # why some of it cannot be uploaded from here

    @property
    def status(self) -> BackupStatus:
        return BackupStatus.UPLOADED if self.delete_local else BackupStatus.PENDING_UPLOAD


def manifest_object(manifest_bytes: bytes) -> StoredObject:
    return StoredObject(len(manifest_bytes), hashlib.sha256(manifest_bytes).hexdigest())


def plan_upload(manifest: Manifest, manifest_bytes: bytes, local: Mapping[str, StoredObject],
                remote: Mapping[str, StoredObject]) -> UploadPlan:
    """What to do next with a local backup set, given the files on the droplet and the Spaces listing."""
    remote_state = check_set(manifest, remote)
    want_manifest = manifest_object(manifest_bytes)
    manifest_there = remote.get(MANIFEST_NAME) == want_manifest
    if remote_state.complete and manifest_there:
        return UploadPlan((), True)

    needed = {p.part for p in remote_state.problems if p.part is not None}
    local_problems = {p.part: p.detail for p in check_set(manifest, local).problems if p.part is not None}
    blocked = tuple(local_problems[n] for n in sorted(needed) if n in local_problems)
    if blocked:
        # A part Spaces lacks and the droplet no longer holds intact: uploading the rest would only make a
        # set that can never be complete. Keep everything and say why.
        return UploadPlan((), False, blocked)
    parts = tuple(p.name for p in manifest.parts if p.name in needed)
    return UploadPlan((*parts, MANIFEST_NAME), False)


@dataclass(frozen=True)
class StatusLine:
    status: BackupStatus
    last_verified: dt.datetime | None


def backup_status(local_complete: bool, remote_complete: bool, verified_at: dt.datetime | None) -> StatusLine:
    """The status `status` and `backups` show for one backup."""
    if remote_complete:
        return StatusLine(BackupStatus.VERIFIED if verified_at else BackupStatus.UPLOADED, verified_at)
    if local_complete:
        return StatusLine(BackupStatus.PENDING_UPLOAD, verified_at)
    return StatusLine(BackupStatus.INCOMPLETE, verified_at)


def _time(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def backup_entry(manifest: Manifest, line: StatusLine) -> dict[str, object]:
    """One backup as `odoo-droplet backups --json` lists it (the issue's keys, then the status)."""
    return {
        "id": manifest.backup_id,
        "kind": manifest.kind.value,
        "created": _time(manifest.started_at),
        "size_bytes": manifest.size_bytes,
        "odoo_version": manifest.odoo_version,
        "encrypted": manifest.encrypted,
        "verified": _time(line.last_verified) if line.last_verified else None,
        "status": line.status.value,
    }
