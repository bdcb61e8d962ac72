"""Restores wired on the droplet (firstboot/restores.py, the first-boot `restore` phase, `python3 -m firstboot.agent
restore`), with the processes and Spaces faked. The sets restored are taken and uploaded by the droplet's own
backup code (firstboot/backups.py, through tests/unit/test_backup_wiring.py's fakes). Checked: which set is
chosen, every part verified before use (and the part named when not), another Odoo series refused naming both,
the commands as data (pg_restore -j --no-owner as the role, no secret), database.uuid kept, nothing live touched
by a failed restore, the safety backup put back when gates fail, and the deploy that does not cut over."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from firstboot.backup.commands import Command
from firstboot.backup.failures import RestoreFailureKind
from firstboot.backup.ids import BackupKind
from firstboot.backup.inventory import remote_sets
from firstboot.backup.keys import backup_part_key, database_backups_prefix
from firstboot.backup.queries import FIELD_SEPARATOR
from firstboot.backup.restore import choose_backup
from firstboot.backups import ProcResult, backup, read_remote_sets
from firstboot.config import DatabaseSpec, Deploy, SpacesSpec, check_database_source
from firstboot.contract.layout import Layout
from firstboot.restores import (
    PUT_BACK,
    REFUSED,
    RESTORED,
    OperatorHooks,
    RestoreError,
    RestoreWorld,
    operator_restore,
    restore_set,
)
from tests.unit import test_backup_wiring as bw
from tests.unit.agent_fakes import make_secrets

UUID = "3f1c1b8e-0000-4000-8000-000000000001"  # what test_backup_wiring's FakeProcs reports at backup time
DAY = dt.timedelta(days=1)
RESTORE_AT = bw.T0 + 10 * DAY


class Bucket(bw.FakeSpaces):
    """test_backup_wiring's bucket, plus the streamed download a restore uses (and what publishing uses)."""

    def __init__(self) -> None:
        super().__init__()
        self.corrupt_download: str | None = None  # a part name: its download arrives with one byte changed
        self.downloads: list[str] = []
        self.attempts, self.timeout = 4, 15.0

    def get_file(self, key: str, path: Path) -> bool:
        self._check()
        if key not in self.objects:
            return False
        data = self.objects[key][0]
        if self.corrupt_download and key.endswith("/" + self.corrupt_download):
            data = bytes([data[0] ^ 1]) + data[1:]
        path.write_bytes(data)
        self.downloads.append(key)
        return True

    def put(self, key: str, body: bytes, content_type: str = "") -> None:
        self._check()
        self.objects[key] = (body, {})

    def get_json(self, key: str) -> Any:
        data = self.get(key)
        return json.loads(data) if data is not None else None


@dataclass
class Cluster:
    """The databases PostgreSQL holds, by name -> which backup's dump filled them."""

    databases: dict[str, str] = field(default_factory=lambda: {"odoo": "live"})


@dataclass
class RestoreProcs:
    """Answers a restore's commands as the db and odoo containers would, keeping `Cluster` current."""

    cluster: Cluster = field(default_factory=Cluster)
    odoo_version: str = "18.0-20260723"
    uuid: str = UUID
    rows: dict[str, int] = field(default_factory=lambda: {"res_partner": 42, "ir_attachment": 2})
    fail_at: str | None = None  # a purpose (substring) whose command fails
    ran: list[Command] = field(default_factory=list)
    copied: str = ""

    def run(self, cmd: Command, *, timeout: float) -> ProcResult:
        self.ran.append(cmd)
        if self.fail_at and self.fail_at in cmd.purpose:
            return ProcResult(1, "", f"{cmd.purpose}: ERROR: something broke")
        argv = cmd.stages[-1]
        dbs = self.cluster.databases
        if "--version" in argv:
            return ProcResult(0, f"Odoo Server {self.odoo_version}\n", "")
        if "cp" in argv:  # docker compose cp LOCAL db:/tmp/...: the set's id is in the local path
            self.copied = Path(argv[argv.index("cp") + 1]).parent.name
            return ProcResult(0, "", "")
        if "createdb" in argv:
            dbs[argv[-1]] = "empty"
            return ProcResult(0, "", "")
        if "dropdb" in argv:
            dbs.pop(argv[-1], None)
            return ProcResult(0, "", "")
        if "pg_restore" in argv:
            name = next(a for a in argv if a.startswith("--dbname=")).split("=", 1)[1]
            dbs[name] = self.copied
            return ProcResult(0, "", "")
        sql = argv[-1]
        if "server_version" in sql:
            return ProcResult(0, "16.4 (Debian 16.4-1)\n", "")
        if "database.uuid" in sql:
            return ProcResult(0, self.uuid + "\n", "")
        if "count(*)" in sql:
            return ProcResult(0, "".join(f"{t}{FIELD_SEPARATOR}{n}\n" for t, n in self.rows.items()), "")
        if "RENAME TO" in " ".join(argv):
            for s in [a for a in argv if a.startswith("ALTER DATABASE")]:
                old, new = s.split('"')[1], s.split('"')[3]
                dbs[new] = dbs.pop(old)
            return ProcResult(0, "", "")
        if {"mkdir", "tar", "mv", "rm"} & set(argv):
            return ProcResult(0, "", "")
        raise AssertionError(f"unexpected command: {cmd}")

    def purposes(self) -> list[str]:
        return [c.purpose for c in self.ran]


