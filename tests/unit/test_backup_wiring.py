"""The backup wired on the droplet (firstboot/backups.py, `python3 -m firstboot.agent backup`), with the
processes and Spaces faked: what runs (argv as data), staging -> pending by one rename, a kill at any step
leaving no complete-looking set, Spaces down -> pending upload -> uploaded on retry and removed locally only
once a fresh listing matches, retention applied, and the timer rendered from the settings."""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from firstboot import cli as agent_cli
from firstboot.backup.commands import Command
from firstboot.backup.ids import BackupKind
from firstboot.backup.keys import MANIFEST_NAME
from firstboot.backup.manifest import parse_manifest
from firstboot.backup.queries import FIELD_SEPARATOR
from firstboot.backup.schedule import BACKUP_TIMER, check_schedule, render_backup_timer
from firstboot.backups import (
    BackupFailed,
    BackupRefused,
    BackupWorld,
    ProcResult,
    SubprocessProcesses,
    backup,
    install_backup_timer,
    pending_ids,
    prune,
    upload_pending,
)
from firstboot.config import BackupsSpec, Deploy, PostgresSpec, SpacesSpec
from firstboot.contract.layout import Layout
from firstboot.spaces import MD5_META, SHA256_META, FileBody, SpacesError
from firstboot.state import Attempt, State

T0 = dt.datetime(2026, 12, 2, 3, 0, 0, tzinfo=dt.UTC)
COMPOSE = ("docker", "compose", "-p", "odoo", "-f", "/etc/odoo-droplet/stack/docker-compose.yml")
SNAPSHOT = "00000003-0000001B-1"
FILES = ("ab/ab12", "cd/cd34")


class Killed(BaseException):
    """SIGKILL, as far as the code under test can tell: nothing after it runs, no cleanup."""


@dataclass
class FakeProcs:
    """Answers each command by what it is for; writes the bytes a dump or tar would. `kill_at` / `fail_at`:
    a purpose (substring) at which the process dies or the command fails."""

    attachments: tuple[str, ...] = FILES
    in_archive: tuple[str, ...] = FILES
    kill_at: str | None = None
    fail_at: str | None = None
    ran: list[Command] = field(default_factory=list)

    def run(self, cmd: Command, *, timeout: float) -> ProcResult:
        self.ran.append(cmd)
        what = cmd.purpose
        if self.kill_at and self.kill_at in what:
            if cmd.stdout:
                Path(cmd.stdout).write_bytes(b"half a dump")
            raise Killed
        if self.fail_at and self.fail_at in what:
            return ProcResult(1, "", f"{what}: no space left on device")
        if cmd.stdout:
            Path(cmd.stdout).write_bytes(f"bytes of {what}".encode())
            return ProcResult(0, "", "")
        argv = cmd.stages[-1]
        if "--version" in argv:
            return ProcResult(0, "Odoo Server 18.0-20260723\n", "")
        sql = argv[-1]
        if "server_version" in sql:
            return ProcResult(0, "16.4 (Debian 16.4-1)\n", "")
        if "count(*)" in sql:
            return ProcResult(0, f"res_partner{FIELD_SEPARATOR}42\nir_attachment{FIELD_SEPARATOR}2\n", "")
        if "ir_module_module" in sql:
            return ProcResult(0, f"base{FIELD_SEPARATOR}18.0.1.3\nweb{FIELD_SEPARATOR}18.0.1.0\n", "")
        if "database.uuid" in sql:
            return ProcResult(0, "3f1c1b8e-0000-4000-8000-000000000001\n", "")
        if "store_fname" in sql:
            return ProcResult(0, "".join(f"{f}{FIELD_SEPARATOR}{f.split('/')[1]}\n" for f in self.attachments), "")
        if argv[:2] == ("tar", "--list"):
            return ProcResult(0, "./\n" + "".join(f"./{f}\n" for f in self.in_archive), "")
        if "mkdir" in argv:
            return ProcResult(0, "", "")
        raise AssertionError(f"unexpected command: {cmd}")

    @contextlib.contextmanager
    def hold_snapshot(self, cmd: Command, *, timeout: float) -> Iterator[str]:
        self.ran.append(cmd)
        yield SNAPSHOT


