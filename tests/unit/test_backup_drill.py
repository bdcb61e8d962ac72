"""The restore drill wired on the droplet (firstboot/backup_verify.py, `python3 -m firstboot.agent verify`) and
relayed by `odoo-droplet backups verify`: a set the droplet's own backup code uploaded (a real filestore tar) is
drilled with the processes faked as data. Checked: a file missing from the filestore and a row count that
differs each fail the drill by name, the scratch database is never the business's and is dropped even when a
step fails, verification.json is written beside the set and `backups` then shows the set verified, the weekly
timer, and what `status` says about backups."""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import io
import json
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import builder.commands.remote as remote
from builder.commands.backups import agent_verify_argv
from builder.commands.status import age_text, backup_lines, backups_summary, read_droplet_last
from firstboot import cli as agent_cli
from firstboot.backup.commands import Command
from firstboot.backup.ids import BackupKind
from firstboot.backup.inventory import listing
from firstboot.backup.keys import verification_key
from firstboot.backup.queries import FIELD_SEPARATOR
from firstboot.backup.schedule import BACKUP_TIMER, VERIFY_TIMER, render_verify_timer
from firstboot.backup_verify import (
    VerifyRefused,
    choose_set,
    filestore_sha1,
    scratch_database,
    verify,
)
from firstboot.backups import ProcResult, backup, install_backup_timer, read_remote_sets
from firstboot.config import BackupsSpec
from firstboot.contract.layout import Layout
from firstboot.spaces import MD5_META, SHA256_META
from tests.unit.test_backup_cli import AgentChannel, cli, env  # noqa: F401  (env: the CLI fixture)
from tests.unit.test_backup_wiring import FILES, T0, Clock, FakeProcs, FakeSpaces, deploy, world

CONTENT = {f: f"the bytes of {f}".encode() for f in FILES}
SHA1 = {f: hashlib.sha1(data).hexdigest() for f, data in CONTENT.items()}
BID = "20261202T030000Z-manual"
DRILL_AT = T0 + dt.timedelta(days=1)


class Spaces(FakeSpaces):
    """The droplet's Spaces client with `put` (the drill's record) as S3 keeps it."""

    def put(self, key: str, body: bytes, content_type: str = "") -> None:
        self._check()
        self.objects[key] = (body, {SHA256_META: hashlib.sha256(body).hexdigest(),
                                    MD5_META: hashlib.md5(body).hexdigest()})
        self.puts.append(key)


@dataclass
class TarProcs(FakeProcs):
    """A backup whose filestore archive is a real tar of `in_tar` (the listing check still sees FILES)."""

    in_tar: tuple[str, ...] = FILES

    def run(self, cmd: Command, *, timeout: float) -> ProcResult:
        if cmd.purpose.startswith("archive the filestore") and cmd.stdout:
            with tarfile.open(cmd.stdout, "w") as tar:
                for name in self.in_tar:
                    info = tarfile.TarInfo(f"./{name}")
                    info.size = len(CONTENT[name])
                    tar.addfile(info, io.BytesIO(CONTENT[name]))
            self.ran.append(cmd)
            return ProcResult(0, "", "")
        return super().run(cmd, timeout=timeout)


@dataclass
class DrillProcs:
    """The droplet's stack during a drill: every command recorded; the scratch copy's counts and attachments
    as given; `fail_at`: a purpose (substring) whose command fails."""

    counts: dict[str, int] = field(default_factory=lambda: {"res_partner": 42, "ir_attachment": 2})
    attachments: dict[str, str] = field(default_factory=lambda: dict(SHA1))
    fail_at: str | None = None
    ran: list[Command] = field(default_factory=list)

    def run(self, cmd: Command, *, timeout: float) -> ProcResult:
        self.ran.append(cmd)
        if self.fail_at and self.fail_at in cmd.purpose:
            return ProcResult(1, "", f"{cmd.purpose}: pg_restore: error: could not read input file")
        argv = cmd.stages[-1]
        if "--version" in argv:
            return ProcResult(0, "Odoo Server 18.0-20260723\n", "")
        sql = argv[-1]
        if "server_version" in sql:
            return ProcResult(0, "16.4 (Debian 16.4-1)\n", "")
        if "count(*)" in sql:
            return ProcResult(0, "".join(f"{t}{FIELD_SEPARATOR}{n}\n" for t, n in self.counts.items()), "")
        if "store_fname" in sql:
            return ProcResult(0, "".join(f"{f}{FIELD_SEPARATOR}{s}\n" for f, s in self.attachments.items()), "")
        return ProcResult(0, "", "")

    def hold_snapshot(self, cmd: Command, *, timeout: float):  # pragma: no cover - a drill takes no snapshot
        raise AssertionError("the drill holds no snapshot")

    def purposes(self) -> list[str]:
        return [c.purpose for c in self.ran]