def take(sp: Bucket, tmp: Path, when: dt.datetime, kind: BackupKind = BackupKind.MANUAL) -> str:
    """A set taken and uploaded by the droplet's own backup code at `when`."""
    out = backup(bw.world(tmp / when.strftime("%Y%m%d%H%M%S"), spaces=sp, clock=bw.Clock(when)), kind)
    assert out.status == "uploaded" and out.backup_id
    return out.backup_id


def rworld(tmp: Path, sp: Bucket, procs: RestoreProcs | None = None, jobs: int = 4) -> RestoreWorld:
    return RestoreWorld(Layout(tmp / "droplet"), bw.deploy(), procs or RestoreProcs(), lambda: sp,
                        lambda: RESTORE_AT, bw.COMPOSE, jobs=jobs)


def refused(tmp: Path, sp: Bucket, source: str, procs: RestoreProcs | None = None) -> RestoreError:
    procs = procs or RestoreProcs(Cluster({}))
    with pytest.raises(RestoreError) as e:
        restore_set(rworld(tmp, sp, procs), source, live_exists=False, odoo_running=False)
    assert "odoo" not in procs.cluster.databases  # never an empty or half-restored database under the live name
    assert not any("pg_restore" in c.stages[-1] for c in procs.ran) or e.value.kind in (
        RestoreFailureKind.RESTORE_FAILED, RestoreFailureKind.IDENTITY_CHANGED)
    return e.value


# ---------------------------------------------------------------------------------------------- settings

@pytest.mark.parametrize("value", ["fresh", "latest", "20261202T030000Z-scheduled", "20261202T030000Z-manual"])
def test_database_source_accepts_fresh_latest_and_backup_ids(value):
    assert check_database_source(value) == value
    assert DatabaseSpec(value).source == value


@pytest.mark.parametrize("value", ["", "newest", "20261202T030000Z", "20261340T030000Z-manual", "../x"])
def test_database_source_refuses_anything_else(value):
    with pytest.raises(ValueError, match="fresh.*latest.*backup id"):
        check_database_source(value)


def test_the_operator_settings_check_database_source_the_same_way():
    from builder.settings import SettingsError, parse_settings, to_deploy

    ok = parse_settings("spaces: {region: nyc3, bucket: acme-odoo}\ndatabase: {source: 20261202T030000Z-manual}\n")
    assert to_deploy(ok, {}).database.source == "20261202T030000Z-manual"
    assert to_deploy(ok, {}).to_dict()["database"] == {"source": "20261202T030000Z-manual"}  # what deploy.json gets
    for text, why in (("database: {source: yesterday}\n", "backup id"),
                      ("database: {source: latest}\n", "configure spaces"),
                      ("spaces: {region: nyc3, bucket: acme-odoo}\npostgres: {mode: managed, host: db.example.com, "
                       "sslmode: require}\ndatabase: {source: latest}\n", "managed")):
        with pytest.raises(SettingsError) as e:
            parse_settings(text)
        assert why in str(e.value)


# ---------------------------------------------------------------------------------------------- choosing

