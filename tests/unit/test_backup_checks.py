"""Checks that decide whether a backup can be trusted (firstboot/backup/checks.py, versions.py, drill.py):
attachments present, versions compatible, the drill's row counts and checksums."""

from __future__ import annotations

import datetime as dt
import hashlib
import json

import pytest

from firstboot.backup.checks import (
    check_attachment_checksums,
    check_attachments_present,
    check_restore_compatibility,
    compare_row_counts,
    tar_member_name,
)
from firstboot.backup.commands import Stack
from firstboot.backup.drill import judge_drill, last_verified, plan_drill, serialize_drill
from firstboot.backup.failures import RestoreFailureKind
from firstboot.backup.queries import StoredAttachment
from firstboot.backup.versions import odoo_series, postgres_major
from tests.unit.test_backup_samples import manifest

STACK = Stack(("docker", "compose", "-p", "odoo-droplet", "-f", "/etc/odoo-droplet/stack/docker-compose.yml"))
NOW = dt.datetime(2026, 12, 9, 3, 0, tzinfo=dt.UTC)


def _file(content: bytes) -> tuple[str, str]:
    digest = hashlib.sha1(content).hexdigest()
    return f"{digest[:2]}/{digest}", digest


# --- attachments -------------------------------------------------------------------------------------

def test_every_referenced_file_present():
    names = [_file(b"a")[0], _file(b"b")[0]]
    members = [".", "./" + names[0][:2], "./" + names[0], "./" + names[1], "./ff/unreferenced"]
    check = check_attachments_present(names + names[:1], members)  # duplicates are one file
    assert check.ok and check.checked == 2 and check.problem_count == 0
    assert "2 attachment files" in check.message()
    assert tar_member_name("././ab/abc/") == "ab/abc"


def test_missing_files_fail_loudly_naming_up_to_n():
    names = [_file(bytes([i]))[0] for i in range(30)]
    check = check_attachments_present(names, ["./" + names[0]], limit=5)
    assert not check.ok and check.checked == 30 and check.problem_count == 29
    assert len(check.problems) == 5
    msg = check.message()
    assert msg.startswith("29 of 30 attachment files are missing or damaged")
    assert "and 24 more" in msg
    assert all(p.split(" ")[0] in msg for p in check.problems)
    assert sorted(names[1:])[0] in msg  # named in a stable (sorted) order


def test_drill_checks_each_files_checksum():
    good_name, good_sum = _file(b"invoice.pdf")
    bad_name, bad_sum = _file(b"logo.png")
    gone_name, gone_sum = _file(b"contract.docx")
    rows = [StoredAttachment(good_name, good_sum), StoredAttachment(bad_name, bad_sum),
            StoredAttachment(gone_name, gone_sum)]
    digests = {"./" + good_name: good_sum, "./" + bad_name: hashlib.sha1(b"logo.pnG").hexdigest()}
    check = check_attachment_checksums(rows, digests)
    assert check.checked == 3 and check.problem_count == 2
    assert any(bad_name in p and "expected " + bad_sum in p for p in check.problems)
    assert any(gone_name in p and "not in the archive" in p for p in check.problems)
    # Without Odoo's checksum column, the file's name (its sha1) is what the bytes must hash to.
    assert check_attachment_checksums([StoredAttachment(good_name, None)], {"./" + good_name: good_sum}).ok


# --- versions ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("version,series", [
    ("18.0", "18.0"), ("18.0-20260723", "18.0"), ("18.0.1.3", "18.0"), ("Odoo Server 18.0", "18.0"),
    ("18.0+e", "18.0"), ("saas~17.2", "saas~17.2"), ("17.0", "17.0"),
])
def test_odoo_series(version, series):
    assert odoo_series(version) == series


@pytest.mark.parametrize("version,major", [
    ("16.4", (16,)), ("16.4 (Debian 16.4-1.pgdg120+1)", (16,)), ("15beta2", (15,)), ("9.6.24", (9, 6)),
    ("PostgreSQL 17.0", (17,)),
])
def test_postgres_major(version, major):
    assert postgres_major(version) == major


@pytest.mark.parametrize("bad", ["", "eighteen", "v18"])
def test_not_versions(bad):
    with pytest.raises(ValueError):
        odoo_series(bad)
    with pytest.raises(ValueError):
        postgres_major(bad)