def fetch(sp: FakeSpaces, key: str, dest: Path) -> None:
    data = sp.get(key)
    assert data is not None, key
    dest.write_bytes(data)


def uploaded(tmp_path: Path, procs: TarProcs | None = None) -> Spaces:
    sp = Spaces()
    outcome = backup(world(tmp_path / "taker", procs or TarProcs(), sp), BackupKind.MANUAL)
    assert outcome.status == "uploaded" and outcome.backup_id == BID
    return sp


def drill(tmp_path: Path, sp: Spaces, procs: DrillProcs, backup_id: str | None = None):
    w = world(tmp_path / "driller", procs, sp, clock=Clock(DRILL_AT))  # type: ignore[arg-type]
    return verify(w, backup_id, fetch=fetch), w


def record(sp: Spaces) -> dict:
    return json.loads(sp.objects[verification_key("odoo", BID)][0])


# ---------------------------------------------------------------------------------------------- the drill

def test_a_good_backup_passes_restored_into_a_scratch_database_that_is_dropped(tmp_path):
    sp, procs = uploaded(tmp_path), DrillProcs()
    outcome, w = drill(tmp_path, sp, procs)
    assert outcome.status == "passed", outcome.problems
    assert outcome.backup_id == BID and outcome.attachments_checked == 2 and outcome.problems == []
    scratch = outcome.scratch_database
    assert scratch == "odoo_drill_20261203t030000z" and scratch != "odoo"
    p = procs.purposes()
    order = [f"drop database {scratch}", f"create database {scratch}", "copy the dump into the db container",
             f"restore the dump into {scratch}", f"neutralize {scratch}", f"count rows in {scratch}",
             f"list the stored attachments of {scratch}", f"drop database {scratch}"]
    assert [x for x in p if x in order] == order
    neutralize = next(c for c in procs.ran if c.purpose == f"neutralize {scratch}")
    assert neutralize.stages[0][-4:] == ("odoo", "neutralize", "-d", scratch)
    assert neutralize.stages[0][:-4][-3:] == ("exec", "-T", "odoo")
    for c in procs.ran:  # the business's database is only ever read (its versions), never written
        assert "odoo" not in c.stages[-1][-1:], c
        assert "--dbname=odoo" not in c.arguments() or c.purpose == "read PostgreSQL's version", c
        assert not any("password" in a.lower() for a in c.arguments())
    assert not (Layout(tmp_path / "driller").backups_dir / "drill").exists()  # the download is gone
    doc = record(sp)
    assert doc == {"backup_id": BID, "verified_at": "2026-12-03T03:00:00Z", "passed": True, "problems": [],
                   "attachments_checked": 2}
    assert outcome.record == verification_key("odoo", BID) == f"backups/odoo/{BID}/verification.json"


def test_a_filestore_file_missing_fails_the_drill_naming_it(tmp_path):
    sp = uploaded(tmp_path, TarProcs(in_tar=FILES[:1]))  # the archive lacks cd/cd34; the database references it
    outcome, _ = drill(tmp_path, sp, DrillProcs())
    assert outcome.status == "failed"
    assert any("cd/cd34 (not in the archive)" in p for p in outcome.problems), outcome.problems
    assert record(sp)["passed"] is False and "cd/cd34" in " ".join(record(sp)["problems"])


def test_an_attachment_whose_bytes_differ_from_its_checksum_fails_the_drill(tmp_path):
    sp = uploaded(tmp_path)
    outcome, _ = drill(tmp_path, sp, DrillProcs(attachments={**SHA1, FILES[0]: "0" * 40}))
    assert outcome.status == "failed"
    assert any(f"{FILES[0]} (sha1 {SHA1[FILES[0]]}, expected {'0' * 40})" in p for p in outcome.problems)


