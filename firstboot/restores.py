"""Restoring a backup on the droplet: the shell around the pure plan in firstboot/backup/restore.py.

Used twice: at first boot (firstboot/steps/restore.py, `database.source: latest` or a backup id, when the
database does not exist yet) and by the operator's `restore` (`python3 -m firstboot.agent restore BACKUP`,
below: a safety backup first, the restore, every gate, the safety backup put back if a gate fails).

The order never serves an empty or half-restored database:

1. the set is chosen from a Spaces listing (`latest`: the newest complete one; an id: it must be there and
   complete) or found in this droplet's own backups outbox (a safety backup not uploaded yet);
2. the manifest and every part it names are downloaded into `Layout.backups_dir/restore/<id>/`, and their
   sizes and SHA-256 checked against the manifest BEFORE anything reads them (`restore.plan_restore` refuses
   otherwise, naming the part), as are the Odoo series (both versions named) and the PostgreSQL major;
3. `pg_restore --jobs --no-owner` as the Odoo role into a NEW database, the filestore unpacked under that
   database's name, database.uuid compared with the manifest's (kept: "move"), the counted tables' rows
   compared with the manifest's;
4. only then the swap: the restored database takes the live name (the live one, if any, renamed aside).

A failure at 2 or 3 leaves the live database as it was (at first boot: none, so install never runs on it)
and drops what the restore made. Every command is a `backup.commands.Command` run by `Processes` (argv as
data; PostgreSQL reached over the db container's socket as the role: no password anywhere).
"""

from __future__ import annotations

import datetime as dt
import logging
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from firstboot.backup.checks import compare_row_counts
from firstboot.backup.commands import (
    ODOO_DATA_DIR,
    POSTGRES_MAINTENANCE_DB,
    Command,
    Stack,
    drop_database,
    filestore_dir,
)
from firstboot.backup.completeness import StoredObject
from firstboot.backup.failures import RestoreFailure, RestoreFailureKind
from firstboot.backup.ids import BACKUP_TIME_FORMAT, is_backup_id
from firstboot.backup.keys import MANIFEST_NAME, PLAIN_PARTS, backup_part_key, manifest_key, plain_part_name
from firstboot.backup.manifest import ManifestError, parse_manifest
from firstboot.backup.queries import (
    odoo_version_command,
    parse_odoo_version,
    parse_row_counts,
    parse_server_version,
    row_counts_query,
    server_version_query,
)
from firstboot.backup.restore import (
    RestorePlan,
    RestoreRefused,
    RestoreStep,
    RestoreTarget,
    check_identity,
    choose_backup,
    failure_for,
    plan_restore,
)
from firstboot.backups import COMMAND_TIMEOUT, QUERY_TIMEOUT, Processes, local_listing, read_remote_sets
from firstboot.config import Deploy
from firstboot.contract.layout import Layout
from firstboot.spaces import Spaces, SpacesError

log = logging.getLogger("odoo-droplet")


class RestoreError(Exception):
    """The restore was refused or failed; the live database (if any) is as it was. Every reason, typed."""

    def __init__(self, failures: Sequence[RestoreFailure]) -> None:
        self.failures = tuple(failures)
        self.backup_id: str | None = None  # the set it concerned, once chosen
        super().__init__("; ".join(str(f) for f in self.failures))

    @property
    def kind(self) -> RestoreFailureKind:
        return self.failures[0].kind

    def to_list(self) -> list[dict[str, Any]]:
        return [{"kind": f.kind.value, "detail": f.detail, "part": f.part} for f in self.failures]


def _fail(kind: RestoreFailureKind, detail: str, part: str | None = None) -> RestoreError:
    return RestoreError([RestoreFailure(kind, detail, part)])


