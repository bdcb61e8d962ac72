"""Uploads that survive outages (firstboot/backup/upload.py): a backup stays local until Spaces holds every
part with matching checksums, the manifest goes last, and the status says where a backup stands."""

from __future__ import annotations

import datetime as dt

from firstboot.backup.completeness import StoredObject
from firstboot.backup.manifest import serialize_manifest
from firstboot.backup.upload import (
    BackupStatus,
    StatusLine,
    UploadPlan,
    backup_entry,
    backup_status,
    manifest_object,
    plan_upload,
)
from tests.unit.test_backup_samples import listing, manifest, sha

VERIFIED_AT = dt.datetime(2026, 12, 6, 3, 0, tzinfo=dt.UTC)


def _plan(remote: dict[str, StoredObject], local: dict[str, StoredObject] | None = None, encrypted: bool = False
          ) -> UploadPlan:
    m = manifest(encrypted)
    return plan_upload(m, serialize_manifest(m), listing(m) if local is None else local, remote)


def test_nothing_in_spaces_yet_uploads_every_part_then_the_manifest():
    plan = _plan({})
    assert plan.upload == ("database.dump", "filestore.tar", "sessions.tar", "manifest.json")
    assert not plan.delete_local and plan.status is BackupStatus.PENDING_UPLOAD and plan.problems == ()
    encrypted = _plan({}, encrypted=True)
    assert encrypted.upload == ("database.dump.age", "filestore.tar.age", "sessions.tar.age", "manifest.json")


def test_an_interrupted_upload_resumes_with_what_is_missing_or_differs():
    m = manifest()
    remote = listing(m)
    del remote["manifest.json"], remote["sessions.tar"]
    remote["filestore.tar"] = StoredObject(remote["filestore.tar"].size, sha(b"a half-written object"))
    plan = plan_upload(m, serialize_manifest(m), listing(m), remote)
    assert plan.upload == ("filestore.tar", "sessions.tar", "manifest.json")
    assert not plan.delete_local


def test_parts_there_but_no_manifest_uploads_the_manifest_only():
    m = manifest()
    remote = listing(m)
    del remote["manifest.json"]
    assert plan_upload(m, serialize_manifest(m), listing(m), remote).upload == ("manifest.json",)
    remote["manifest.json"] = StoredObject(3, sha(b"old"))  # another manifest under the same id
    assert plan_upload(m, serialize_manifest(m), listing(m), remote).upload == ("manifest.json",)


def test_local_copy_goes_only_when_spaces_holds_everything_with_matching_checksums():
    m = manifest()
    remote = listing(m) | {"verification.json": StoredObject(1, "0" * 64)}
    plan = plan_upload(m, serialize_manifest(m), listing(m), remote)
    assert plan.delete_local and plan.upload == () and plan.status is BackupStatus.UPLOADED
    # Same sizes, one checksum off: not yet.
    remote = listing(m)
    dump = remote["database.dump"]
    remote["database.dump"] = StoredObject(dump.size, sha(b"PGDMP custom dumq"))
    assert not plan_upload(m, serialize_manifest(m), listing(m), remote).delete_local


def test_a_part_the_droplet_no_longer_holds_intact_blocks_the_upload():
    m = manifest()
    local = listing(m)
    local["database.dump"] = StoredObject(local["database.dump"].size, sha(b"bit rot"))
    plan = plan_upload(m, serialize_manifest(m), local, {})
    assert plan.upload == () and not plan.delete_local
    assert plan.problems and "database.dump" in plan.problems[0]
    # ... unless Spaces already has that part right: then the rest can go.
    remote = {"database.dump": listing(m)["database.dump"]}
    assert plan_upload(m, serialize_manifest(m), local, remote).upload == ("filestore.tar", "sessions.tar",
                                                                          "manifest.json")


def test_manifest_object_is_its_size_and_digest():
    data = serialize_manifest(manifest())
    assert manifest_object(data) == StoredObject(len(data), sha(data))


def test_status_strings():
    assert backup_status(True, False, None) == StatusLine(BackupStatus.PENDING_UPLOAD, None)
    assert str(BackupStatus.PENDING_UPLOAD) == "pending upload"
    assert backup_status(True, True, None).status is BackupStatus.UPLOADED
    assert backup_status(False, True, None).status == "uploaded"
    line = backup_status(False, True, VERIFIED_AT)
    assert (line.status, line.last_verified) == (BackupStatus.VERIFIED, VERIFIED_AT) and line.status == "verified"
    assert backup_status(False, False, None).status is BackupStatus.INCOMPLETE


def test_backup_entry_has_the_keys_backups_json_lists():
    m = manifest(encrypted=True)
    entry = backup_entry(m, backup_status(False, True, VERIFIED_AT))
    assert entry == {
        "id": m.backup_id, "kind": "scheduled", "created": "2026-12-02T12:00:00Z", "size_bytes": m.size_bytes,
        "odoo_version": "18.0-20260723", "encrypted": True, "verified": "2026-12-06T03:00:00Z", "status": "verified",
    }
    pending = backup_entry(manifest(), backup_status(True, False, None))
    assert (pending["verified"], pending["status"], pending["encrypted"]) == (None, "pending upload", False)
