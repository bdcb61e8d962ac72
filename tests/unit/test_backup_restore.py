"""The restore plan (firstboot/backup/restore.py): verify -> decrypt -> pg_restore into a new database ->
unpack the filestore -> keep database.uuid/secret -> swap in; every refusal a typed reason."""

from __future__ import annotations

import pytest

from firstboot.backup.commands import Stack
from firstboot.backup.completeness import StoredObject
from firstboot.backup.failures import RestoreFailureKind
from firstboot.backup.manifest import serialize_manifest
from firstboot.backup.restore import (
    PlannedStep,
    RestorePlan,
    RestoreRefused,
    RestoreStep,
    RestoreTarget,
    check_identity,
    failure_for,
    plan_restore,
    preflight,
)
from tests.unit.test_backup_samples import listing, manifest, sha

COMPOSE = ("docker", "compose", "-p", "odoo-droplet", "-f", "/etc/odoo-droplet/stack/docker-compose.yml")
STACK = Stack(COMPOSE)
TARGET = RestoreTarget("odoo", "odoo", "18.0-20260901", "16.6", live_database_exists=True, jobs=4)
FIRST_BOOT = RestoreTarget("odoo", "odoo", "18.0-20260901", "16.6", live_database_exists=False, jobs=2)
STAMP = "20261202T130000Z"
LOCAL = "/var/lib/odoo-droplet/restore"
IDENTITY = "/run/odoo-droplet/age-identity"


def _plan(m=None, target=TARGET, identity=None, objects=None, manifest_bytes=b"unset", **kw) -> RestorePlan:
    m = m or manifest()
    data = serialize_manifest(m) if manifest_bytes == b"unset" else manifest_bytes
    plan = plan_restore(data, listing(m) if objects is None else objects, target, STACK, LOCAL, STAMP, identity, **kw)
    assert isinstance(plan, RestorePlan), plan
    return plan


def _refused(m=None, target=TARGET, identity=None, objects=None, manifest_bytes=b"unset") -> RestoreRefused:
    m = m or manifest()
    data = serialize_manifest(m) if manifest_bytes == b"unset" else manifest_bytes
    refused = plan_restore(data, listing(m) if objects is None else objects, target, STACK, LOCAL, STAMP, identity)
    assert isinstance(refused, RestoreRefused), refused
    assert refused.failures
    return refused


def _names_live(step: PlannedStep, live: str = "odoo") -> bool:
    quoted, folder = f'"{live}"', f"/var/lib/odoo/filestore/{live}"
    return any(quoted in a or a == folder for c in step.commands for a in c.arguments())


def test_plain_backup_plan_in_order():
    plan = _plan()
    assert [s.step for s in plan.steps] == [RestoreStep.VERIFY, RestoreStep.LOAD_DATABASE, RestoreStep.UNPACK_FILESTORE,
                                           RestoreStep.KEEP_IDENTITY, RestoreStep.SWAP_IN]
    assert plan.restored_database == "odoo_restore_20261202t130000z"
    assert plan.aside_database == "odoo_pre_restore_20261202t130000z"
    load = plan.steps[1]
    programs = [next(a for a in c.argv if a in ("dropdb", "createdb", "cp", "pg_restore", "rm")) for c in load.commands]
    assert programs == ["dropdb", "createdb", "cp", "pg_restore", "rm"]
    assert load.commands[0].argv[-1] == load.commands[1].argv[-1] == plan.restored_database  # a NEW database
    assert load.commands[2].argv[-2] == f"{LOCAL}/database.dump"
    assert "--jobs=4" in load.commands[3].argv and "--no-owner" in load.commands[3].argv
    assert f"--dbname={plan.restored_database}" in load.commands[3].argv
    assert load.part == "database.dump"
    unpack = plan.steps[2]
    assert unpack.commands[1].stdin == f"{LOCAL}/filestore.tar"
    assert unpack.commands[1].argv[-1] == f"--directory=/var/lib/odoo/filestore/{plan.restored_database}"
    # Before Odoo runs (first boot), the filestore is reached through a one-off odoo container.
    assert unpack.commands[0].argv[: len(STACK.one_off("odoo"))] == STACK.one_off("odoo")
    running = _plan(odoo_running=True)
    assert running.steps[2].commands[0].argv[: len(STACK.exec("odoo"))] == STACK.exec("odoo")
    keep = plan.steps[3]
    assert "database.uuid" in keep.commands[0].argv[-1]
    assert f"--dbname={plan.restored_database}" in keep.commands[0].argv
    assert not any("database.secret" in a for c in keep.commands for a in c.arguments())