class FakeSpaces:
    """The droplet's Spaces client in memory: ETag is the MD5 of what is held, as S3's; `down` refuses all."""

    def __init__(self) -> None:
        self.objects: dict[str, tuple[bytes, dict[str, str]]] = {}
        self.down = False
        self.corrupt_next_put = False
        self.puts: list[str] = []
        self.deleted: list[str] = []

    def _check(self) -> None:
        if self.down:
            raise SpacesError("PUT: 0 b'Connection refused'")

    def put_file(self, key: str, body: FileBody, content_type: str = "") -> None:
        self._check()
        data = body.path.read_bytes()
        if self.corrupt_next_put:  # what a broken proxy might store; S3's ETag then shows it
            data, self.corrupt_next_put = data + b"!", False
        self.objects[key] = (data, {SHA256_META: body.sha256, MD5_META: body.md5_hex})
        self.puts.append(key)

    def list_sizes(self, prefix: str) -> dict[str, int]:
        self._check()
        return {k: len(v[0]) for k, v in sorted(self.objects.items()) if k.startswith(prefix)}

    def head(self, key: str) -> dict[str, str] | None:
        self._check()
        if key not in self.objects:
            return None
        data, meta = self.objects[key]
        return {**meta, "etag": f'"{hashlib.md5(data).hexdigest()}"'}

    def get(self, key: str) -> bytes | None:
        self._check()
        return self.objects[key][0] if key in self.objects else None

    def delete(self, key: str) -> None:
        self._check()
        self.objects.pop(key, None)
        self.deleted.append(key)


@dataclass
class Clock:
    now: dt.datetime = T0

    def __call__(self) -> dt.datetime:
        return self.now


def deploy(**kw) -> Deploy:
    return Deploy(project="odoo", spaces=SpacesSpec(region="nyc3", bucket="acme-odoo"), **kw)


def world(tmp_path: Path, procs: FakeProcs | None = None, spaces: FakeSpaces | None = None,
          d: Deploy | None = None, clock: Clock | None = None, serving: bool | None = None) -> BackupWorld:
    state = State(deploy_id="deploy-20261201-120000", started_at="t", user_data=True, status="success",
                  attempts=[Attempt(tag="18.0")])
    sp = spaces if spaces is not None else FakeSpaces()
    return BackupWorld(Layout(tmp_path), d or deploy(), state, procs or FakeProcs(), lambda: sp,
                       clock or Clock(), lambda: 7, lambda: serving, COMPOSE)


def sets_in_spaces(sp: FakeSpaces) -> list[str]:
    return sorted({k.split("/")[2] for k in sp.objects})


# ---------------------------------------------------------------------------------------------- as data

def test_the_commands_are_argv_data_in_the_consistent_order_and_carry_no_secret(tmp_path):
    procs = FakeProcs()
    backup(world(tmp_path, procs), BackupKind.MANUAL)
    purposes = [c.purpose for c in procs.ran]
    order = ["read Odoo's version", "read PostgreSQL's version", "hold a snapshot of odoo", "dump database odoo",
             "list installed modules", "read the database uuid", "count rows in odoo",
             "list the stored attachments of odoo"]
    assert purposes[:len(order)] == order
    # the filestore and sessions after the dump (their folders made first), then the archive listed
    assert purposes.index("archive the filestore of odoo") > purposes.index("dump database odoo")
    assert purposes.index("archive the sessions") > purposes.index("archive the filestore of odoo")
    dump = next(c for c in procs.ran if c.purpose == "dump database odoo")
    assert dump.stages == ((*COMPOSE, "exec", "-T", "db", "pg_dump", "--format=custom", f"--snapshot={SNAPSHOT}",
                            "--username=odoo", "--dbname=odoo"),)
    assert dump.stdout.startswith(str(Layout(tmp_path).backup_staging_dir))  # written into staging
    tar = next(c for c in procs.ran if c.purpose == "archive the filestore of odoo")
    assert tar.stages == ((*COMPOSE, "exec", "-T", "odoo", "tar", "--create", "--file=-",
                           "--directory=/var/lib/odoo/filestore/odoo", "."),)
    for c in procs.ran:  # no password anywhere: PostgreSQL through the container's socket
        assert not any("password" in a.lower() or "PGPASSWORD" in a for a in c.arguments())