def test_latest_is_the_newest_complete_set(tmp_path):
    sp = Bucket()
    old = take(sp, tmp_path, bw.T0, BackupKind.SCHEDULED)
    newest_complete = take(sp, tmp_path, bw.T0 + DAY)
    broken = take(sp, tmp_path, bw.T0 + 2 * DAY, BackupKind.SCHEDULED)
    sp.delete(backup_part_key("odoo", broken, "filestore.tar"))
    sets = read_remote_sets(sp, "odoo")
    assert [s.backup_id for s in sets] == [old, newest_complete, broken]
    assert choose_backup(sets, "latest") == newest_complete
    assert choose_backup(sets, old) == old
    missing = choose_backup(sets, broken)
    assert not isinstance(missing, str) and missing.kind is RestoreFailureKind.MISSING_PART
    assert missing.part == "filestore.tar" and "filestore.tar" in missing.detail
    none = choose_backup(sets, "20250101T000000Z-manual")
    assert not isinstance(none, str) and none.kind is RestoreFailureKind.NO_BACKUP
    empty = choose_backup(remote_sets("odoo", {}, {}, {}), "latest")
    assert not isinstance(empty, str) and "no complete backup" in empty.detail
    out = restore_set(rworld(tmp_path, sp, RestoreProcs(Cluster({}))), "latest", live_exists=False,
                      odoo_running=False)
    assert out.backup_id == newest_complete


# ---------------------------------------------------------------------------------------------- refusals

def test_a_part_whose_bytes_differ_in_spaces_is_refused_naming_it(tmp_path):
    sp = Bucket()
    bid = take(sp, tmp_path, bw.T0)
    key = backup_part_key("odoo", bid, "database.dump")
    data, meta = sp.objects[key]
    sp.objects[key] = (bytes([data[0] ^ 1]) + data[1:], meta)  # one byte changed at rest
    e = refused(tmp_path, sp, bid)
    assert e.kind is RestoreFailureKind.CORRUPT_PART and e.failures[0].part == "database.dump"
    assert "database.dump" in str(e)


def test_a_download_that_does_not_match_the_manifest_is_refused_before_use(tmp_path):
    sp = Bucket()
    bid = take(sp, tmp_path, bw.T0)
    sp.corrupt_download = "filestore.tar"
    procs = RestoreProcs(Cluster({}))
    e = refused(tmp_path, sp, bid, procs)
    assert e.kind is RestoreFailureKind.CORRUPT_PART and e.failures[0].part == "filestore.tar"
    assert "SHA-256" in str(e) and "filestore.tar" in str(e)
    # Checked before anything read it: no database made, nothing copied or unpacked.
    assert not [p for p in procs.purposes() if "create" in p or "copy" in p or "unpack" in p]
    assert not (Layout(tmp_path / "droplet").backups_dir / "restore" / bid).exists()  # the download removed


def test_a_missing_part_is_refused_naming_it(tmp_path):
    sp = Bucket()
    bid = take(sp, tmp_path, bw.T0)
    sp.delete(backup_part_key("odoo", bid, "database.dump"))
    e = refused(tmp_path, sp, bid)
    assert e.kind is RestoreFailureKind.MISSING_PART and e.failures[0].part == "database.dump"
    no_manifest = take(sp, tmp_path, bw.T0 + DAY)
    sp.delete(backup_part_key("odoo", no_manifest, "manifest.json"))
    e = refused(tmp_path, sp, no_manifest)
    assert e.kind is RestoreFailureKind.INCOMPLETE and "manifest" in str(e)
    assert refused(tmp_path, sp, "20250101T000000Z-manual").kind is RestoreFailureKind.NO_BACKUP


def test_a_backup_of_another_odoo_series_is_refused_naming_both_versions(tmp_path):
    sp = Bucket()
    bid = take(sp, tmp_path, bw.T0)
    e = refused(tmp_path, sp, bid, RestoreProcs(Cluster({}), odoo_version="17.0-20250101"))
    assert e.kind is RestoreFailureKind.VERSION_MISMATCH
    assert "18.0-20260723" in str(e) and "17.0-20250101" in str(e)


