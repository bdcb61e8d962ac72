"""Taking backups on the droplet and getting them to Spaces: the shell around the pure core in
firstboot/backup/ (`python3 -m firstboot.agent backup`, the backup timer, the publish timer's retries).

A set is taken into `Layout.backup_staging_dir/<backup id>/` in the consistent order of
firstboot/backup/backup_plan.py (the dump and its facts in one snapshot, then the filestore and sessions),
checked (every attachment the dump references has its file in the archive), described by a manifest written
LAST (partial file, fsync, rename), and only then renamed into `Layout.backup_pending_dir` — the backups'
outbox — in one rename. A run killed at any point leaves at most a staging folder, which the next run removes;
nothing in `pending/` is ever incomplete. From `pending/` a set is uploaded to `backups/<database>/<id>/`
(parts first, manifest last), Spaces is listed again, and the local copy is deleted only when that listing
shows every part with the manifest's size and SHA-256 (`upload.plan_upload`). When Spaces is unreachable the
set stays `pending upload` and odoo-droplet-publish.timer retries it. Then retention prunes Spaces
(`retention.plan_prune`), never a set still pending here.

Every command is a `backup.commands.Command` (argv data) run by `Processes`, which the tests replace.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import logging
import os
import selectors
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Protocol

from firstboot.backup.backup_plan import MANIFEST_PARTIAL, BackupPlan, facts_from_outputs
from firstboot.backup.checks import check_attachments_present
from firstboot.backup.commands import Command, Stack, ensure_dir, filestore_dir, sessions_dir, tar_list
from firstboot.backup.completeness import StoredObject, check_set
from firstboot.backup.ids import BackupKind, backup_id_for, is_backup_id
from firstboot.backup.inventory import RemoteSet, remote_sets, retention_records
from firstboot.backup.keys import (
    FILESTORE_PART,
    MANIFEST_NAME,
    VERIFICATION_NAME,
    backup_dir_key,
    backup_part_key,
    database_backups_prefix,
    set_listing,
)
from firstboot.backup.manifest import (
    Image,
    ManifestError,
    Part,
    build_manifest,
    parse_manifest,
    serialize_manifest,
)
from firstboot.backup.queries import SNAPSHOT_OPEN_SQL, parse_attachments, parse_snapshot_id
from firstboot.backup.retention import PrunePlan, RetentionPolicy, plan_prune
from firstboot.backup.schedule import BACKUP_TIMER, VERIFY_TIMER, render_backup_timer, render_verify_timer
from firstboot.backup.upload import BackupStatus, plan_upload
from firstboot.config import Deploy
from firstboot.contract.layout import Layout
from firstboot.spaces import FileBody, Spaces, SpacesError, content_type_for, verified_sha256
from firstboot.state import State, atomic_write

log = logging.getLogger("odoo-droplet")

COMMAND_TIMEOUT = 6 * 3600  # one dump or archive; the unit's own TimeoutStartSec bounds the whole run
QUERY_TIMEOUT = 300
FAILED = "failed"
SKIPPED = "skipped"


class BackupRefused(Exception):
    """This droplet does not take backups as asked (managed PostgreSQL, no Spaces, no deploy yet): exit 2."""


class BackupFailed(Exception):
    """The backup could not be taken, or would not be complete: nothing complete-looking was left: exit 1."""


# ---------------------------------------------------------------------------------------------- processes

@dataclass(frozen=True)
class ProcResult:
    returncode: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0


class Processes(Protocol):
    def run(self, cmd: Command, *, timeout: float) -> ProcResult: ...

    def hold_snapshot(self, cmd: Command, *, timeout: float) -> AbstractContextManager[str]: ...


def _open_out(path: str) -> IO[bytes]:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    return os.fdopen(fd, "wb")


class SubprocessProcesses:
    """Runs `Command`s with no shell: a pipeline's stages chained stdout to stdin, the first stdin and the last
    stdout from and to the files the command names (0600), stderr and captured stdout through temporary files
    (no pipe to fill up). A pipeline fails when any stage fails (pipefail); a stage outliving the deadline is
    killed with the rest."""

    def run(self, cmd: Command, *, timeout: float) -> ProcResult:
        with contextlib.ExitStack() as stack:
            procs: list[subprocess.Popen[bytes]] = []
            errs = [stack.enter_context(tempfile.TemporaryFile()) for _ in cmd.stages]
            captured = None if cmd.stdout else stack.enter_context(tempfile.TemporaryFile())
            prev: IO[bytes] | int = stack.enter_context(open(cmd.stdin, "rb")) if cmd.stdin else subprocess.DEVNULL
            try:
                for i, argv in enumerate(cmd.stages):
                    last = i == len(cmd.stages) - 1
                    out: IO[bytes] | int = subprocess.PIPE
                    if last and cmd.stdout:
                        out = stack.enter_context(_open_out(cmd.stdout))
                    elif last and captured is not None:
                        out = captured
                    p = subprocess.Popen(argv, stdin=prev, stdout=out, stderr=errs[i])
                    if not isinstance(prev, int) and i > 0:
                        prev.close()  # the next stage holds it now
                    procs.append(p)
                    if not last:
                        assert p.stdout is not None
                        prev = p.stdout
            except OSError as e:
                for p in procs:
                    p.kill()
                return ProcResult(127, "", str(e))
            deadline = time.monotonic() + timeout
            codes = []
            for p in procs:
                try:
                    codes.append(p.wait(timeout=max(0.1, deadline - time.monotonic())))
                except subprocess.TimeoutExpired:
                    for q in procs:
                        q.kill()
                    for q in procs:
                        q.wait()
                    return ProcResult(124, "", f"timed out after {timeout:g}s")
            stderr = b"".join(_read(e) for e in errs).decode(errors="replace")
            stdout = _read(captured).decode(errors="replace") if captured else ""
            return ProcResult(next((c for c in codes if c != 0), 0), stdout, stderr)

    @contextlib.contextmanager
    def hold_snapshot(self, cmd: Command, *, timeout: float) -> Iterator[str]:
        """psql kept open with `SNAPSHOT_OPEN_SQL` on its stdin; yields the exported snapshot id and ends the
        session (and the snapshot) when the block ends."""
        with tempfile.TemporaryFile() as err:
            p = subprocess.Popen(cmd.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err)
            assert p.stdin is not None and p.stdout is not None
            try:
                p.stdin.write(SNAPSHOT_OPEN_SQL.encode())
                p.stdin.flush()
                line = _readline(p.stdout, timeout)
                if not line:
                    raise BackupFailed(f"no snapshot from PostgreSQL: {_read(err).decode(errors='replace')[:300]}")
                yield parse_snapshot_id(line.decode(errors="replace"))
            finally:
                with contextlib.suppress(OSError):
                    p.stdin.close()
                try:
                    p.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()


def _read(f: IO[bytes]) -> bytes:
    f.seek(0)
    return f.read()


def _readline(stream: IO[bytes], timeout: float) -> bytes:
    sel = selectors.DefaultSelector()
    sel.register(stream, selectors.EVENT_READ)
    try:
        return stream.readline() if sel.select(timeout) else b""
    finally:
        sel.close()


# ---------------------------------------------------------------------------------------------- the world

@dataclass
class BackupWorld:
    """What a backup acts on; firstboot/cli.py builds it from the agent, the tests from fakes."""

    layout: Layout
    deploy: Deploy
    state: State | None  # the deploy's (tag served, deploy id, image digests); None: no deploy yet
    procs: Processes
    spaces: Callable[[], Spaces | None]
    now: Callable[[], dt.datetime]
    droplet_id: Callable[[], int]
    serving: Callable[[], bool | None] = lambda: None  # holds the reserved IP? None: cannot tell
    compose_base: tuple[str, ...] = ()

    @property
    def database(self) -> str:
        return self.deploy.odoo.database

    @property
    def policy(self) -> RetentionPolicy:
        b = self.deploy.backups
        return RetentionPolicy(b.daily, b.weekly, b.monthly, b.pre_upgrade_days)


@dataclass
class Outcome:
    """What `python3 -m firstboot.agent backup` prints (one JSON line) and `backup-now` relays."""

    backup_id: str | None
    status: str  # BackupStatus value, "failed" or "skipped"
    location: str | None
    problems: list[str] = field(default_factory=list)
    pruned: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return {"backup_id": self.backup_id, "status": self.status, "location": self.location,
                "problems": self.problems, "pruned": self.pruned}


def spaces_location(world: BackupWorld, backup_id: str) -> str:
    assert world.deploy.spaces is not None
    return f"s3://{world.deploy.spaces.bucket}/{backup_dir_key(world.database, backup_id)}"


# ---------------------------------------------------------------------------------------------- taking one

def refusal(world: BackupWorld) -> str | None:
    """Why this droplet takes no backup, or None."""
    d = world.deploy
    if d.postgres.mode != "selfhost":
        return ("postgres.mode is managed: the database's backups are DigitalOcean's (daily, point-in-time "
                "restore); this droplet does not dump it")
    if d.spaces is None:
        return "the settings name no Spaces bucket: backups go to Spaces, so none is taken"
    if world.state is None or not world.state.attempts:
        return "no deploy has run on this droplet yet: there is no database to back up"
    return None


def _run(world: BackupWorld, cmd: Command, timeout: float = COMMAND_TIMEOUT) -> ProcResult:
    res = world.procs.run(cmd, timeout=timeout)
    if not res.ok:
        raise BackupFailed(f"{cmd.purpose or cmd.stages[0][0]} failed (exit {res.returncode}): "
                           f"{res.stderr.strip()[-300:]}")
    return res


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def local_listing(folder: Path) -> dict[str, StoredObject]:
    """The set's files as `completeness` reads a listing (partial manifests left out)."""
    return {p.name: StoredObject(p.stat().st_size, sha256_file(p)) for p in sorted(folder.iterdir())
            if p.is_file() and p.name != MANIFEST_PARTIAL}


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def clear_staging(layout: Layout) -> list[str]:
    """What killed runs left (only ever in staging/: they never reached the rename). Called under the lock."""
    gone = []
    if layout.backup_staging_dir.is_dir():
        for p in sorted(layout.backup_staging_dir.iterdir()):
            shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)
            gone.append(p.name)
    return gone