def test_a_row_count_that_differs_from_the_manifest_fails_the_drill(tmp_path):
    sp = uploaded(tmp_path)
    outcome, _ = drill(tmp_path, sp, DrillProcs(counts={"res_partner": 41, "ir_attachment": 2}))
    assert outcome.status == "failed"
    assert "res_partner: manifest 42 rows, restored copy 41 rows" in outcome.problems


@pytest.mark.parametrize("step", ["create database", "restore the dump", "neutralize", "count rows",
                                  "list the stored attachments"])
def test_the_scratch_database_is_dropped_when_any_step_fails(tmp_path, step):
    sp, procs = uploaded(tmp_path), DrillProcs(fail_at=step)
    outcome, _ = drill(tmp_path, sp, procs)
    assert outcome.status == "failed" and any(step in p for p in outcome.problems), outcome.problems
    scratch = outcome.scratch_database
    failed_at = next(i for i, c in enumerate(procs.ran) if step in c.purpose)
    after = procs.purposes()[failed_at + 1:]
    assert after[0] == f"drop database {scratch}"  # straight to the cleanup, nothing else ran
    drop = procs.ran[failed_at + 1]
    assert drop.stages[0][-5:] == ("dropdb", "--force", "--if-exists", "--username=odoo", scratch)
    assert record(sp)["passed"] is False


def test_a_set_corrupted_in_spaces_is_refused_before_any_restore(tmp_path):
    sp = uploaded(tmp_path)
    key = f"backups/odoo/{BID}/database.dump"
    data, meta = sp.objects[key]
    sp.objects[key] = (data[:-1] + b"X", meta)  # one byte changed: its ETag no longer matches
    procs = DrillProcs()
    outcome, _ = drill(tmp_path, sp, procs, BID)
    assert outcome.status == "failed" and "database.dump" in " ".join(outcome.problems)
    assert procs.ran == []  # nothing touched PostgreSQL
    assert record(sp)["passed"] is False


def test_nothing_to_drill_is_refused_and_the_newest_complete_set_is_the_default(tmp_path):
    with pytest.raises(VerifyRefused, match="no complete backup"):
        verify(world(tmp_path, DrillProcs(), Spaces()), None, fetch=fetch)  # type: ignore[arg-type]
    with pytest.raises(VerifyRefused, match="no backup 20261202T040000Z-manual"):
        verify(world(tmp_path, DrillProcs(), Spaces()), "20261202T040000Z-manual", fetch=fetch)  # type: ignore[arg-type]
    sp = uploaded(tmp_path)
    backup(world(tmp_path / "taker", TarProcs(), sp, clock=Clock(T0 + dt.timedelta(hours=1))), BackupKind.SCHEDULED)
    sets = read_remote_sets(sp, "odoo")
    assert choose_set(sets, None).backup_id == "20261202T040000Z-scheduled"
    assert choose_set(sets, BID).backup_id == BID


def test_the_scratch_name_can_never_be_the_business_database():
    from firstboot.backup.drill import DrillPlan

    drop = Command((("docker", "compose", "exec", "-T", "db", "dropdb", "--force", "--if-exists", "odoo"),))
    with pytest.raises(ValueError, match="business"):
        scratch_database(DrillPlan("odoo", (), drop, drop, ()), "odoo")
    with pytest.raises(ValueError, match="business"):
        scratch_database(DrillPlan("odoo_drill_x", (), drop, drop, (drop,)), "odoo")


def test_filestore_sha1_reads_the_archive_and_says_when_it_cannot(tmp_path):
    tar = tmp_path / "f.tar"
    with tarfile.open(tar, "w") as t:
        info = tarfile.TarInfo("./ab/ab12")
        info.size = 3
        t.addfile(info, io.BytesIO(b"abc"))
    assert filestore_sha1(tar) == {"./ab/ab12": hashlib.sha1(b"abc").hexdigest()}
    (tmp_path / "bad.tar").write_bytes(b"not a tar at all" * 100)
    with pytest.raises(ValueError, match="cannot be read"):
        filestore_sha1(tmp_path / "bad.tar")


# ---------------------------------------------------------------------------------------------- verified

def test_backups_shows_the_set_verified_after_a_drill_passed(tmp_path):
    sp = uploaded(tmp_path)
    (entry,) = listing(read_remote_sets(sp, "odoo"))
    assert entry["verified"] is None and entry["status"] == "uploaded"
    drill(tmp_path, sp, DrillProcs())
    (entry,) = listing(read_remote_sets(sp, "odoo"))
    assert entry["verified"] == "2026-12-03T03:00:00Z" and entry["status"] == "verified"