@dataclass
class RestoreWorld:
    """What a restore acts on; the agent builds it (`restore_world`), the tests from fakes."""

    layout: Layout
    deploy: Deploy
    procs: Processes
    spaces: Callable[[], Spaces | None]
    now: Callable[[], dt.datetime]
    compose_base: tuple[str, ...]
    jobs: int = 2  # pg_restore --jobs: the droplet's CPUs

    @property
    def database(self) -> str:
        return self.deploy.odoo.database

    @property
    def user(self) -> str:
        return self.deploy.postgres.user

    @property
    def stack(self) -> Stack:
        return Stack(self.compose_base)

    @property
    def download_dir(self) -> Path:
        return self.layout.backups_dir / "restore"


@dataclass
class RestoreOutcome:
    """What a restore did: recorded in deploy_status.json (`database`) and printed by the operator's restore."""

    source: str
    backup_id: str
    restored_rows: dict[str, int]
    database_uuid: str | None
    backup_odoo_version: str
    restored_database: str  # the name pg_restore filled before the swap
    aside_database: str | None  # the live database renamed aside (operator's restore); None at first boot
    seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "backup_id": self.backup_id, "restored_rows": self.restored_rows,
                "database_uuid": self.database_uuid, "backup_odoo_version": self.backup_odoo_version,
                "restored_database": self.restored_database, "aside_database": self.aside_database,
                "seconds": self.seconds, **self.extra}


def stamp_for(now: dt.datetime) -> str:
    """Names the restore's databases (`<db>_restore_<stamp>`): a resumed restore finds them again."""
    return now.astimezone(dt.UTC).strftime(BACKUP_TIME_FORMAT)


# ---------------------------------------------------------------------------------------------- the set

def _spaces(world: RestoreWorld) -> Spaces:
    sp = world.spaces()
    if sp is None:
        raise _fail(RestoreFailureKind.NO_BACKUP, "this droplet has no Spaces bucket or keys: no backup can be read")
    return sp


def choose(world: RestoreWorld, source: str) -> str:
    """The backup id `source` means. A backup id still in this droplet's outbox is taken as it is there."""
    if is_backup_id(source) and (world.layout.backup_pending_dir / source / MANIFEST_NAME).is_file():
        return source
    try:
        chosen = choose_backup(read_remote_sets(_spaces(world), world.database), source)
    except SpacesError as e:
        raise _fail(RestoreFailureKind.NO_BACKUP, f"Spaces could not be listed: {e}") from None
    if isinstance(chosen, RestoreFailure):
        raise RestoreError([chosen])
    return chosen


def fetch(world: RestoreWorld, backup_id: str) -> tuple[bytes | None, dict[str, StoredObject], Path, bool]:
    """(manifest bytes, the local files' sizes and SHA-256, their folder, downloaded here?). A part Spaces
    does not hold is simply absent: the plan's preflight names it. Nothing is trusted yet."""
    pending = world.layout.backup_pending_dir / backup_id
    if (pending / MANIFEST_NAME).is_file():
        return (pending / MANIFEST_NAME).read_bytes(), local_listing(pending), pending, False
    sp = _spaces(world)
    dest = world.download_dir / backup_id
    shutil.rmtree(dest, ignore_errors=True)  # what an interrupted download left
    dest.mkdir(parents=True, mode=0o700)
    try:
        manifest_bytes = sp.get(manifest_key(world.database, backup_id))
        if manifest_bytes is None:
            return None, {}, dest, True
        try:
            parts = parse_manifest(manifest_bytes).parts
        except ManifestError:
            return manifest_bytes, {}, dest, True  # the plan says what is wrong with it
        unknown = [p.name for p in parts if plain_part_name(p.name) not in PLAIN_PARTS]
        if unknown:
            raise _fail(RestoreFailureKind.INCOMPLETE, f"the manifest names parts no backup has: {', '.join(unknown)}",
                        unknown[0])
        for part in parts:
            log.info("restore: downloading %s of %s (%d bytes)", part.name, backup_id, part.size)
            sp.get_file(backup_part_key(world.database, backup_id, part.name), dest / part.name)
    except SpacesError as e:
        shutil.rmtree(dest, ignore_errors=True)
        raise _fail(RestoreFailureKind.INCOMPLETE, f"backup {backup_id} could not be downloaded: {e}") from None
    return manifest_bytes, local_listing(dest), dest, True