def test_the_live_database_is_touched_only_by_the_last_step():
    plan = _plan()
    assert [s.step for s in plan.steps if _names_live(s)] == [RestoreStep.SWAP_IN]
    swap = plan.steps[-1]
    fs = "/var/lib/odoo/filestore/"
    # Filestores first, then the databases in one transaction, last.
    assert [c.argv[-2:] for c in swap.commands[1:3]] == [
        (fs + "odoo", fs + "odoo_pre_restore_20261202t130000z"),
        (fs + "odoo_restore_20261202t130000z", fs + "odoo"),
    ]
    db_swap = swap.commands[-1].argv
    assert "--single-transaction" in db_swap
    assert db_swap[db_swap.index("--command") + 1] == \
        'ALTER DATABASE "odoo" RENAME TO "odoo_pre_restore_20261202t130000z";'


def test_a_failed_swap_is_undone():
    swap = _plan().steps[-1]
    assert len(swap.undo) == len(swap.commands)
    # The database rename failed (a connection left on it): both moves are reversed, newest first.
    undo = swap.undo_after_failure(len(swap.commands) - 1)
    fs = "/var/lib/odoo/filestore/"
    assert [u.argv[-2:] for u in undo] == [
        (fs + "odoo", fs + "odoo_restore_20261202t130000z"),
        (fs + "odoo_pre_restore_20261202t130000z", fs + "odoo"),
    ]
    assert swap.undo_after_failure(0) == ()  # nothing done yet, nothing to undo
    with pytest.raises(ValueError, match="one to one"):
        PlannedStep(RestoreStep.SWAP_IN, swap.commands, undo=(None,))


def test_first_boot_has_nothing_to_move_aside():
    plan = _plan(target=FIRST_BOOT)
    assert plan.aside_database is None
    swap = plan.steps[-1]
    statements = [a for a in swap.commands[-1].argv if a.startswith("ALTER")]
    assert statements == ['ALTER DATABASE "odoo_restore_20261202t130000z" RENAME TO "odoo";']
    assert len(swap.commands) == 2  # one filestore move, one rename


def test_encrypted_backup_is_decrypted_before_anything_else_with_the_identity_file():
    m = manifest(encrypted=True)
    plan = _plan(m, identity=IDENTITY)
    decrypts = [s for s in plan.steps if s.step is RestoreStep.DECRYPT]
    # Only what is restored is decrypted (sessions stay in the set: see RESTORED_PARTS).
    assert [s.part for s in decrypts] == ["database.dump.age", "filestore.tar.age"]
    assert decrypts[0].commands[0].argv == ("age", "-d", "-i", IDENTITY, "-o", f"{LOCAL}/database.dump",
                                            f"{LOCAL}/database.dump.age")
    steps = [s.step for s in plan.steps]
    assert steps.index(RestoreStep.VERIFY) < steps.index(RestoreStep.DECRYPT) < steps.index(RestoreStep.LOAD_DATABASE)
    load = next(s for s in plan.steps if s.step is RestoreStep.LOAD_DATABASE)
    assert load.commands[2].argv[-2] == f"{LOCAL}/database.dump"  # the plain dump goes in
    unpack = next(s for s in plan.steps if s.step is RestoreStep.UNPACK_FILESTORE)
    assert unpack.commands[1].stdin == f"{LOCAL}/filestore.tar"
    # Afterwards, whatever happened: the identity and the plain copies go.
    assert [c.argv for c in plan.cleanup] == [
        (*STACK.exec("db"), "rm", "-f", "--", "/tmp/odoo-droplet-restore.dump"),
        ("rm", "-f", "--", f"{LOCAL}/database.dump", f"{LOCAL}/filestore.tar"),
        ("rm", "-f", "--", IDENTITY),
    ]