def test_a_failed_drill_leaves_the_set_unverified(tmp_path):
    sp = uploaded(tmp_path)
    drill(tmp_path, sp, DrillProcs(counts={"res_partner": 1}))
    (entry,) = listing(read_remote_sets(sp, "odoo"))
    assert entry["verified"] is None and entry["status"] == "uploaded"


def test_backups_cli_lists_verified_from_spaces(env, capsys, tmp_path):  # noqa: F811
    backup(world(tmp_path / "taker", TarProcs(), env), BackupKind.MANUAL)
    env.objects[verification_key("odoo", BID)] = (json.dumps(
        {"backup_id": BID, "verified_at": "2026-12-03T03:00:00Z", "passed": True, "problems": [],
         "attachments_checked": 2}).encode(), {})
    code, doc = cli(capsys, "backups")
    assert code == 0 and doc["backups"][0]["verified"] == "2026-12-03T03:00:00Z"
    assert doc["backups"][0]["status"] == "verified"


# ---------------------------------------------------------------------------------------------- the agent's command

def test_the_agent_verify_command_prints_one_json_line_and_exits_by_outcome(tmp_path, monkeypatch, capsys):
    sp = uploaded(tmp_path)
    w = world(tmp_path / "agent", DrillProcs(), sp, clock=Clock(DRILL_AT))  # type: ignore[arg-type]
    monkeypatch.setattr(agent_cli, "backup_world", lambda agent: w)
    monkeypatch.setattr(agent_cli, "verify", functools.partial(verify, fetch=fetch))
    layout = Layout(tmp_path / "agent")
    assert agent_cli.run_verify(layout, object(), None, False) == 0  # type: ignore[arg-type]
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert line["status"] == "passed" and line["backup_id"] == BID
    assert json.loads((layout.backups_dir / "last-verify.json").read_text())["status"] == "passed"
    w.procs = DrillProcs(counts={"res_partner": 0})
    assert agent_cli.run_verify(layout, object(), None, False) == 1  # type: ignore[arg-type]
    w2 = world(tmp_path / "empty", DrillProcs(), Spaces())  # type: ignore[arg-type]
    monkeypatch.setattr(agent_cli, "backup_world", lambda agent: w2)
    assert agent_cli.run_verify(Layout(tmp_path / "empty"), object(), None, False) == 2  # type: ignore[arg-type]
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["status"] == "refused"
    assert agent_cli.parser().parse_args(["verify", "--backup", BID, "--wait"]).backup == BID


def test_the_weekly_drill_timer_is_installed_beside_the_backup_timer(tmp_path):
    ran: list[tuple[str, ...]] = []
    assert install_backup_timer(Layout(tmp_path), deploy(), lambda argv: ran.append(argv) or True)
    unit = (Layout(tmp_path).systemd_dir / VERIFY_TIMER).read_text()
    assert "OnCalendar=Sun *-*-* 05:00:00\n" in unit and "Unit=odoo-droplet-verify.service" in unit
    assert ran[-1] == ("systemctl", "enable", "--now", BACKUP_TIMER, VERIFY_TIMER)
    assert render_verify_timer() == unit
    service = (Path(__file__).resolve().parents[2] / "firstboot" / "systemd" / "odoo-droplet-verify.service")
    assert "ExecStart=/usr/bin/python3 -m firstboot.agent verify --wait" in service.read_text()
    assert not install_backup_timer(Layout(tmp_path / "x"), deploy(backups=BackupsSpec(enabled=False)), print)


# ---------------------------------------------------------------------------------------------- the operator's command

@pytest.mark.parametrize(("code", "status", "exit_code"), [(0, "passed", 0), (1, "failed", 1), (2, "refused", 2)])
def test_backups_verify_runs_the_agents_drill_over_ssh(env, capsys, monkeypatch, code, status, exit_code):  # noqa: F811
    answer = {"backup_id": BID, "status": status, "verified_at": "2026-12-03T03:00:00Z",
              "scratch_database": "odoo_drill_20261203t030000z", "attachments_checked": 2,
              "problems": [] if status == "passed" else ["res_partner: manifest 42 rows, restored copy 41 rows"],
              "record": f"backups/odoo/{BID}/verification.json"}
    channel = AgentChannel(answer, code)
    monkeypatch.setattr(remote, "open_channel", lambda cloud, d, spaces, droplet_id: channel)
    got, doc = cli(capsys, "backups", "verify", BID, "--droplet", "7")
    assert got == exit_code
    assert channel.sent == [agent_verify_argv(BID)]
    assert channel.sent[0][3:] == ("-m", "firstboot.agent", "verify", "--backup", BID)
    assert doc["backup_id"] == BID
    if exit_code:
        assert doc["ok"] is False
        if status == "failed":
            assert "res_partner: manifest 42 rows" in doc["error"]
    else:
        assert doc["status"] == "passed" and doc["record"].endswith("verification.json")