# ---------------------------------------------------------------------------------------------- running it

def _run(world: RestoreWorld, cmd: Command, timeout: float = COMMAND_TIMEOUT) -> tuple[bool, str, str]:
    res = world.procs.run(cmd, timeout=timeout)
    return res.ok, res.stdout, res.stderr


def target_versions(world: RestoreWorld, odoo_running: bool) -> tuple[str, str]:
    """This droplet's Odoo version (from the image being deployed) and PostgreSQL version."""
    stack = world.stack
    odoo = stack.exec("odoo") if odoo_running else stack.one_off("odoo")
    ok, out, err = _run(world, odoo_version_command(odoo), QUERY_TIMEOUT)
    try:
        if not ok:
            raise ValueError(err.strip()[-300:])
        odoo_version = parse_odoo_version(out)
    except ValueError as e:
        raise _fail(RestoreFailureKind.RESTORE_FAILED, f"cannot read this droplet's Odoo version: {e}") from None
    ok, out, err = _run(world, server_version_query(stack.exec("db"), world.user, POSTGRES_MAINTENANCE_DB),
                        QUERY_TIMEOUT)
    try:
        if not ok:
            raise ValueError(err.strip()[-300:])
        postgres_version = parse_server_version(out)
    except ValueError as e:
        raise _fail(RestoreFailureKind.RESTORE_FAILED, f"cannot read this droplet's PostgreSQL version: {e}") from None
    return odoo_version, postgres_version


def _count_rows(world: RestoreWorld, plan: RestorePlan) -> dict[str, int]:
    """The counted tables of the restored copy, which must hold the manifest's rows (before the swap)."""
    tables = tuple(plan.manifest.row_counts)
    if not tables:
        return {}
    ok, out, err = _run(world, row_counts_query(world.stack.exec("db"), world.user, plan.restored_database, tables),
                        QUERY_TIMEOUT)
    if not ok:
        raise _fail(RestoreFailureKind.RESTORE_FAILED, f"the restored database cannot be counted: {err.strip()[-300:]}")
    counts = parse_row_counts(out)
    diff = compare_row_counts(plan.manifest.row_counts, counts)
    if not diff.passed:
        raise _fail(RestoreFailureKind.RESTORE_FAILED, "the restored database does not hold the manifest's rows: "
                    + "; ".join(str(d) for d in diff.differences))
    return counts


def _discard(world: RestoreWorld, plan: RestorePlan, odoo_running: bool) -> None:
    """What a failed restore made (before its swap): the new database and its filestore."""
    stack = world.stack
    odoo = stack.exec("odoo") if odoo_running else stack.one_off("odoo")
    for cmd in (drop_database(stack.exec("db"), world.user, plan.restored_database),
                Command(((*odoo, "rm", "-rf", "--", filestore_dir(plan.restored_database, ODOO_DATA_DIR)),),
                        purpose=f"remove the filestore of {plan.restored_database}")):
        ok, _, err = _run(world, cmd, QUERY_TIMEOUT)
        if not ok:
            log.warning("restore: %s failed: %s", cmd.purpose, err.strip()[-200:])