def test_spaces_unreachable_or_absent_is_a_refusal_not_an_empty_database(tmp_path):
    sp = Bucket()
    take(sp, tmp_path, bw.T0)
    sp.down = True
    assert refused(tmp_path, sp, "latest").kind is RestoreFailureKind.NO_BACKUP
    w = replace(rworld(tmp_path, sp, RestoreProcs(Cluster({}))), spaces=lambda: None)
    with pytest.raises(RestoreError, match="no Spaces"):
        restore_set(w, "latest", live_exists=False, odoo_running=False)


# ---------------------------------------------------------------------------------------------- as data

def test_the_commands_are_data_pg_restore_parallel_without_owner_and_no_secret(tmp_path):
    sp = Bucket()
    bid = take(sp, tmp_path, bw.T0)
    procs = RestoreProcs(Cluster({}))
    out = restore_set(rworld(tmp_path, sp, procs, jobs=4), bid, live_exists=False, odoo_running=False)
    restored = "odoo_restore_" + RESTORE_AT.strftime("%Y%m%dT%H%M%SZ").lower()
    pg = next(c.argv for c in procs.ran if "pg_restore" in c.stages[-1])
    assert pg == (*bw.COMPOSE, "exec", "-T", "db", "pg_restore", "--jobs=4", "--no-owner", "--exit-on-error",
                  "--username=odoo", f"--dbname={restored}", "/tmp/odoo-droplet-restore.dump")
    # In order: versions, a new database, the dump in, restored, the filestore under the new name, identity,
    # counted, swapped in; the odoo container is a one-off (Odoo is not running at first boot).
    order = [p for p in procs.purposes() if p]
    assert order.index("read Odoo's version") < order.index(f"create database {restored}") < \
        order.index(f"restore the dump into {restored}") < order.index(f"unpack the filestore of {restored}") < \
        order.index("read the database uuid") < order.index(f"count rows in {restored}") < \
        order.index(f"swap in {restored} as odoo")
    unpack = next(c for c in procs.ran if c.purpose == f"unpack the filestore of {restored}")
    assert unpack.argv[len(bw.COMPOSE):len(bw.COMPOSE) + 5] == ("run", "--rm", "--no-deps", "-T", "odoo")
    assert unpack.argv[-1] == f"--directory=/var/lib/odoo/filestore/{restored}"
    assert unpack.stdin and unpack.stdin.endswith(f"/restore/{bid}/filestore.tar")
    args = [a for c in procs.ran for a in c.arguments()]
    secrets = make_secrets()
    for value in secrets.values():
        assert not any(value in a for a in args)
    assert not any("password" in a.lower() for a in args)
    assert procs.cluster.databases == {"odoo": bid}
    assert out.restored_rows == {"res_partner": 42, "ir_attachment": 2}
    assert not (Layout(tmp_path / "droplet").backups_dir / "restore" / bid).exists()


def test_the_database_uuid_is_kept_and_a_changed_one_is_refused(tmp_path):
    sp = Bucket()
    bid = take(sp, tmp_path, bw.T0)
    procs = RestoreProcs(Cluster({}))
    out = restore_set(rworld(tmp_path, sp, procs), bid, live_exists=False, odoo_running=False)
    assert out.database_uuid == UUID  # move, not copy: what the backup's database had
    sql = " ".join(a for c in procs.ran for a in c.arguments())
    assert "UPDATE ir_config_parameter" not in sql and "database.secret" not in sql
    procs = RestoreProcs(Cluster({}), uuid="00000000-0000-4000-8000-00000000dead")
    e = refused(tmp_path / "2", sp, bid, procs)
    assert e.kind is RestoreFailureKind.IDENTITY_CHANGED and UUID in str(e)
    assert not any(n.startswith("odoo_restore") for n in procs.cluster.databases)  # what it made is dropped


def test_row_counts_that_differ_from_the_manifest_stop_before_the_swap(tmp_path):
    sp = Bucket()
    bid = take(sp, tmp_path, bw.T0)
    procs = RestoreProcs(Cluster({}), rows={"res_partner": 41, "ir_attachment": 2})
    e = refused(tmp_path, sp, bid, procs)
    assert "res_partner" in str(e) and "42" in str(e) and "41" in str(e)
    assert not any("swap in" in p for p in procs.purposes())