def test_a_plain_backup_cleans_up_only_the_dumps_copy():
    plan = _plan()
    assert [c.argv for c in plan.cleanup] == [(*STACK.exec("db"), "rm", "-f", "--", "/tmp/odoo-droplet-restore.dump")]


# --- refusals: before anything touches a database ----------------------------------------------------

def test_corrupt_part_refused_naming_it():
    m = manifest()
    objects = listing(m)
    dump = objects["database.dump"]
    objects["database.dump"] = StoredObject(dump.size, sha(b"one byte changed"))
    [failure] = _refused(m, objects=objects).failures
    assert failure.kind is RestoreFailureKind.CORRUPT_PART and failure.part == "database.dump"
    assert "database.dump" in str(failure)
    objects["database.dump"] = StoredObject(dump.size - 1, dump.sha256)  # truncated
    assert _refused(m, objects=objects).failures[0].kind is RestoreFailureKind.CORRUPT_PART


def test_missing_part_refused_naming_it():
    m = manifest()
    objects = listing(m)
    del objects["filestore.tar"]
    [failure] = _refused(m, objects=objects).failures
    assert (failure.kind, failure.part) == (RestoreFailureKind.MISSING_PART, "filestore.tar")


@pytest.mark.parametrize("data", [None, b"{}", b"not json"])
def test_no_or_unreadable_manifest_refused(data):
    [failure] = _refused(manifest_bytes=data).failures
    assert failure.kind is RestoreFailureKind.INCOMPLETE


def test_another_odoo_major_refused_naming_both():
    m = manifest(odoo_version="17.0-20250101")
    [failure] = _refused(m).failures
    assert failure.kind is RestoreFailureKind.VERSION_MISMATCH
    assert "17.0-20250101" in failure.detail and "18.0-20260901" in failure.detail


def test_newer_postgresql_refused():
    [failure] = _refused(manifest(postgres_version="17.1")).failures
    assert failure.kind is RestoreFailureKind.POSTGRES_TOO_NEW
    assert "17.1" in failure.detail and "16.6" in failure.detail


def test_encrypted_without_an_identity_refused():
    [failure] = _refused(manifest(encrypted=True)).failures
    assert failure.kind is RestoreFailureKind.NO_AGE_KEY


def test_every_reason_at_once():
    m = manifest(encrypted=True, odoo_version="17.0")
    objects = listing(m)
    del objects["sessions.tar.age"]
    kinds = [f.kind for f in _refused(m, objects=objects).failures]
    assert kinds == [RestoreFailureKind.MISSING_PART, RestoreFailureKind.VERSION_MISMATCH,
                     RestoreFailureKind.NO_AGE_KEY]


def test_preflight_gives_the_manifest_when_all_is_well():
    m = manifest()
    assert preflight(serialize_manifest(m), listing(m), TARGET, None) == m


# --- failures while running --------------------------------------------------------------------------

def test_failures_while_running_are_typed():
    plan = _plan(manifest(encrypted=True), identity=IDENTITY)
    decrypt = next(s for s in plan.steps if s.step is RestoreStep.DECRYPT)
    wrong = failure_for(decrypt, "age: error: no identity matched any of the recipients\n")
    assert (wrong.kind, wrong.part) == (RestoreFailureKind.WRONG_AGE_KEY, "database.dump.age")
    damaged = failure_for(decrypt, "age: error: failed to decrypt and authenticate payload chunk\n")
    assert (damaged.kind, damaged.part) == (RestoreFailureKind.CORRUPT_PART, "database.dump.age")
    load = next(s for s in plan.steps if s.step is RestoreStep.LOAD_DATABASE)
    failed = failure_for(load, "pg_restore: error: could not execute query: ERROR: out of memory\n")
    assert failed.kind is RestoreFailureKind.RESTORE_FAILED and "out of memory" in failed.detail


def test_the_restored_database_keeps_its_identity():
    m = manifest()
    assert check_identity(m, f"{m.database_uuid}\n") is None
    changed = check_identity(m, "11111111-2222-3333-4444-555555555555\n")
    assert changed is not None and changed.kind is RestoreFailureKind.IDENTITY_CHANGED
    assert m.database_uuid in changed.detail
    assert check_identity(m, "\n") is not None  # no uuid at all: not the same business either