def run_plan(world: RestoreWorld, plan: RestorePlan, odoo_running: bool) -> tuple[dict[str, int], str | None]:
    """Run the plan's steps; (the restored rows, the database.uuid). RestoreError when a step fails, after
    undoing what that step did and dropping what the restore made: the live database is as it was."""
    rows: dict[str, int] = {}
    uuid: str | None = None
    swapped = False
    try:
        for step in plan.steps:
            if step.step is RestoreStep.SWAP_IN:
                rows = _count_rows(world, plan)  # the last check before anything live is touched
            if step.commands:
                log.info("restore: %s", step.step.value)
            for k, cmd in enumerate(step.commands):
                ok, out, err = _run(world, cmd)
                if not ok:
                    for undo in step.undo_after_failure(k):
                        if not _run(world, undo, QUERY_TIMEOUT)[0]:
                            log.error("restore: could not undo: %s", undo.purpose)
                    raise RestoreError([failure_for(step, err)])
                if step.step is RestoreStep.KEEP_IDENTITY:
                    problem = check_identity(plan.manifest, out)
                    if problem:
                        raise RestoreError([problem])
                    uuid = out.strip() or None
            swapped = step.step is RestoreStep.SWAP_IN
    except RestoreError:
        if not swapped:
            _discard(world, plan, odoo_running)
        raise
    finally:
        for cmd in plan.cleanup:
            _run(world, cmd, QUERY_TIMEOUT)
    return rows, uuid


def restore_set(world: RestoreWorld, source: str, *, live_exists: bool, odoo_running: bool,
                stamp: str | None = None) -> RestoreOutcome:
    """Choose, fetch, verify and restore the set `source` names into the database Odoo serves. At first boot
    `live_exists` is False (nothing to move aside); Odoo must not be serving the live database (`odoo_running`
    only says where the filestore commands run)."""
    t0 = world.now()
    stamp = stamp or stamp_for(t0)
    backup_id = choose(world, source)
    log.info("restore: %s is backup %s", source, backup_id)
    try:
        return _restore_chosen(world, source, backup_id, live_exists=live_exists, odoo_running=odoo_running,
                               stamp=stamp, started=t0)
    except RestoreError as e:
        e.backup_id = backup_id
        raise


def _restore_chosen(world: RestoreWorld, source: str, backup_id: str, *, live_exists: bool, odoo_running: bool,
                    stamp: str, started: dt.datetime) -> RestoreOutcome:
    manifest_bytes, listing, folder, downloaded = fetch(world, backup_id)
    try:
        odoo_version, postgres_version = target_versions(world, odoo_running)
        target = RestoreTarget(world.database, world.user, odoo_version, postgres_version, live_exists,
                               max(1, world.jobs))
        plan = plan_restore(manifest_bytes, listing, target, world.stack, str(folder), stamp,
                            odoo_running=odoo_running)
        if isinstance(plan, RestoreRefused):
            raise RestoreError(plan.failures)
        rows, uuid = run_plan(world, plan, odoo_running)
    finally:
        if downloaded:
            shutil.rmtree(folder, ignore_errors=True)
    seconds = round((world.now() - started).total_seconds(), 3)
    log.info("restore: backup %s is now database %s (%s rows counted) in %.0fs", backup_id, world.database,
             sum(rows.values()), seconds)
    return RestoreOutcome(source, backup_id, rows, uuid, plan.manifest.odoo_version, plan.restored_database,
                          plan.aside_database, seconds)


def restore_refusal(deploy: Deploy) -> str | None:
    """Why this droplet cannot restore at all (the settings check the same; a hand-made deploy.json may not)."""
    if deploy.postgres.mode != "selfhost":
        return ("postgres.mode is managed: the database is the cluster's; restore it from DigitalOcean's "
                "backups, not on the droplet")
    if deploy.spaces is None:
        return "the settings name no Spaces bucket: backups are read from Spaces"
    return None



# ---------------------------------------------------------------------------------------------- the operator's

RESTORED, PUT_BACK, FAILED, REFUSED = "restored", "put back", "failed", "refused"
# Refused before anything changed, because of what was asked (exit 2); anything else is a failure (exit 1).
REFUSED_KINDS = frozenset({RestoreFailureKind.NO_BACKUP, RestoreFailureKind.VERSION_MISMATCH,
                           RestoreFailureKind.POSTGRES_TOO_NEW, RestoreFailureKind.NO_AGE_KEY})


class SafetyBackupRefused(Exception):
    """This droplet takes no backups (managed PostgreSQL, no Spaces): nothing is restored without one."""