def test_backups_verify_refuses_a_malformed_id_and_the_list_takes_no_id(env, capsys):  # noqa: F811
    got, doc = cli(capsys, "backups", "verify", "yesterday")
    assert got == 2 and "not a backup id" in doc["error"]
    assert agent_verify_argv() == ("env", "PYTHONPATH=/opt/odoo-droplet", "python3", "-m", "firstboot.agent",
                                   "verify")


# ---------------------------------------------------------------------------------------------- status

NOW = dt.datetime(2026, 12, 5, 3, 0, 0, tzinfo=dt.UTC)


def test_status_shows_the_last_backup_the_last_verified_and_a_pending_upload():
    entries = [
        {"id": "20261205T010000Z-scheduled", "kind": "scheduled", "created": "2026-12-05T01:00:00Z",
         "status": "uploaded", "verified": None},
        {"id": BID, "kind": "manual", "created": "2026-12-02T03:00:00Z", "status": "verified",
         "verified": "2026-12-03T03:00:00Z"},
    ]
    last = {"backup_id": "20261205T024500Z-scheduled", "status": "pending upload",
            "location": "/var/lib/odoo-droplet/backups/pending/20261205T024500Z-scheduled", "problems": []}
    b = backups_summary(entries, last, NOW)
    assert b["last"] == {"id": "20261205T010000Z-scheduled", "kind": "scheduled", "status": "uploaded",
                         "created": "2026-12-05T01:00:00Z", "age": "2h ago"}
    assert b["last_verified"] == {"id": BID, "verified": "2026-12-03T03:00:00Z", "age": "2d ago"}
    assert b["pending_upload"]["id"] == "20261205T024500Z-scheduled" and b["pending_upload"]["age"] == "15m ago"
    text = "\n".join(backup_lines(b))
    assert "pending upload: 20261205T024500Z-scheduled (15m ago) waits on the droplet for Spaces" in text
    assert "last backup:   20261205T010000Z-scheduled uploaded (2h ago)" in text
    assert f"last verified: {BID} (drill passed 2d ago)" in text
    none = backups_summary([], {"backup_id": BID, "status": "uploaded"}, NOW)
    assert none["pending_upload"] is None
    assert "last backup:   (none in Spaces)" in "\n".join(backup_lines(none))
    assert "last verified: never" in "\n".join(backup_lines(none))
    assert age_text("garbage", NOW) is None and age_text(None, NOW) is None


@dataclass
class CatChannel:
    """The droplet's shell answering `cat last.json`."""

    stdout: bytes
    code: int = 0
    sent: list[tuple[str, ...]] = field(default_factory=list)

    def run(self, argv, *, timeout: float):
        import subprocess

        self.sent.append(tuple(argv))
        return subprocess.CompletedProcess(list(argv), self.code, self.stdout, b"")


def test_status_reads_the_droplets_last_json_over_ssh_and_never_fails_for_it(monkeypatch):
    from builder.ssh import NoSshKey

    doc = {"backup_id": BID, "status": "pending upload", "location": "/x"}
    channel = CatChannel(json.dumps(doc).encode())
    monkeypatch.setattr(remote, "open_channel", lambda cloud, d, spaces, droplet_id: channel)
    got, why = read_droplet_last(None, None, None, 7)
    assert got == doc and why is None
    assert channel.sent == [("cat", "--", "/var/lib/odoo-droplet/backups/last.json")]
    assert read_droplet_last(None, None, None, None) == (None, None)  # no holder: nothing asked

    def no_key(*a):
        raise NoSshKey("neither $ODL_SSH_KEY nor droplet.ssh_key_file is set")

    monkeypatch.setattr(remote, "open_channel", no_key)
    got, why = read_droplet_last(None, None, None, 7)
    assert got is None and why is not None and "ODL_SSH_KEY" in why