def test_the_real_runner_pipes_stages_and_writes_the_last_stdout_to_a_0600_file(tmp_path):
    out = tmp_path / "out.bin"
    cmd = Command((("printf", "abc\\n"), ("tr", "a-z", "A-Z")), stdout=str(out), purpose="t")
    assert SubprocessProcesses().run(cmd, timeout=10).ok
    assert out.read_bytes() == b"ABC\n" and out.stat().st_mode & 0o777 == 0o600
    failed = SubprocessProcesses().run(Command((("false",), ("cat",))), timeout=10)
    assert failed.returncode == 1  # pipefail: a failed first stage fails the pipeline


# ---------------------------------------------------------------------------------------------- staging -> pending -> Spaces

def test_a_backup_goes_staging_to_spaces_checked_then_leaves_the_droplet(tmp_path):
    sp = FakeSpaces()
    outcome = backup(world(tmp_path, spaces=sp), BackupKind.MANUAL)
    bid = "20261202T030000Z-manual"
    assert outcome.to_dict() == {"backup_id": bid, "status": "uploaded",
                                 "location": f"s3://acme-odoo/backups/odoo/{bid}/", "problems": [], "pruned": []}
    prefix = f"backups/odoo/{bid}/"
    assert sp.puts == [prefix + n for n in ("database.dump", "filestore.tar", "sessions.tar", MANIFEST_NAME)]
    manifest = parse_manifest(sp.objects[prefix + MANIFEST_NAME][0])
    assert manifest.kind.value == "manual" and manifest.row_counts == {"ir_attachment": 2, "res_partner": 42}
    assert manifest.deploy_id == "deploy-20261201-120000" and manifest.droplet_id == 7
    layout = Layout(tmp_path)
    assert pending_ids(layout) == [] and list(layout.backup_staging_dir.iterdir()) == []
    assert json.loads(layout.backup_last_json.read_text())["status"] == "uploaded"


@pytest.mark.parametrize("step", ["dump database", "list installed modules", "archive the filestore",
                                  "archive the sessions"])
def test_a_kill_at_any_step_leaves_no_complete_set_and_the_next_run_succeeds(tmp_path, step):
    sp = FakeSpaces()
    with pytest.raises(Killed):
        backup(world(tmp_path, FakeProcs(kill_at=step), sp), BackupKind.SCHEDULED)
    layout = Layout(tmp_path)
    assert pending_ids(layout) == [] and sp.objects == {}
    left = list(layout.backup_staging_dir.iterdir())
    assert len(left) == 1 and not (left[0] / MANIFEST_NAME).exists()  # never looks complete
    again = backup(world(tmp_path, FakeProcs(), sp, clock=Clock(T0 + dt.timedelta(hours=1))), BackupKind.SCHEDULED)
    assert again.status == "uploaded"
    assert list(layout.backup_staging_dir.iterdir()) == []  # what the killed run left is gone
    assert sets_in_spaces(sp) == ["20261202T040000Z-scheduled"]


def test_a_kill_after_the_manifest_but_before_the_rename_is_never_uploaded(tmp_path, monkeypatch):
    sp = FakeSpaces()
    real_rename = Path.rename

    def rename(self, target):
        if Path(target).parent.name == "pending":
            raise Killed
        return real_rename(self, target)

    monkeypatch.setattr(Path, "rename", rename)
    with pytest.raises(Killed):
        backup(world(tmp_path, spaces=sp), BackupKind.SCHEDULED)
    monkeypatch.setattr(Path, "rename", real_rename)
    layout = Layout(tmp_path)
    assert pending_ids(layout) == []
    assert upload_pending(world(tmp_path, spaces=sp)) == {} and sp.objects == {}