def _image(world: BackupWorld) -> Image:
    assert world.state is not None
    tag = world.state.attempts[-1].tag
    digest = world.state.images.get(world.deploy.image_ref(tag=tag))
    ok = digest is not None and len(digest) == 71 and digest.startswith("sha256:")
    return Image(tag, digest if ok else None)


def take_set(world: BackupWorld, kind: BackupKind) -> tuple[str, Path]:
    """Take one complete set into pending/ and return (backup id, its folder). BackupFailed otherwise, with
    the staging folder removed; a process killed here leaves only a staging folder."""
    layout = world.layout
    started = world.now()
    backup_id = backup_id_for(started, kind)
    staging = layout.backup_staging_dir / backup_id
    final = layout.backup_pending_dir / backup_id
    if final.exists():
        raise BackupFailed(f"a backup {backup_id} already waits in {layout.backup_pending_dir}")
    for d in (layout.backup_staging_dir, layout.backup_pending_dir):
        d.mkdir(parents=True, exist_ok=True, mode=0o700)
    staging.mkdir(mode=0o700)
    assert world.state is not None
    plan = BackupPlan(backup_id, world.database, world.deploy.postgres.user, str(staging),
                      Stack(world.compose_base))
    try:
        odoo = plan.stack.exec("odoo")
        odoo_version = _run(world, plan.odoo_version(), QUERY_TIMEOUT).stdout
        server_version = _run(world, plan.server_version(), QUERY_TIMEOUT).stdout
        with world.procs.hold_snapshot(plan.snapshot_holder(), timeout=QUERY_TIMEOUT) as snapshot:
            _run(world, plan.dump(snapshot))
            facts = plan.facts(snapshot)
            modules = _run(world, facts.modules, QUERY_TIMEOUT).stdout
            uuid = _run(world, facts.database_uuid, QUERY_TIMEOUT).stdout
            rows = _run(world, facts.row_counts, QUERY_TIMEOUT).stdout
            attachments = _run(world, facts.attachments, QUERY_TIMEOUT).stdout
        # After the dump (backup_plan's step 5): every file the dump references is on disk by now.
        for folder in (filestore_dir(world.database), sessions_dir()):
            _run(world, ensure_dir(odoo, folder), QUERY_TIMEOUT)
        for archive in plan.archives():
            _run(world, archive)
        members = _run(world, tar_list(plan.path(FILESTORE_PART)), QUERY_TIMEOUT).stdout.splitlines()
        check = check_attachments_present([a.store_fname for a in parse_attachments(attachments)], members)
        if not check.ok:
            raise BackupFailed(f"the backup would not be complete: {check.message()}")
        parts = [Part(name, (staging / name).stat().st_size, sha256_file(staging / name)) for name in plan.part_names]
        manifest = build_manifest(backup_id, facts_from_outputs(
            plan, odoo_version=odoo_version, server_version=server_version, modules=modules, database_uuid=uuid,
            row_counts=rows, image=_image(world), droplet_id=world.droplet_id(), deploy_id=world.state.deploy_id,
        ), parts, started, world.now(), None)
        # The manifest LAST, and only whole: a partial file, synced, then renamed.
        partial = Path(plan.manifest_partial_path)
        with _open_out(str(partial)) as f:
            f.write(serialize_manifest(manifest))
            f.flush()
            os.fsync(f.fileno())
        partial.rename(plan.manifest_path)
        _fsync_dir(staging)
        state = check_set(manifest, local_listing(staging))
        if not state.complete:
            raise BackupFailed(f"the set does not check against its own manifest: {'; '.join(state.reasons)}")
    except (BackupFailed, ManifestError, ValueError, OSError) as e:
        shutil.rmtree(staging, ignore_errors=True)
        raise BackupFailed(str(e)) from None
    # Complete: into the outbox in one rename (same file system), so it is there whole or not at all.
    staging.rename(final)
    _fsync_dir(layout.backup_pending_dir)
    log.info("backup %s taken: %d bytes in %s", backup_id, manifest.size_bytes, final)
    return backup_id, final