def test_a_failed_pg_restore_leaves_the_live_database_as_it_was(tmp_path):
    sp = Bucket()
    bid = take(sp, tmp_path, bw.T0)
    procs = RestoreProcs(fail_at="restore the dump")
    with pytest.raises(RestoreError) as e:
        restore_set(rworld(tmp_path, sp, procs), bid, live_exists=True, odoo_running=False)
    assert e.value.kind is RestoreFailureKind.RESTORE_FAILED and e.value.backup_id == bid
    assert procs.cluster.databases == {"odoo": "live"}


# ---------------------------------------------------------------------------------------------- the operator's

def hooks(sp: Bucket, tmp: Path, gates: list[bool], log: list[str]) -> OperatorHooks:
    """A safety backup taken by the droplet's own code; gates answering `gates` in turn."""

    def safety() -> str:
        log.append("safety")
        return take(sp, tmp / "safety", bw.T0 + 5 * DAY, BackupKind.PRE_UPGRADE)

    def run_gates() -> tuple[bool, list[dict[str, Any]]]:
        ok = gates.pop(0)
        log.append(f"gates {'pass' if ok else 'fail'}")
        return ok, [{"name": "health_internal", "passed": True, "detail": "200"},
                    {"name": "registry_loaded", "passed": ok, "detail": "200" if ok else "500"}]

    def stop() -> bool:
        log.append("stop odoo")
        return True

    def start() -> bool:
        log.append("start odoo")
        return True

    return OperatorHooks(safety, stop, start, run_gates)


def test_the_operators_restore_takes_a_safety_backup_then_restores_and_passes_the_gates(tmp_path):
    sp = Bucket()
    bid = take(sp, tmp_path, bw.T0)
    procs, log = RestoreProcs(), []
    result, code = operator_restore(rworld(tmp_path, sp, procs), bid, hooks(sp, tmp_path, [True], log))
    assert code == 0 and result["status"] == RESTORED
    assert set(result) >= {"backup_id", "safety_backup_id", "status", "gates"}
    assert result["backup_id"] == bid and result["safety_backup_id"].endswith("-pre-upgrade")
    assert log == ["safety", "stop odoo", "start odoo", "gates pass"]
    aside = "odoo_pre_restore_" + RESTORE_AT.strftime("%Y%m%dT%H%M%SZ").lower()
    assert procs.cluster.databases == {"odoo": bid, aside: "live"} and result["aside_database"] == aside


def test_a_restore_whose_gates_fail_puts_the_safety_backup_back(tmp_path):
    sp = Bucket()
    bid = take(sp, tmp_path, bw.T0)
    procs, log = RestoreProcs(), []
    result, code = operator_restore(rworld(tmp_path, sp, procs), bid, hooks(sp, tmp_path, [False, True], log))
    assert code == 1 and result["status"] == PUT_BACK
    safety = result["safety_backup_id"]
    assert procs.cluster.databases["odoo"] == safety  # the site serves the pre-restore data again
    assert result["put_back"]["passed"] is True and result["put_back"]["backup_id"] == safety
    assert [g["name"] for g in result["gates"] if not g["passed"]] == ["registry_loaded"]
    assert "registry_loaded" in result["problems"][0] and safety in result["problems"][0]
    assert log == ["safety", "stop odoo", "start odoo", "gates fail", "stop odoo", "start odoo", "gates pass"]


def test_the_operators_restore_refuses_with_nothing_changed(tmp_path):
    sp = Bucket()
    take(sp, tmp_path, bw.T0)
    procs, log = RestoreProcs(), []
    result, code = operator_restore(rworld(tmp_path, sp, procs), "20250101T000000Z-manual",
                                    hooks(sp, tmp_path, [], log))
    assert code == 2 and result["status"] == REFUSED and procs.cluster.databases == {"odoo": "live"}
    assert log == ["safety", "stop odoo", "start odoo"]

    def no_backup() -> str:
        raise RuntimeError("dump database odoo failed (exit 1): disk full")

    h = replace(hooks(sp, tmp_path, [], log), safety_backup=no_backup)
    result, code = operator_restore(rworld(tmp_path, sp, procs), "latest", h)
    assert code == 1 and "safety backup failed" in result["problems"][0] and procs.cluster.databases == {"odoo": "live"}


# ---------------------------------------------------------------------------------------------- at first boot

