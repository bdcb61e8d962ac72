"""The restore drill on the droplet (`python3 -m firstboot.agent verify [--backup ID]`, `odoo-droplet backups
verify`, the weekly odoo-droplet-verify.timer): the shell around the pure core in firstboot/backup/drill.py.

One drill: the set (the one named, else the newest complete one in Spaces) is downloaded into
`Layout.backups_dir/drill/<id>/`, checked against its manifest (restore.preflight: every part's size and
SHA-256, the versions) and restored into a scratch database `<database>_drill_<stamp>` (never the business's:
`scratch_database` refuses any name the settings serve), neutralized (`odoo neutralize`: no mail, no crons),
its row counts compared with the manifest's and every attachment's file checked in the filestore archive
(the sha1 of its bytes against `ir_attachment.checksum`). The scratch database is dropped and the download
removed whatever happened, and the result goes to Spaces beside the set (`verification.json`: time, passed,
problems), where `odoo-droplet backups` and `status` read it as "verified".

Every command is a `backup.commands.Command` run by the `Processes` of firstboot/backups.py (the tests
replace it); the download goes through `fetch` (the tests replace it too).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import shutil
import tarfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from firstboot.backup.commands import Command, Stack
from firstboot.backup.drill import DrillPlan, DrillResult, judge_drill, plan_drill, serialize_drill
from firstboot.backup.ids import parse_backup_id
from firstboot.backup.inventory import RemoteSet
from firstboot.backup.keys import FILESTORE_PART, MANIFEST_NAME, backup_part_key, verification_key
from firstboot.backup.manifest import Manifest
from firstboot.backup.queries import (
    StoredAttachment,
    odoo_version_command,
    parse_attachments,
    parse_odoo_version,
    parse_row_counts,
    parse_server_version,
    server_version_query,
)
from firstboot.backup.restore import RestoreRefused, RestoreTarget, preflight
from firstboot.backups import COMMAND_TIMEOUT, QUERY_TIMEOUT, BackupWorld, local_listing, read_remote_sets
from firstboot.spaces import Spaces, SpacesError, sigv4_headers
from firstboot.state import atomic_write

log = logging.getLogger("odoo-droplet")

DRILL_DIR = "drill"  # under Layout.backups_dir: the set being drilled, removed after
LAST_VERIFY = "last-verify.json"  # under Layout.backups_dir: the last drill's outcome, as printed
PASSED = "passed"
FAILED = "failed"
REFUSED = "refused"
CHUNK = 1 << 20


class VerifyRefused(Exception):
    """Nothing to drill, or no way to: no Spaces, managed PostgreSQL, no deploy, no complete backup: exit 2."""


@dataclass
class VerifyOutcome:
    """What `python3 -m firstboot.agent verify` prints (one JSON line) and `backups verify` relays."""

    backup_id: str | None
    status: str  # passed | failed | refused
    verified_at: str | None = None
    scratch_database: str | None = None
    attachments_checked: int = 0
    problems: list[str] = field(default_factory=list)
    record: str | None = None  # where the result is kept in Spaces; None when it could not be written

    def to_dict(self) -> dict[str, object]:
        return {"backup_id": self.backup_id, "status": self.status, "verified_at": self.verified_at,
                "scratch_database": self.scratch_database, "attachments_checked": self.attachments_checked,
                "problems": self.problems, "record": self.record}


# ---------------------------------------------------------------------------------------------- download

Fetch = Callable[[Spaces, str, Path], None]


def stream_object(sp: Spaces, key: str, dest: Path) -> None:
    """GET one object into `dest` (0600) in chunks: a 1 GB dump is never held in memory. The bytes are checked
    afterwards against the manifest, never trusted here."""
    import urllib.error
    import urllib.parse
    import urllib.request

    url = f"{sp.endpoint.rstrip('/')}/{sp.bucket}/{urllib.parse.quote(key, safe='/-_.~')}"
    last = ""
    for attempt in range(sp.attempts):
        headers = sigv4_headers("GET", url, sp.region, sp.access_key, sp.secret_key, b"", sp.now(), None)
        try:
            with urllib.request.urlopen(urllib.request.Request(url, headers=headers),  # noqa: S310
                                        timeout=sp.timeout) as r, _open_out(dest) as f:
                shutil.copyfileobj(r, f, CHUNK)
            return
        except urllib.error.HTTPError as e:
            if e.code == 404:
                raise SpacesError(f"GET {key}: 404 (the object is gone)") from None
            last = f"{e.code}"
            if e.code not in (429, 500, 502, 503, 504):
                break
        except (urllib.error.URLError, OSError) as e:
            last = str(e)
        if attempt + 1 < sp.attempts:
            sp.sleep(min(8.0, 0.5 * 2**attempt))
    raise SpacesError(f"GET {key}: {last}")


def _open_out(path: Path) -> IO[bytes]:
    return os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb")


# ---------------------------------------------------------------------------------------------- pure helpers

def choose_set(sets: list[RemoteSet], wanted: str | None) -> RemoteSet:
    """The set named, else the newest complete one. VerifyRefused when there is none; a named set that is
    incomplete is returned as it is (the drill then fails it with the reasons, and says so in Spaces)."""
    if wanted is not None:
        found = next((s for s in sets if s.backup_id == wanted), None)
        if found is None:
            raise VerifyRefused(f"no backup {wanted} in Spaces")
        return found
    complete = [s for s in sets if s.completeness.complete]
    if not complete:
        raise VerifyRefused("no complete backup in Spaces to verify")
    return max(complete, key=lambda s: parse_backup_id(s.backup_id))


def scratch_database(plan: DrillPlan, served: str) -> str:
    """The drill's database, checked never to be the one the settings serve (every command it drops)."""
    if plan.scratch_database == served:
        raise ValueError(f"the drill's scratch database would be {served!r}, the business's own: refused")
    for cmd in (*plan.setup, *plan.cleanup):
        if "dropdb" in cmd.stages[-1] and cmd.stages[-1][-1] == served:
            raise ValueError(f"the drill would drop {served!r}, the business's own database: refused")
    return plan.scratch_database