# ---------------------------------------------------------------------------------------------- Spaces

def remote_objects(sp: Spaces, prefix: str) -> dict[str, StoredObject]:
    """Every object under `prefix` with its size and the SHA-256 Spaces vouches for (`verified_sha256`:
    empty when it cannot, which never equals a manifest's)."""
    out = {}
    for key, size in sp.list_sizes(prefix).items():
        headers = sp.head(key)
        if headers is not None:
            out[key] = StoredObject(size, verified_sha256(headers) or "")
    return out


def _upload_one(world: BackupWorld, sp: Spaces, folder: Path) -> Outcome:
    backup_id = folder.name
    manifest_bytes = (folder / MANIFEST_NAME).read_bytes()
    manifest = parse_manifest(manifest_bytes)
    database = manifest.database
    local = local_listing(folder)
    prefix = backup_dir_key(database, backup_id)

    def remote() -> dict[str, StoredObject]:
        return set_listing(remote_objects(sp, prefix), database, backup_id)

    plan = plan_upload(manifest, manifest_bytes, local, remote())
    if plan.problems:
        return Outcome(backup_id, BackupStatus.PENDING_UPLOAD.value, str(folder), list(plan.problems))
    for name in plan.upload:  # the parts, then the manifest
        sp.put_file(backup_part_key(database, backup_id, name), FileBody.of(folder / name), content_type_for(name))
    plan = plan_upload(manifest, manifest_bytes, local, remote())  # decided from a fresh listing, never hope
    if not plan.delete_local:
        return Outcome(backup_id, BackupStatus.PENDING_UPLOAD.value, str(folder),
                       ["Spaces does not show every part with the manifest's checksums yet", *plan.problems])
    shutil.rmtree(folder)
    log.info("backup %s uploaded to %s and checked; local copy removed", backup_id, spaces_location(world, backup_id))
    return Outcome(backup_id, BackupStatus.UPLOADED.value, spaces_location(world, backup_id))