def test_a_failed_command_or_a_full_disk_fails_loudly_and_leaves_nothing(tmp_path):
    sp = FakeSpaces()
    with pytest.raises(BackupFailed, match="no space left on device"):
        backup(world(tmp_path, FakeProcs(fail_at="archive the filestore"), sp), BackupKind.MANUAL)
    layout = Layout(tmp_path)
    assert pending_ids(layout) == [] and list(layout.backup_staging_dir.iterdir()) == [] and sp.objects == {}
    assert json.loads(layout.backup_last_json.read_text())["status"] == "failed"


def test_an_attachment_missing_from_the_filestore_fails_the_backup(tmp_path):
    procs = FakeProcs(in_archive=("ab/ab12",))
    with pytest.raises(BackupFailed, match="cd/cd34"):
        backup(world(tmp_path, procs), BackupKind.MANUAL)
    assert pending_ids(Layout(tmp_path)) == []


def test_spaces_down_keeps_it_pending_then_the_retry_uploads_and_only_then_removes_it(tmp_path):
    sp = FakeSpaces()
    sp.down = True
    w = world(tmp_path, spaces=sp)
    outcome = backup(w, BackupKind.SCHEDULED)
    bid = "20261202T030000Z-scheduled"
    assert outcome.status == "pending upload" and outcome.backup_id == bid
    layout = Layout(tmp_path)
    assert pending_ids(layout) == [bid] and (layout.backup_pending_dir / bid / MANIFEST_NAME).exists()
    # Spaces back, but it stores a damaged copy of the first part: the listing does not match, the set stays.
    sp.down, sp.corrupt_next_put = False, True
    first = upload_pending(w)[bid]
    assert first.status == "pending upload" and pending_ids(layout) == [bid]
    # the next retry re-uploads what differs, sees every checksum match, and only then deletes locally
    second = upload_pending(w)[bid]
    assert second.status == "uploaded" and pending_ids(layout) == []
    assert sp.puts.count(f"backups/odoo/{bid}/database.dump") == 2
    assert sp.puts[-1].endswith(MANIFEST_NAME)


def test_the_publish_timer_retries_pending_backups(tmp_path, monkeypatch):
    sp = FakeSpaces()
    sp.down = True
    w = world(tmp_path, spaces=sp)
    backup(w, BackupKind.SCHEDULED)
    monkeypatch.setattr(agent_cli, "backup_world", lambda agent: w)
    layout = Layout(tmp_path)
    assert agent_cli.retry_pending_backups(layout, agent=None) == 1  # still down: one waits
    sp.down = False
    assert agent_cli.retry_pending_backups(layout, agent=None) == 0
    assert pending_ids(layout) == [] and sets_in_spaces(sp) == ["20261202T030000Z-scheduled"]


# ---------------------------------------------------------------------------------------------- retention

def test_pruning_applies_the_retention_plan_and_keeps_manual_ones(tmp_path):
    sp = FakeSpaces()
    d = deploy(backups=BackupsSpec(daily=2, weekly=0, monthly=0))
    clock = Clock()
    for day in range(4):
        clock.now = T0 + dt.timedelta(days=day)
        backup(world(tmp_path, spaces=sp, d=d, clock=clock), BackupKind.SCHEDULED)
    clock.now = T0 + dt.timedelta(days=4)
    manual = backup(world(tmp_path, spaces=sp, d=d, clock=clock), BackupKind.MANUAL)
    clock.now = T0 + dt.timedelta(days=5)
    last = backup(world(tmp_path, spaces=sp, d=d, clock=clock), BackupKind.SCHEDULED)
    assert sets_in_spaces(sp) == ["20261205T030000Z-scheduled", manual.backup_id, last.backup_id]
    assert last.pruned == ["20261204T030000Z-scheduled"]
    # the manifest of a pruned set went first: a half-pruned set never looks complete
    pruned = [k for k in sp.deleted if "20261204T030000Z" in k]
    assert pruned[0].endswith(MANIFEST_NAME)