def flow_world(tmp_path: Path, source: str, sp: Bucket, procs: RestoreProcs) -> Any:
    from tests.unit import test_agent_flow as af

    d = replace(af.base_deploy(), database=DatabaseSpec(source))
    w = af.World(tmp_path / "new", d)
    w.spaces = sp
    return w


def run_flow(w: Any, procs: RestoreProcs):
    from firstboot.core import Agent
    from firstboot.inputs import load_inputs
    from tests.unit.agent_fakes import FakeMetadata, fast_renderers

    inputs = load_inputs(w.paths)
    agent = Agent(w.paths, inputs, w.droplet, w.http, w.clock, resources=lambda: w_resources(),
                  free_disk_gb=lambda: 50.0, metadata=FakeMetadata, doapi=lambda: w.api,
                  spaces=lambda: w.spaces, chown=lambda p, uid: None, renderers=fast_renderers(), procs=procs)
    return agent.run_all()


def w_resources():
    from firstboot.config import Resources

    return Resources(2, 4096, 80)


def test_first_boot_restores_latest_then_install_finds_the_modules_and_the_proof_says_so(tmp_path):
    from tests.unit import test_agent_flow as af

    sp = Bucket()
    bid = take(sp, tmp_path, bw.T0)
    procs = RestoreProcs(Cluster({}))
    w = flow_world(tmp_path, "latest", sp, procs)

    def swapped(cmd: Command, *, timeout: float) -> ProcResult:
        res = RestoreProcs.run(procs, cmd, timeout=timeout)
        if cmd.purpose.startswith("swap in"):  # the droplet's PostgreSQL now holds the business's database
            w.droplet.db_exists = True
            w.droplet.modules.update({m: ("18.0.1.0", "installed") for m in ("base", "web", "mail")})
            w.droplet.admin = {"login": "admin", "password": "the-business-own"}
        return res

    procs.run = swapped  # type: ignore[method-assign]
    st = run_flow(w, procs)
    assert st.status == "success", (st.error_message, w.droplet.admin, st.attempts[0].install, st.database)
    doc = w.deploy_status()
    jsonschema.validate(doc, af.schema())
    assert doc["database"]["source"] == "latest" and doc["database"]["backup_id"] == bid
    assert doc["database"]["status"] == "restored"
    assert doc["database"]["restored_rows"] == {"res_partner": 42, "ir_attachment": 2}
    assert doc["database"]["database_uuid"] == UUID
    assert w.droplet.install_runs == []  # no `odoo -i` over the restored database
    assert st.attempts[0].install.get("skipped") == "modules already installed"
    assert list(doc["phases"])[:5] == ["preflight", "configure", "start-data", "restore", "install"]


def test_first_boot_with_a_corrupt_backup_fails_the_deploy_and_does_not_cut_over(tmp_path):
    from tests.unit import test_agent_flow as af

    sp = Bucket()
    bid = take(sp, tmp_path, bw.T0)
    sp.corrupt_download = "database.dump"
    procs = RestoreProcs(Cluster({}))
    w = flow_world(tmp_path, bid, sp, procs)
    st = run_flow(w, procs)
    assert st.status == "failed" and "database.dump" in (st.fatal or "")
    doc = w.deploy_status()
    jsonschema.validate(doc, af.schema())
    assert doc["cutover"]["assigned"] is False
    assert doc["database"]["status"] == "failed" and doc["database"]["backup_id"] == bid
    assert doc["database"]["failures"][0]["part"] == "database.dump"
    assert w.droplet.install_runs == [] and not w.droplet.db_exists  # nothing installed, nothing served
    assert "start-app" not in st.attempts[0].done


def test_fresh_is_todays_behaviour(tmp_path):
    from tests.unit import test_agent_flow as af

    w = af.World(tmp_path)
    st = w.run()
    assert st.status == "success"
    assert w.deploy_status()["database"] == {"source": "fresh", "backup_id": None, "restored_rows": None,
                                             "status": "fresh"}


def test_the_bucket_layout_the_restore_reads_is_the_backups_own():
    assert database_backups_prefix("odoo") == "backups/odoo/"
    assert Deploy(spaces=SpacesSpec("nyc3", "b")).database.source == "fresh"