def pending_ids(layout: Layout) -> list[str]:
    d = layout.backup_pending_dir
    return sorted(p.name for p in d.iterdir() if p.is_dir() and is_backup_id(p.name)) if d.is_dir() else []


def upload_pending(world: BackupWorld) -> dict[str, Outcome]:
    """Upload every set waiting in pending/, oldest first. Spaces down: they all stay, said once."""
    out: dict[str, Outcome] = {}
    ids = pending_ids(world.layout)
    sp = world.spaces() if ids else None
    for i, backup_id in enumerate(ids):
        folder = world.layout.backup_pending_dir / backup_id
        if sp is None:
            out[backup_id] = Outcome(backup_id, BackupStatus.PENDING_UPLOAD.value, str(folder), ["no Spaces"])
            continue
        try:
            out[backup_id] = _upload_one(world, sp, folder)
        except SpacesError as e:
            log.warning("Spaces unreachable: %d backup(s) wait in %s for odoo-droplet-publish.timer: %s",
                        len(ids) - i, world.layout.backup_pending_dir, e)
            for rest in ids[i:]:
                out[rest] = Outcome(rest, BackupStatus.PENDING_UPLOAD.value,
                                    str(world.layout.backup_pending_dir / rest), [f"Spaces: {e}"])
            break
        except (ManifestError, OSError) as e:
            log.error("backup %s in %s cannot be uploaded: %s", backup_id, folder, e)
            out[backup_id] = Outcome(backup_id, BackupStatus.INCOMPLETE.value, str(folder), [str(e)])
    return out


