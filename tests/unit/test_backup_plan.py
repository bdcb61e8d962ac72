"""Taking a backup (firstboot/backup/backup_plan.py): one snapshot for the dump and its facts, the
filestore after the dump, every command as data, the manifest's facts from the commands' outputs."""

from __future__ import annotations

import pytest

from firstboot.backup.backup_plan import MANIFEST_PARTIAL, BackupPlan, facts_from_outputs
from firstboot.backup.commands import Stack
from firstboot.backup.manifest import Image, build_manifest, parse_manifest, serialize_manifest
from firstboot.backup.queries import SNAPSHOT_OPEN_SQL, parse_snapshot_id
from tests.unit.test_backup_samples import DIGEST, FINISHED, RECIPIENT, STARTED, parts

COMPOSE = ("docker", "compose", "-p", "odoo-droplet", "-f", "/etc/odoo-droplet/stack/docker-compose.yml")
STACK = Stack(COMPOSE)
DB, ODOO = STACK.exec("db"), STACK.exec("odoo")
BID = "20261202T120000Z-scheduled"
DIR = f"/var/lib/odoo-droplet/backups/{BID}"
SNAP = "00000003-0000001B-1"


def _plan(recipient: str | None = None) -> BackupPlan:
    return BackupPlan(BID, "odoo", "odoo", DIR, STACK, recipient, ("res_partner", "ir_attachment"))


def test_the_dump_and_the_facts_share_one_snapshot():
    plan = _plan()
    holder = plan.snapshot_holder()
    assert holder.argv[: len(DB) + 1] == (*DB, "psql") and "--command" not in holder.argv  # SQL comes on stdin
    assert "pg_export_snapshot()" in SNAPSHOT_OPEN_SQL and "REPEATABLE READ" in SNAPSHOT_OPEN_SQL
    assert parse_snapshot_id(f"{SNAP}\n") == SNAP

    dump = plan.dump(SNAP)
    assert dump.argv == (*DB, "pg_dump", "--format=custom", f"--snapshot={SNAP}", "--username=odoo", "--dbname=odoo")
    assert dump.stdout == f"{DIR}/database.dump"

    facts = plan.facts(SNAP)
    for command in (facts.modules, facts.database_uuid, facts.row_counts, facts.attachments):
        argv = command.argv
        assert "--single-transaction" in argv and "--dbname=odoo" in argv
        commands = [argv[i + 1] for i, a in enumerate(argv) if a == "--command"]
        assert commands[:2] == ["SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY;",
                                f"SET TRANSACTION SNAPSHOT '{SNAP}';"]
    assert "ARRAY['res_partner', 'ir_attachment']" in facts.row_counts.argv[-1]
    assert "store_fname" in facts.attachments.argv[-1]


@pytest.mark.parametrize("bad", ["", "x", "'; DROP DATABASE odoo; --", "00000003-0000001B-1\nSELECT 1"])
def test_snapshot_ids_are_checked_before_they_reach_sql(bad):
    with pytest.raises(ValueError, match="snapshot id"):
        parse_snapshot_id(bad)
    with pytest.raises(ValueError, match="snapshot id"):
        _plan().dump(bad)
    with pytest.raises(ValueError, match="snapshot id"):
        _plan().facts(bad)


def test_archives_after_the_dump_and_where_parts_go():
    plan = _plan()
    filestore, sessions = plan.archives()
    assert filestore.argv[: len(ODOO)] == ODOO and "--directory=/var/lib/odoo/filestore/odoo" in filestore.argv
    assert (filestore.stdout, sessions.stdout) == (f"{DIR}/filestore.tar", f"{DIR}/sessions.tar")
    assert plan.part_names == ("database.dump", "filestore.tar", "sessions.tar")
    assert (plan.manifest_path, plan.manifest_partial_path) == (f"{DIR}/manifest.json", f"{DIR}/{MANIFEST_PARTIAL}")
    assert not plan.encrypted


def test_encrypted_plan_pipes_every_part_through_age():
    plan = _plan(RECIPIENT)
    assert plan.part_names == ("database.dump.age", "filestore.tar.age", "sessions.tar.age")
    for command in (plan.dump(SNAP), *plan.archives()):
        assert command.stages[-1] == ("age", "-r", RECIPIENT)
        assert command.stdout and command.stdout.endswith(".age")


def test_plan_refuses_what_cannot_make_a_backup():
    with pytest.raises(ValueError, match="backup id"):
        BackupPlan("now", "odoo", "odoo", DIR, STACK)
    with pytest.raises(ValueError, match="database name"):
        BackupPlan(BID, "odoo/../x", "odoo", DIR, STACK)
    with pytest.raises(ValueError, match="table names"):
        BackupPlan(BID, "odoo", "odoo", DIR, STACK, None, ("res_partner; --",))
    with pytest.raises(ValueError, match="recipient"):
        BackupPlan(BID, "odoo", "odoo", DIR, STACK, "AGE-SECRET-KEY-1" + "Q" * 58)


def test_manifest_facts_from_the_commands_outputs():
    facts = facts_from_outputs(
        _plan(), odoo_version="Odoo Server 18.0-20260723\n", server_version="16.4 (Debian 16.4-1.pgdg120+1)\n",
        modules="base\t18.0.1.3\nweb\t18.0.1.0\n", database_uuid="0f3c9e5a-7d1b-4b7e-9c39-5a1e2f3d4c5b\n",
        row_counts="ir_attachment\t17\nres_partner\t42\n", image=Image("18.0-20260723", DIGEST), droplet_id=7,
        deploy_id="deploy-20261201-090000")
    assert (facts.odoo_version, facts.postgres_version) == ("18.0-20260723", "16.4")
    assert facts.modules == {"base": "18.0.1.3", "web": "18.0.1.0"}
    assert facts.row_counts == {"ir_attachment": 17, "res_partner": 42}
    m = build_manifest(BID, facts, parts(), STARTED, FINISHED, None)
    assert parse_manifest(serialize_manifest(m)) == m
    with pytest.raises(ValueError):
        facts_from_outputs(_plan(), odoo_version="", server_version="16.4", modules="", database_uuid="",
                           row_counts="", image=Image("t", None), droplet_id=7, deploy_id="deploy-20261201-090000")