def test_restore_compatibility():
    assert check_restore_compatibility("18.0-20260723", "16.4", "18.0-20260901", "16.6") == []
    assert check_restore_compatibility("18.0", "15.8", "18.0", "16.4") == []  # an older dump restores
    [other_odoo] = check_restore_compatibility("17.0-20250101", "16.4", "18.0-20260723", "16.4")
    assert other_odoo.kind is RestoreFailureKind.VERSION_MISMATCH
    assert "17.0-20250101" in other_odoo.detail and "18.0-20260723" in other_odoo.detail
    [newer_pg] = check_restore_compatibility("18.0", "17.2", "18.0", "16.4")
    assert newer_pg.kind is RestoreFailureKind.POSTGRES_TOO_NEW
    assert "17.2" in newer_pg.detail and "16.4" in newer_pg.detail
    both = check_restore_compatibility("saas~17.2", "17.0", "18.0", "16.4")
    assert [f.kind for f in both] == [RestoreFailureKind.VERSION_MISMATCH, RestoreFailureKind.POSTGRES_TOO_NEW]


# --- the drill ---------------------------------------------------------------------------------------

def test_row_counts_compared_with_the_manifest():
    expected = {"res_partner": 42, "res_users": 3, "ir_attachment": 17}
    assert compare_row_counts(expected, {**expected, "mail_message": 9}).passed
    result = compare_row_counts(expected, {"res_partner": 41, "res_users": 3})
    assert not result.passed
    assert [(d.table, d.expected, d.actual) for d in result.differences] == [
        ("ir_attachment", 17, None), ("res_partner", 42, 41)]
    assert str(result.differences[0]) == "ir_attachment: manifest 17 rows, restored copy no such table"
    assert str(result.differences[1]) == "res_partner: manifest 42 rows, restored copy 41 rows"


def test_drill_plan_restores_into_a_neutralized_scratch_database_and_drops_it():
    m = manifest()
    plan = plan_drill(m, STACK, "odoo", "/var/lib/odoo-droplet/drill", "20261209T030000Z", jobs=3)
    assert plan.scratch_database == "odoo_drill_20261209t030000z"
    programs = [next(a for a in c.argv if a in ("dropdb", "createdb", "cp", "pg_restore", "odoo")) for c in plan.setup]
    assert programs == ["dropdb", "createdb", "cp", "pg_restore", "odoo"]
    assert plan.setup[-1].argv[-4:] == ("odoo", "neutralize", "-d", plan.scratch_database)
    assert "--jobs=3" in plan.setup[3].argv and f"--dbname={plan.scratch_database}" in plan.setup[3].argv
    assert f"--dbname={plan.scratch_database}" in plan.row_counts.argv
    assert all(t in plan.row_counts.argv[-1] for t in m.row_counts)
    assert f"--dbname={plan.scratch_database}" in plan.attachments.argv
    assert plan.cleanup[0].argv[-1] == plan.scratch_database and "dropdb" in plan.cleanup[0].argv
    # Nothing in the drill touches the live database: every database it names is the scratch one.
    everything = [*plan.setup, plan.row_counts, plan.attachments, *plan.cleanup]
    named = {a.removeprefix("--dbname=") for c in everything for a in c.argv if a.startswith("--dbname=")}
    named |= {c.argv[-1] for c in everything if {"createdb", "dropdb"} & set(c.argv)}
    assert named == {plan.scratch_database}


def test_drill_of_an_encrypted_backup_decrypts_first_and_needs_the_identity():
    m = manifest(encrypted=True)
    with pytest.raises(ValueError, match="identity"):
        plan_drill(m, STACK, "odoo", "/d", "20261209T030000Z")
    plan = plan_drill(m, STACK, "odoo", "/d", "20261209T030000Z", identity_file="/run/id")
    assert plan.setup[0].argv == ("age", "-d", "-i", "/run/id", "-o", "/d/database.dump", "/d/database.dump.age")
    assert plan.setup[3].argv[-2:] == ("/d/database.dump", "db:/tmp/odoo-droplet-restore.dump")


def test_drill_judgement_and_its_record():
    m = manifest()
    name, digest = _file(b"invoice.pdf")
    ok = judge_drill(m, NOW, dict(m.row_counts), [StoredAttachment(name, digest)], {"./" + name: digest})
    assert ok.passed and ok.problems() == []
    record = serialize_drill(ok)
    assert json.loads(record) == {"backup_id": m.backup_id, "verified_at": "2026-12-09T03:00:00Z", "passed": True,
                                  "problems": [], "attachments_checked": 1}
    assert last_verified(record) == NOW

    bad = judge_drill(m, NOW, {**m.row_counts, "res_partner": 0}, [StoredAttachment(name, digest)], {})
    assert not bad.passed
    assert any("res_partner" in p for p in bad.problems()) and any(name in p for p in bad.problems())
    assert last_verified(serialize_drill(bad)) is None  # a failed drill verifies nothing

    broken = judge_drill(m, NOW, {}, [], {}, error="pg_restore failed: out of disk")
    assert not broken.passed and broken.problems()[0] == "pg_restore failed: out of disk"
    for junk in (None, b"", b"[]", b'{"passed": true}', b'{"passed": true, "verified_at": "yesterday"}'):
        assert last_verified(junk) is None
