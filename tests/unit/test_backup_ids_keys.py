"""Backup ids (sortable UTC time + kind) and where a set lives in Spaces (firstboot/backup/ids.py, keys.py)."""

from __future__ import annotations

import datetime as dt

import pytest

from firstboot.backup.ids import BackupKind, backup_id_for, is_backup_id, parse_backup_id
from firstboot.backup.keys import (
    backup_dir_key,
    backup_ids,
    backup_part_key,
    check_database_name,
    database_backups_prefix,
    manifest_key,
    part_name,
    plain_part_name,
    set_listing,
    verification_key,
)


def test_backup_id_is_utc_time_then_kind():
    assert backup_id_for(dt.datetime(2026, 12, 2, 12, 0, 0, 999, tzinfo=dt.UTC), "scheduled") == \
        "20261202T120000Z-scheduled"
    # Other zones are converted; naive times are UTC.
    paris = dt.timezone(dt.timedelta(hours=1))
    assert backup_id_for(dt.datetime(2026, 12, 2, 13, 0, 0, tzinfo=paris), BackupKind.MANUAL) == \
        "20261202T120000Z-manual"
    assert backup_id_for(dt.datetime(2026, 12, 2, 12, 0, 0), BackupKind.PRE_UPGRADE) == "20261202T120000Z-pre-upgrade"


def test_backup_ids_round_trip_and_sort_by_time():
    times = [dt.datetime(2026, m, d, h, tzinfo=dt.UTC) for m, d, h in ((1, 5, 3), (12, 2, 12), (3, 1, 0), (12, 2, 9))]
    kinds = list(BackupKind) + [BackupKind.SCHEDULED]
    ids = [backup_id_for(t, k) for t, k in zip(times, kinds, strict=True)]
    for i, t, k in zip(ids, times, kinds, strict=True):
        parsed = parse_backup_id(i)
        assert (parsed.created, parsed.kind, str(parsed)) == (t, k, i)
    assert sorted(ids) == [backup_id_for(t, k) for t, k in sorted(zip(times, kinds, strict=True))]
    assert [str(p) for p in sorted(parse_backup_id(i) for i in ids)] == sorted(ids)


@pytest.mark.parametrize("bad", [
    "", "20261202T120000Z", "20261202T120000Z-weekly", "20261202-120000-scheduled", "20261302T120000Z-manual",
    "20261202T120000Z-scheduled/", "deploy-20261202-120000", " 20261202T120000Z-manual",
    "20261202T120000Z-scheduled\n",  # `$` would let a trailing newline through into a key
])
def test_not_backup_ids(bad):
    assert not is_backup_id(bad)
    with pytest.raises(ValueError, match="not a backup id"):
        parse_backup_id(bad)


def test_keys_of_a_set():
    bid = "20261202T120000Z-scheduled"
    assert database_backups_prefix("odoo") == "backups/odoo/"
    assert backup_dir_key("odoo", bid) == f"backups/odoo/{bid}/"
    assert backup_part_key("odoo", bid, "database.dump.age") == f"backups/odoo/{bid}/database.dump.age"
    assert manifest_key("odoo", bid) == f"backups/odoo/{bid}/manifest.json"
    assert verification_key("odoo", bid) == f"backups/odoo/{bid}/verification.json"
    assert part_name("filestore.tar", True) == "filestore.tar.age"
    assert part_name("filestore.tar", False) == "filestore.tar"
    assert plain_part_name("filestore.tar.age") == plain_part_name("filestore.tar") == "filestore.tar"


@pytest.mark.parametrize("bad", ["", "a", "../x", "a/b", "-odoo", "odoo db", "_odoo", "odoo\n"])
def test_database_names_are_odoos(bad):
    with pytest.raises(ValueError, match="not an Odoo database name"):
        check_database_name(bad)
    with pytest.raises(ValueError):
        database_backups_prefix(bad)


def test_keys_refuse_what_is_not_an_id_or_a_part_name():
    with pytest.raises(ValueError, match="not a backup id"):
        backup_dir_key("odoo", "latest")
    for bad in ("", "a/b"):
        with pytest.raises(ValueError, match="not a part name"):
            backup_part_key("odoo", "20261202T120000Z-manual", bad)


def test_backup_ids_from_a_listing():
    keys = [
        "backups/odoo/20261202T120000Z-scheduled/manifest.json",
        "backups/odoo/20261202T120000Z-scheduled/database.dump",
        "backups/odoo/20261130T020000Z-manual/database.dump",  # incomplete sets are listed too
        "backups/odoo/not-an-id/database.dump",
        "backups/odoo-other/20261201T020000Z-scheduled/database.dump",  # another database
        "backups/odoo/20261203T020000Z-scheduled",  # not inside a folder
        "proofs/deploy-20261201-090000/status.json",
    ]
    assert backup_ids(keys, "odoo") == ["20261130T020000Z-manual", "20261202T120000Z-scheduled"]
    objects = {k: len(k) for k in keys}
    assert set_listing(objects, "odoo", "20261202T120000Z-scheduled") == {
        "manifest.json": len(keys[0]), "database.dump": len(keys[1])}