@dataclass
class OperatorHooks:
    """The side effects of `restore` besides the restore itself; firstboot/cli.py wires the real ones."""

    safety_backup: Callable[[], str]  # takes one (uploaded, or kept in the outbox) and gives its id; raises
    stop_odoo: Callable[[], bool]
    start_odoo: Callable[[], bool]
    gates: Callable[[], tuple[bool, list[dict[str, Any]]]]  # every gate, in rounds: (all passed, results)


def operator_restore(world: RestoreWorld, source: str, hooks: OperatorHooks) -> tuple[dict[str, Any], int]:
    """`python3 -m firstboot.agent restore BACKUP`: a safety backup of the live database first; Odoo stopped;
    BACKUP restored into a new database and swapped in (the live one renamed aside); Odoo started; every gate.
    A gate failing puts the safety backup back the same way (and runs the gates again). The JSON
    `{"backup_id", "safety_backup_id", "status", "gates", ...}` and the exit status: 0 restored and every gate
    passed, 1 failed (the live database as it was, or the safety backup put back), 2 refused (no such backup,
    another Odoo series, a droplet that takes no backups) with nothing changed."""
    result: dict[str, Any] = {"backup_id": None, "safety_backup_id": None, "status": FAILED, "gates": [],
                              "problems": []}

    def done(status: str, code: int, *problems: str) -> tuple[dict[str, Any], int]:
        result["status"] = status
        result["problems"] += list(problems)
        return result, code

    try:
        safety = hooks.safety_backup()
    except SafetyBackupRefused as e:
        return done(REFUSED, 2, f"no safety backup, so no restore: {e}")
    except Exception as e:  # noqa: BLE001 - whatever stopped it, nothing was restored
        return done(FAILED, 1, f"the safety backup failed, so nothing was restored: {e}")
    result["safety_backup_id"] = safety
    log.info("restore: safety backup %s taken", safety)
    stamp = stamp_for(world.now())
    if not hooks.stop_odoo():
        hooks.start_odoo()
        return done(FAILED, 1, "Odoo could not be stopped: nothing was restored")
    try:
        outcome = restore_set(world, source, live_exists=True, odoo_running=False, stamp=stamp)
    except RestoreError as e:
        result["backup_id"] = e.backup_id
        started = hooks.start_odoo()
        code = 2 if e.kind in REFUSED_KINDS else 1
        return done(REFUSED if code == 2 else FAILED, code, *(str(f) for f in e.failures),
                    *(() if started else ("Odoo did not start again: see `odoo-droplet doctor`",)))
    result.update(backup_id=outcome.backup_id, restored_rows=outcome.restored_rows,
                  database_uuid=outcome.database_uuid, aside_database=outcome.aside_database)
    passed, gates = hooks.gates() if hooks.start_odoo() else (False, [])
    result["gates"] = gates
    if passed:
        return done(RESTORED, 0)
    failing = ", ".join(g["name"] for g in gates if not g.get("passed")) or "Odoo did not start"
    log.error("restore: gates failed after restoring %s (%s): putting the safety backup %s back",
              outcome.backup_id, failing, safety)
    hooks.stop_odoo()
    try:
        back = restore_set(world, safety, live_exists=True, odoo_running=False, stamp=f"{stamp}_back")
    except RestoreError as e:
        hooks.start_odoo()
        return done(FAILED, 1, f"gates failed after restoring {outcome.backup_id}: {failing}",
                    f"the safety backup {safety} could NOT be put back: {e}; the database before the restore "
                    f"is kept as {outcome.aside_database}")
    back_passed, back_gates = hooks.gates() if hooks.start_odoo() else (False, [])
    result["put_back"] = {"backup_id": safety, "aside_database": back.aside_database, "gates": back_gates,
                          "passed": back_passed}
    return done(PUT_BACK, 1, f"gates failed after restoring {outcome.backup_id}: {failing}; the safety backup "
                f"{safety} was put back" + ("" if back_passed else " but its gates fail too"))