def filestore_sha1(archive: Path) -> dict[str, str]:
    """Each regular file of the filestore archive -> the sha1 of its bytes (Odoo's `checksum`). ValueError when
    the archive cannot be read."""
    out: dict[str, str] = {}
    try:
        with tarfile.open(archive, "r:") as tar:
            for member in tar:
                if not member.isfile():
                    continue
                f = tar.extractfile(member)
                if f is None:
                    continue
                h = hashlib.sha1(usedforsecurity=False)
                while chunk := f.read(CHUNK):
                    h.update(chunk)
                out[member.name] = h.hexdigest()
    except (tarfile.TarError, OSError) as e:
        raise ValueError(f"{archive.name} cannot be read as a tar archive: {e}") from None
    return out


def stamp_of(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")


# ---------------------------------------------------------------------------------------------- the drill

def refusal(world: BackupWorld) -> str | None:
    d = world.deploy
    if d.postgres.mode != "selfhost":
        return ("postgres.mode is managed: the database's backups are DigitalOcean's; this droplet drills none")
    if d.spaces is None:
        return "the settings name no Spaces bucket: there are no backups to verify"
    if world.state is None or not world.state.attempts:
        return "no deploy has run on this droplet yet: there is no stack to restore into"
    return None


def _fail(cmd: Command, res_code: int, stderr: str) -> str:
    return f"{cmd.purpose or cmd.stages[0][0]} failed (exit {res_code}): {stderr.strip()[-300:]}"


def _drill(world: BackupWorld, manifest_bytes: bytes, folder: Path, started: dt.datetime,
           outcome: VerifyOutcome) -> DrillResult:
    """Restore, neutralize, count, check; the scratch database dropped in every case (cleanup runs in
    `finally`). Returns the judgement (its `error` says where it stopped)."""
    stack = Stack(world.compose_base)
    db, odoo = stack.exec("db"), stack.exec("odoo")
    user = world.deploy.postgres.user

    def run(cmd: Command, timeout: float = COMMAND_TIMEOUT) -> tuple[bool, str, str]:
        res = world.procs.run(cmd, timeout=timeout)
        return res.ok, res.stdout, "" if res.ok else _fail(cmd, res.returncode, res.stderr)

    ok, out, err = run(odoo_version_command(odoo), QUERY_TIMEOUT)
    odoo_version = parse_odoo_version(out) if ok else None
    ok2, out2, err2 = run(server_version_query(db, user, world.database), QUERY_TIMEOUT)
    pg_version = parse_server_version(out2) if ok2 else None
    listing = local_listing(folder)
    if odoo_version is None or pg_version is None:
        raise _Stop(err or err2)
    target = RestoreTarget(world.database, user, odoo_version, pg_version, live_database_exists=True,
                           jobs=max(1, min(4, os.cpu_count() or 1)))
    checked = preflight(manifest_bytes, listing, target, None)
    if isinstance(checked, RestoreRefused):
        raise _Stop("; ".join(str(f) for f in checked.failures))
    manifest: Manifest = checked
    plan = plan_drill(manifest, stack, user, str(folder), stamp_of(started), target.jobs)
    outcome.scratch_database = scratch_database(plan, world.database)
    error: str | None = None
    counts: dict[str, int] = {}
    attachments: list[StoredAttachment] = []
    member_sha1: dict[str, str] = {}
    try:
        for cmd in plan.setup:
            ok, _, err = run(cmd)
            if not ok:
                error = err
                break
        if error is None:
            ok, out, err = run(plan.row_counts, QUERY_TIMEOUT)
            counts = parse_row_counts(out) if ok else {}
            error = None if ok else err
        if error is None:
            ok, out, err = run(plan.attachments, QUERY_TIMEOUT)
            attachments = parse_attachments(out) if ok else []
            error = None if ok else err
        filestore = manifest.part(FILESTORE_PART)
        if error is None and filestore is not None:
            member_sha1 = filestore_sha1(folder / filestore.name)
    except ValueError as e:
        error = str(e)
    finally:
        for cmd in plan.cleanup:  # always: the scratch database never stays
            ok, _, err = run(cmd, QUERY_TIMEOUT)
            if not ok:
                outcome.problems.append(f"cleanup: {err}")
                log.error("drill cleanup: %s", err)
    return judge_drill(manifest, world.now(), counts, attachments, member_sha1, error)


class _Stop(Exception):
    """The drill stopped before restoring anything (the set does not check, the stack does not answer)."""


def verify(world: BackupWorld, backup_id: str | None = None, fetch: Fetch = stream_object) -> VerifyOutcome:
    """One drill, recorded in Spaces. VerifyRefused when there is nothing to drill (exit 2); otherwise an
    outcome `passed` (exit 0) or `failed` with every problem named (exit 1)."""
    why = refusal(world)
    if why:
        raise VerifyRefused(why)
    sp = world.spaces()
    if sp is None:
        raise VerifyRefused("Spaces is not reachable from this droplet")
    database = world.database
    try:
        chosen = choose_set(read_remote_sets(sp, database), backup_id)
    except SpacesError as e:
        raise VerifyRefused(f"Spaces: {e}") from None
    started = world.now()
    outcome = VerifyOutcome(chosen.backup_id, FAILED)
    folder = world.layout.backups_dir / DRILL_DIR / chosen.backup_id
    shutil.rmtree(folder.parent, ignore_errors=True)  # what an interrupted drill left
    folder.mkdir(parents=True, mode=0o700)
    result: DrillResult | None = None
    stop: str | None = None
    try:
        manifest = chosen.completeness.manifest
        if not chosen.completeness.complete or manifest is None:
            raise _Stop("the set in Spaces is not complete: " + "; ".join(chosen.completeness.reasons))
        for part in manifest.parts:
            fetch(sp, backup_part_key(database, chosen.backup_id, part.name), folder / part.name)
        fetch(sp, backup_part_key(database, chosen.backup_id, MANIFEST_NAME), folder / MANIFEST_NAME)
        result = _drill(world, (folder / MANIFEST_NAME).read_bytes(), folder, started, outcome)
    except _Stop as e:
        stop = str(e)
    except (SpacesError, OSError, ValueError) as e:
        stop = f"{type(e).__name__}: {e}" if not isinstance(e, SpacesError) else f"Spaces: {e}"
    finally:
        shutil.rmtree(folder.parent, ignore_errors=True)
    when = world.now()
    if result is None:
        problems = [stop or "the drill stopped"]
        passed, checked = False, 0
        record = _record_doc(chosen.backup_id, when, False, problems + outcome.problems, 0)
    else:
        problems = result.problems()
        passed, checked = result.passed and not outcome.problems, result.attachments.checked
        record = serialize_drill(result) if not outcome.problems else _record_doc(
            chosen.backup_id, when, False, problems + outcome.problems, checked)
    outcome.status = PASSED if passed else FAILED
    outcome.verified_at = when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    outcome.attachments_checked = checked
    outcome.problems = problems + outcome.problems
    key = verification_key(database, chosen.backup_id)
    try:
        sp.put(key, record, "application/json")
        outcome.record = key
    except SpacesError as e:
        outcome.problems.append(f"the result could not be recorded in Spaces ({key}): {e}")
    (log.info if passed else log.error)("drill of %s: %s%s", chosen.backup_id, outcome.status,
                                        "" if passed else ": " + "; ".join(outcome.problems))
    return outcome


def _record_doc(backup_id: str, when: dt.datetime, passed: bool, problems: list[str], checked: int) -> bytes:
    """verification.json for a drill that stopped before a judgement (same shape as drill.serialize_drill)."""
    doc = {"backup_id": backup_id, "verified_at": when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
           "passed": passed, "problems": problems, "attachments_checked": checked}
    return (json.dumps(doc, sort_keys=True, indent=2) + "\n").encode()


def record_verify(world: BackupWorld, outcome: VerifyOutcome) -> None:
    atomic_write(world.layout.backups_dir / LAST_VERIFY, json.dumps(outcome.to_dict(), indent=2) + "\n", 0o600)