def test_a_set_still_pending_here_is_never_pruned(tmp_path):
    sp = FakeSpaces()
    d = deploy(backups=BackupsSpec(daily=1, weekly=0, monthly=0))
    sp.down = True
    backup(world(tmp_path, spaces=sp, d=d), BackupKind.SCHEDULED)  # pending here
    sp.down = False
    half = "backups/odoo/20261202T030000Z-scheduled/database.dump"
    sp.objects[half] = (b"half", {})  # what an interrupted upload left in Spaces
    layout = Layout(tmp_path)
    aside = tmp_path / "aside"  # a newer backup is taken and uploaded before the old one is retried
    (layout.backup_pending_dir / "20261202T030000Z-scheduled").rename(aside)
    newer = world(tmp_path, spaces=sp, d=d, clock=Clock(T0 + dt.timedelta(days=1)))
    backup(newer, BackupKind.SCHEDULED)
    assert half not in sp.objects  # not pending here: an old incomplete set is pruned
    aside.rename(layout.backup_pending_dir / "20261202T030000Z-scheduled")
    sp.objects[half] = (b"half", {})
    plan, deleted = prune(newer, sp)
    assert "20261202T030000Z-scheduled" in plan.delete and deleted == []  # pending here: left alone
    assert half in sp.objects


# ---------------------------------------------------------------------------------------------- refusals, serving, timer

def test_managed_postgres_and_no_spaces_are_refused(tmp_path):
    with pytest.raises(BackupRefused, match="DigitalOcean"):
        backup(world(tmp_path, d=deploy(postgres=PostgresSpec(mode="managed", host="db.example.com",
                                                               sslmode="require"))), BackupKind.MANUAL)
    with pytest.raises(BackupRefused, match="no Spaces"):
        backup(world(tmp_path, d=Deploy(project="odoo")), BackupKind.MANUAL)


def test_a_scheduled_backup_on_a_droplet_not_holding_the_reserved_ip_is_skipped(tmp_path):
    procs = FakeProcs()
    assert backup(world(tmp_path, procs, serving=False), BackupKind.SCHEDULED).status == "skipped"
    assert procs.ran == []
    assert backup(world(tmp_path, FakeProcs(), serving=False), BackupKind.MANUAL).status == "uploaded"


def test_the_timer_is_rendered_from_the_settings_and_enabled(tmp_path):
    ran: list[tuple[str, ...]] = []
    d = deploy(backups=BackupsSpec(schedule="*-*-* 03:00:00"))
    assert install_backup_timer(Layout(tmp_path), d, lambda argv: ran.append(argv) or True)
    unit = (Layout(tmp_path).systemd_dir / BACKUP_TIMER).read_text()
    assert "OnCalendar=*-*-* 03:00:00\n" in unit and "Persistent=true" in unit
    assert ran == [("systemctl", "daemon-reload"),
                   ("systemctl", "enable", "--now", BACKUP_TIMER, "odoo-droplet-verify.timer")]
    assert "OnCalendar=daily\n" in render_backup_timer(BackupsSpec().schedule)
    assert not install_backup_timer(Layout(tmp_path / "x"), deploy(backups=BackupsSpec(enabled=False)), print)
    with pytest.raises(ValueError):
        check_schedule("daily\nExecStart=/bin/sh")


def test_file_body_digests_are_those_s3_checks(tmp_path):
    f = tmp_path / "p"
    f.write_bytes(b"hello")
    body = FileBody.of(f)
    assert body.sha256 == hashlib.sha256(b"hello").hexdigest() and body.size == 5
    assert base64.b64decode(body.md5_b64) == hashlib.md5(b"hello").digest()