def read_remote_sets(sp: Spaces, database: str) -> list[RemoteSet]:
    objects = remote_objects(sp, database_backups_prefix(database))
    ids = {k.split("/")[2] for k in objects if k.count("/") >= 3}
    manifests = {i: sp.get(backup_part_key(database, i, MANIFEST_NAME)) for i in ids
                 if backup_part_key(database, i, MANIFEST_NAME) in objects}
    verifications = {i: sp.get(backup_part_key(database, i, VERIFICATION_NAME)) for i in ids
                     if backup_part_key(database, i, VERIFICATION_NAME) in objects}
    return remote_sets(database, objects, manifests, verifications)


def prune(world: BackupWorld, sp: Spaces) -> tuple[PrunePlan, list[str]]:
    """Apply retention to the sets in Spaces; a set still pending on this droplet is never touched (its
    remote half is what the next upload completes). The manifest goes first: a half-deleted set is never
    taken for a complete one."""
    sets = read_remote_sets(sp, world.database)
    plan = plan_prune(retention_records(sets), world.now(), world.policy)
    local = set(pending_ids(world.layout))
    deleted = []
    for backup_id in plan.delete:
        if backup_id in local:
            continue
        keys = sorted(sp.list_sizes(backup_dir_key(world.database, backup_id)),
                      key=lambda k: (not k.endswith("/" + MANIFEST_NAME), k))
        for key in keys:
            sp.delete(key)
        deleted.append(backup_id)
    if deleted:
        log.info("retention: pruned %s", ", ".join(deleted))
    return plan, deleted


# ---------------------------------------------------------------------------------------------- entry points

def backup(world: BackupWorld, kind: BackupKind) -> Outcome:
    """`python3 -m firstboot.agent backup`: take a set, upload what waits (this one included), prune."""
    why = refusal(world)
    if why:
        raise BackupRefused(why)
    if kind is BackupKind.SCHEDULED and world.serving() is False:
        log.info("scheduled backup skipped: this droplet does not hold the reserved IP (the serving one backs up)")
        return Outcome(None, SKIPPED, None, ["this droplet does not hold the reserved IP"])
    left = clear_staging(world.layout)
    if left:
        log.warning("removed what an interrupted backup left in staging: %s", ", ".join(left))
    try:
        backup_id, folder = take_set(world, kind)
    except BackupFailed as e:
        log.error("backup failed: %s", e)
        outcome = Outcome(None, FAILED, None, [str(e)])
        record_outcome(world.layout, outcome)
        raise
    outcome = upload_pending(world).get(backup_id) or Outcome(backup_id, BackupStatus.PENDING_UPLOAD.value,
                                                             str(folder))
    if outcome.status == BackupStatus.UPLOADED.value:
        sp = world.spaces()
        if sp is not None:
            try:
                _, outcome.pruned = prune(world, sp)
            except SpacesError as e:  # the backup is safe; pruning waits for the next run
                log.warning("retention not applied this time: %s", e)
    record_outcome(world.layout, outcome)
    return outcome


def record_outcome(layout: Layout, outcome: Outcome) -> None:
    atomic_write(layout.backup_last_json, json.dumps(outcome.to_dict(), indent=2) + "\n", 0o600)


def install_backup_timer(layout: Layout, deploy: Deploy, run: Callable[[tuple[str, ...]], bool]) -> bool:
    """Write the backup timer rendered from the settings, and the weekly restore drill's timer
    (firstboot/backup_verify.py), and enable both (`run` executes a command, True when it succeeded). A droplet
    that takes no backups (disabled, managed PostgreSQL, no Spaces) gets neither."""
    if not deploy.backups.enabled or deploy.postgres.mode != "selfhost" or deploy.spaces is None:
        return False
    atomic_write(layout.systemd_dir / BACKUP_TIMER, render_backup_timer(deploy.backups.schedule), 0o644)
    atomic_write(layout.systemd_dir / VERIFY_TIMER, render_verify_timer(), 0o644)
    return run(("systemctl", "daemon-reload")) and run(("systemctl", "enable", "--now", BACKUP_TIMER, VERIFY_TIMER))
