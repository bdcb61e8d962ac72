"""The restore plan: verify checksums -> decrypt -> pg_restore into a new database -> unpack the filestore
-> keep database.uuid/secret ("move") -> swap in.

`plan_restore` decides everything that can be decided before touching the database (the set is complete
on local disk, the versions allow it, an encrypted backup has its identity) and returns either the typed
reasons it refuses or the steps to run, each with its commands and how a failure of them is reported.
The live database is renamed aside only in the last step, after everything else succeeded: a failure
anywhere before leaves it as it was, and never leaves an empty database serving as the business's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from firstboot.backup.checks import check_restore_compatibility
from firstboot.backup.commands import (
    RESTORE_DUMP_IN_CONTAINER,
    Command,
    Stack,
    age_decrypt,
    copy_dump_in,
    create_database,
    derived_database_name,
    drop_database,
    pg_restore,
    remove_in_container,
    remove_local,
    swap_databases,
    swap_filestores,
    unpack_filestore,
)
from firstboot.backup.completeness import SetProblemKind, StoredObject, check_set_bytes
from firstboot.backup.failures import RestoreFailure, RestoreFailureKind
from firstboot.backup.ids import parse_backup_id
from firstboot.backup.inventory import RemoteSet
from firstboot.backup.keys import DUMP_PART, FILESTORE_PART, plain_part_name
from firstboot.backup.manifest import Manifest
from firstboot.backup.queries import database_uuid_query, parse_database_uuid

# What a restore puts back. Sessions are not: a restore is also how a new droplet takes over, and carrying
# them over would keep every logged-in browser logged in across it. The part stays in the set.
RESTORED_PARTS = (DUMP_PART, FILESTORE_PART)


class RestoreStep(StrEnum):
    VERIFY = "verify checksums"
    DECRYPT = "decrypt"
    LOAD_DATABASE = "restore the database"
    UNPACK_FILESTORE = "unpack the filestore"
    KEEP_IDENTITY = "keep database.uuid and database.secret"
    SWAP_IN = "swap in"


@dataclass(frozen=True)
class RestoreTarget:
    """The droplet a backup is restored on, as the shell found it."""

    database: str  # the name Odoo serves (the restored database takes it)
    user: str  # the database role: owns what pg_restore creates
    odoo_version: str
    postgres_version: str
    live_database_exists: bool  # False at a first boot: nothing to move aside
    jobs: int = 2  # pg_restore --jobs: the droplet's CPUs


@dataclass(frozen=True)
class PlannedStep:
    step: RestoreStep
    commands: tuple[Command, ...]
    part: str | None = None  # the part the commands read, named in a failure
    # undo[i] reverses commands[i] (None: nothing to reverse). When commands[k] fails, the shell runs
    # undo[k-1] ... undo[0], so a failed swap leaves the live database and its filestore as they were.
    undo: tuple[Command | None, ...] = ()

    def __post_init__(self) -> None:
        if self.undo and len(self.undo) != len(self.commands):
            raise ValueError("undo must pair with commands one to one")

    def undo_after_failure(self, failed: int) -> tuple[Command, ...]:
        """What to run, in order, when commands[failed] failed."""
        return tuple(u for u in reversed(self.undo[:failed]) if u is not None)


@dataclass(frozen=True)
class RestorePlan:
    manifest: Manifest
    restored_database: str  # the new database pg_restore fills, renamed to `target.database` at the swap
    aside_database: str | None  # what the live database is renamed to; None when there was none
    steps: tuple[PlannedStep, ...]
    # Run whatever happened: the identity file goes (it is given to a restoring droplet for the restore
    # only), and so do the decrypted parts and the dump's copy in the db container.
    cleanup: tuple[Command, ...]


@dataclass(frozen=True)
class RestoreRefused:
    failures: tuple[RestoreFailure, ...]


_SET_PROBLEM_KINDS = {
    SetProblemKind.NO_MANIFEST: RestoreFailureKind.INCOMPLETE,
    SetProblemKind.INVALID_MANIFEST: RestoreFailureKind.INCOMPLETE,
    SetProblemKind.MISSING_PART: RestoreFailureKind.MISSING_PART,
    SetProblemKind.SIZE_MISMATCH: RestoreFailureKind.CORRUPT_PART,
    SetProblemKind.CHECKSUM_MISMATCH: RestoreFailureKind.CORRUPT_PART,
}


def preflight(manifest_bytes: bytes | None, listing: Mapping[str, StoredObject], target: RestoreTarget,
              identity_file: str | None) -> Manifest | RestoreRefused:
    """The manifest when this set may be restored on this target, else every reason it may not."""
    completeness = check_set_bytes(manifest_bytes, listing)
    failures = [RestoreFailure(_SET_PROBLEM_KINDS[p.kind], p.detail, p.part) for p in completeness.problems]
    manifest = completeness.manifest
    if manifest is None:
        return RestoreRefused(tuple(failures))
    failures += check_restore_compatibility(manifest.odoo_version, manifest.postgres_version,
                                            target.odoo_version, target.postgres_version)
    if manifest.encrypted and not identity_file:
        failures.append(RestoreFailure(RestoreFailureKind.NO_AGE_KEY,
                                       f"the backup is encrypted to {manifest.age_recipient} and this droplet was "
                                       "given no age identity to decrypt it"))
    return RestoreRefused(tuple(failures)) if failures else manifest


def plan_restore(manifest_bytes: bytes | None, local_listing: Mapping[str, StoredObject], target: RestoreTarget,
                 stack: Stack, local_dir: str, stamp: str, identity_file: str | None = None,
                 odoo_running: bool = False) -> RestorePlan | RestoreRefused:
    """The steps restoring the set in `local_dir` (downloaded; `local_listing` its files' sizes and digests)
    on `target`. `stamp` (the restore's start, e.g. `20261202T120000Z`) names the new and set-aside
    databases, so a resumed restore finds them again."""
    checked = preflight(manifest_bytes, local_listing, target, identity_file)
    if isinstance(checked, RestoreRefused):
        return checked
    m = checked
    db, odoo = stack.exec("db"), (stack.exec("odoo") if odoo_running else stack.one_off("odoo"))
    restored = derived_database_name(target.database, f"restore_{stamp.lower()}")
    aside = (derived_database_name(target.database, f"pre_restore_{stamp.lower()}")
             if target.live_database_exists else None)

    def local(stored: str) -> str:
        return f"{local_dir}/{stored}"

    plain: dict[str, str] = {}  # plain part name -> local path of its plain bytes
    steps: list[PlannedStep] = [PlannedStep(RestoreStep.VERIFY, ())]  # decided above: the set is intact
    for part in m.parts:
        name = plain_part_name(part.name)
        if name not in RESTORED_PARTS:
            continue
        if m.encrypted and identity_file:  # preflight refused an encrypted set without an identity
            plain[name] = local(name)
            steps.append(PlannedStep(RestoreStep.DECRYPT, (age_decrypt(identity_file, local(part.name), plain[name]),),
                                     part.name))
        else:
            plain[name] = local(part.name)

    dump = m.part(DUMP_PART)
    if dump is None:  # unreachable: a valid manifest names the dump
        raise ValueError(f"manifest of {m.backup_id} names no dump")
    steps.append(PlannedStep(RestoreStep.LOAD_DATABASE, (
        drop_database(db, target.user, restored),  # a leftover of an interrupted attempt
        create_database(db, target.user, restored),
        copy_dump_in(stack, plain[DUMP_PART]),
        pg_restore(db, target.user, restored, target.jobs),
        remove_in_container(db, RESTORE_DUMP_IN_CONTAINER),
    ), dump.name))
    filestore = m.part(FILESTORE_PART)
    if filestore is not None:
        steps.append(PlannedStep(RestoreStep.UNPACK_FILESTORE,
                                 unpack_filestore(odoo, restored, plain[FILESTORE_PART]), filestore.name))
    # "move", not "copy": pg_restore carries ir_config_parameter as it was and nothing here regenerates
    # database.uuid/database.secret (Odoo's copy does); this step proves it by the uuid.
    steps.append(PlannedStep(RestoreStep.KEEP_IDENTITY, (database_uuid_query(db, target.user, restored),)))
    # The filestores first, the databases last in one transaction: if the rename fails (a connection left
    # on the live database), the moves are undone and nothing has changed.
    moves = swap_filestores(odoo, target.database, restored, aside)
    steps.append(PlannedStep(
        RestoreStep.SWAP_IN,
        (*(do for do, _ in moves), swap_databases(db, target.user, target.database, restored, aside)),
        undo=(*(undo for _, undo in moves), None),
    ))
    decrypted = tuple(path for path in plain.values() if m.encrypted)
    cleanup = (
        remove_in_container(db, RESTORE_DUMP_IN_CONTAINER),
        *((remove_local(*decrypted),) if decrypted else ()),
        *((remove_local(identity_file),) if identity_file else ()),
    )
    return RestorePlan(m, restored, aside, tuple(steps), cleanup)


def choose_backup(sets: Sequence[RemoteSet], source: str) -> str | RestoreFailure:
    """The backup id `source` names among the sets of one database as Spaces lists them: `latest` is the
    newest complete set (by its id's time: a set without a manifest, or with a part missing or differing
    from the manifest, is never the latest); a backup id must be there and complete. Otherwise why not."""
    complete = [s for s in sets if s.completeness.complete]
    if source == "latest":
        if not complete:
            seen = f" ({len(sets)} incomplete: {', '.join(s.backup_id for s in sets)})" if sets else ""
            return RestoreFailure(RestoreFailureKind.NO_BACKUP, f"no complete backup in Spaces to restore{seen}")
        return max(complete, key=lambda s: parse_backup_id(s.backup_id)).backup_id
    found = next((s for s in sets if s.backup_id == source), None)
    if found is None:
        return RestoreFailure(RestoreFailureKind.NO_BACKUP, f"backup {source} is not in Spaces")
    if found.completeness.complete:
        return source
    problem = found.completeness.problems[0]
    return RestoreFailure(_SET_PROBLEM_KINDS[problem.kind], f"backup {source}: {'; '.join(found.completeness.reasons)}",
                          problem.part)


def failure_for(step: PlannedStep, stderr: str) -> RestoreFailure:
    """The typed reason a command of this step failed."""
    tail = stderr.strip()[-300:]
    if step.step is RestoreStep.DECRYPT:
        # Checksums were verified before decrypting, so a damaged file never gets here: age's "no identity
        # matched" means the key, anything else an age file damaged before its checksum was taken.
        if "no identity matched" in stderr:
            return RestoreFailure(RestoreFailureKind.WRONG_AGE_KEY,
                                  f"the age identity given does not decrypt {step.part}: it was encrypted to "
                                  "another recipient", step.part)
        return RestoreFailure(RestoreFailureKind.CORRUPT_PART, f"age could not decrypt {step.part}: {tail}", step.part)
    return RestoreFailure(RestoreFailureKind.RESTORE_FAILED, f"{step.step.value} failed: {tail}", step.part)


def check_identity(manifest: Manifest, uuid_output: str) -> RestoreFailure | None:
    """After pg_restore: the restored database is the same business (same database.uuid)."""
    found = parse_database_uuid(uuid_output)
    if manifest.database_uuid is not None and found != manifest.database_uuid:
        return RestoreFailure(RestoreFailureKind.IDENTITY_CHANGED,
                              f"the restored database's database.uuid is {found!r}, the backup's was "
                              f"{manifest.database_uuid!r}")
    return None
