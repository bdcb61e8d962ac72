"""The manifest (built from facts, canonical bytes, strict parsing) and when a set is complete
(firstboot/backup/manifest.py, completeness.py)."""

from __future__ import annotations

import copy
import datetime as dt
import json
from collections.abc import Callable
from typing import Any

import pytest

from firstboot.backup.completeness import SetProblemKind, StoredObject, check_set, check_set_bytes
from firstboot.backup.ids import BackupKind
from firstboot.backup.manifest import (
    FORMAT_VERSION,
    ManifestError,
    Part,
    build_manifest,
    manifest_to_dict,
    parse_manifest,
    serialize_manifest,
)
from tests.unit.test_backup_samples import (
    BACKUP_ID,
    DIGEST,
    FINISHED,
    RECIPIENT,
    STARTED,
    facts,
    listing,
    manifest,
    parts,
    sha,
)


def test_built_from_facts():
    m = manifest()
    assert m.backup_id == BACKUP_ID and m.kind is BackupKind.SCHEDULED
    assert (m.database, m.odoo_version, m.postgres_version) == ("odoo", "18.0-20260723", "16.4")
    assert m.modules == {"base": "18.0.1.3", "contacts": "18.0.1.0", "web": "18.0.1.0"}
    assert m.row_counts == {"ir_attachment": 17, "res_partner": 42, "res_users": 3}
    assert [p.name for p in m.parts] == ["database.dump", "filestore.tar", "sessions.tar"]  # sorted
    assert (m.image.tag, m.image.digest) == ("18.0-20260723", DIGEST)
    assert (m.droplet_id, m.deploy_id) == (501234567, "deploy-20261201-090000")
    assert (m.started_at, m.finished_at) == (STARTED, FINISHED)
    assert not m.encrypted and m.age_recipient is None
    assert m.size_bytes == sum(p.size for p in m.parts)
    assert m.part("database.dump") == m.parts[0]

    e = manifest(encrypted=True, backup_id="20261202T120000Z-pre-upgrade")
    assert e.encrypted and e.age_recipient == RECIPIENT and e.kind is BackupKind.PRE_UPGRADE
    assert e.part("database.dump") is not None and e.part("database.dump").name == "database.dump.age"


def test_serialized_canonically_with_every_field():
    m = manifest()
    data = serialize_manifest(m)
    assert data == serialize_manifest(m) and data.endswith(b"\n")
    doc = json.loads(data)
    assert list(doc) == sorted(doc)
    assert doc == {
        "format_version": FORMAT_VERSION, "backup_id": BACKUP_ID, "kind": "scheduled", "database": "odoo",
        "database_uuid": "0f3c9e5a-7d1b-4b7e-9c39-5a1e2f3d4c5b", "odoo_version": "18.0-20260723",
        "postgres_version": "16.4", "modules": m.modules, "row_counts": m.row_counts,
        "parts": [{"name": p.name, "size": p.size, "sha256": p.sha256} for p in m.parts],
        "image": {"tag": "18.0-20260723", "digest": DIGEST}, "droplet_id": 501234567,
        "deploy_id": "deploy-20261201-090000", "started_at": "2026-12-02T12:00:00Z",
        "finished_at": "2026-12-02T12:03:07Z", "encrypted": False, "age_recipient": None,
    }
    assert not any("secret" in k for k in doc)  # database.secret never leaves the database
    # Same facts in another order: the same bytes.
    shuffled = build_manifest(BACKUP_ID, facts(modules=dict(reversed(list(m.modules.items()))),
                                               row_counts=dict(reversed(list(m.row_counts.items())))),
                              list(reversed(parts())), STARTED.astimezone(dt.timezone(dt.timedelta(hours=-5))),
                              FINISHED, None)
    assert serialize_manifest(shuffled) == data


@pytest.mark.parametrize("encrypted", [False, True])
def test_round_trip(encrypted):
    m = manifest(encrypted)
    assert parse_manifest(serialize_manifest(m)) == m
    assert parse_manifest(serialize_manifest(m).decode()) == m


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(doc: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target: Any = doc
        for p in parents:
            target = target[int(p)] if p.isdigit() else target[p]
        if value is _DELETE:
            del target[last]
        else:
            target[int(last) if last.isdigit() else last] = value
    return change


_DELETE = object()
_HEX = "0" * 64


@pytest.mark.parametrize("change,field", [
    (_set("database", _DELETE), "database"),
    (_set("parts", _DELETE), "parts"),
    (_set("extra", 1), "extra"),
    (_set("image.extra", 1), "image.extra"),
    (_set("image.digest", _DELETE), "image.digest"),
    (_set("parts.0.mode", "0600"), "parts[0].mode"),
    (_set("format_version", 2), "format_version"),
    (_set("format_version", "1"), "format_version"),
    (_set("backup_id", "latest"), "backup_id"),
    (_set("kind", "manual"), "kind"),
    (_set("database", "../etc"), "database"),
    (_set("database", 7), "database"),
    (_set("database_uuid", ""), "database_uuid"),
    (_set("odoo_version", "eighteen"), "odoo_version"),
    (_set("postgres_version", "sixteen"), "postgres_version"),
    (_set("modules", ["base"]), "modules"),
    (_set("modules.base", 18), "modules.base"),
    (_set("row_counts.res_partner", -1), "row_counts.res_partner"),
    (_set("row_counts.res_partner", "42"), "row_counts.res_partner"),
    (_set("row_counts.res_partner", True), "row_counts.res_partner"),
    (_set("parts", {}), "parts"),
    (_set("parts", []), "parts"),
    (_set("parts.0.size", "12"), "parts[0].size"),
    (_set("parts.0.size", -1), "parts[0].size"),
    (_set("parts.0.sha256", "AB" * 32), "parts[0].sha256"),
    (_set("parts.0.sha256", _HEX[:-1]), "parts[0].sha256"),
    (_set("parts.0.sha256", _HEX + "\n"), "parts[0].sha256"),
    (_set("parts.1.name", "database.dump"), "parts[1].name"),
    (_set("parts.1.name", "a/b"), "parts[1].name"),
    (_set("parts.1.name", "filestore.tar.age"), "parts[1].name"),
    (_set("parts.0.name", "db.dump"), "parts"),
    (_set("image.digest", "ab" * 32), "image.digest"),
    (_set("image.tag", None), "image.tag"),
    (_set("droplet_id", 0), "droplet_id"),
    (_set("droplet_id", "501234567"), "droplet_id"),
    (_set("deploy_id", "deploy-1"), "deploy_id"),
    (_set("started_at", "2026-12-02 12:00:00"), "started_at"),
    (_set("finished_at", "2026-12-02T11:59:59Z"), "finished_at"),
    (_set("encrypted", True), "encrypted"),
    (_set("encrypted", "no"), "encrypted"),
    (_set("age_recipient", "age1short"), "encrypted"),
])
def test_strict_parsing_names_the_field(change, field):
    doc = manifest_to_dict(manifest())
    broken = copy.deepcopy(doc)
    change(broken)
    with pytest.raises(ManifestError) as e:
        parse_manifest(json.dumps(broken))
    assert e.value.field == field
    assert repr(field) in str(e.value)


def test_strict_parsing_of_encryption():
    doc = manifest_to_dict(manifest(encrypted=True))
    doc["age_recipient"] = "AGE-SECRET-KEY-1" + "Q" * 58  # an identity pasted where the recipient goes
    with pytest.raises(ManifestError) as e:
        parse_manifest(json.dumps(doc))
    assert e.value.field == "age_recipient"
    doc = manifest_to_dict(manifest(encrypted=True))
    doc["parts"][0]["name"] = "database.dump"
    with pytest.raises(ManifestError, match="not encrypted|is encrypted"):
        parse_manifest(json.dumps(doc))


@pytest.mark.parametrize("data", [b"", b"{", b"\xff\xfe", b"[]", b"null", b'"manifest"'])
def test_not_a_manifest_at_all(data):
    with pytest.raises(ManifestError):
        parse_manifest(data)


def test_build_refuses_facts_that_make_no_valid_manifest():
    with pytest.raises(ManifestError) as e:
        build_manifest(BACKUP_ID, facts(deploy_id="yesterday"), parts(), STARTED, FINISHED, None)
    assert e.value.field == "deploy_id"
    with pytest.raises(ManifestError) as e:
        build_manifest(BACKUP_ID, facts(), parts(), FINISHED, STARTED, None)
    assert e.value.field == "finished_at"
    with pytest.raises(ManifestError) as e:
        build_manifest(BACKUP_ID, facts(), [Part("filestore.tar", 1, _HEX)], STARTED, FINISHED, None)
    assert e.value.field == "parts" and "database.dump" in str(e.value)
    with pytest.raises(ManifestError) as e:
        build_manifest(BACKUP_ID, facts(), parts(), STARTED, FINISHED, RECIPIENT)  # plain part names
    assert e.value.field.startswith("parts[")
    with pytest.raises(ValueError, match="not a backup id"):
        build_manifest("20261202-scheduled", facts(), parts(), STARTED, FINISHED, None)


# --- completeness ------------------------------------------------------------------------------------

def test_complete_when_every_part_matches_and_extras_do_not_matter():
    m = manifest()
    objects = listing(m) | {"verification.json": StoredObject(10, _HEX), "stray.tmp": StoredObject(1, _HEX)}
    result = check_set(m, objects)
    assert result.complete and result.problems == () and result.manifest == m
    # Uppercase hex from a listing is the same digest.
    upper = {k: StoredObject(v.size, v.sha256.upper()) for k, v in objects.items()}
    assert check_set(m, upper).complete


def test_incomplete_without_a_manifest():
    result = check_set(None, listing(manifest()))
    assert not result.complete
    assert [p.kind for p in result.problems] == [SetProblemKind.NO_MANIFEST]
    assert "manifest.json" in result.reasons[0]
    assert not check_set_bytes(None, {}).complete


def test_incomplete_with_every_reason_named():
    m = manifest()
    objects = listing(m)
    del objects["sessions.tar"]
    dump = objects["database.dump"]
    objects["database.dump"] = StoredObject(dump.size + 1, dump.sha256)
    store = objects["filestore.tar"]
    objects["filestore.tar"] = StoredObject(store.size, sha(b"one byte changed"))
    result = check_set(m, objects)
    assert not result.complete
    assert {(p.kind, p.part) for p in result.problems} == {
        (SetProblemKind.MISSING_PART, "sessions.tar"),
        (SetProblemKind.SIZE_MISMATCH, "database.dump"),
        (SetProblemKind.CHECKSUM_MISMATCH, "filestore.tar"),
    }
    assert any("sessions.tar is missing" in r for r in result.reasons)
    assert any("database.dump" in r and "bytes" in r for r in result.reasons)
    assert any("filestore.tar" in r and "corrupt" in r for r in result.reasons)


def test_unreadable_manifest_makes_the_set_incomplete():
    m = manifest()
    result = check_set_bytes(b'{"format_version": 1, "backup_id": ', listing(m))
    assert not result.complete and result.manifest is None
    assert result.problems[0].kind is SetProblemKind.INVALID_MANIFEST
    good = check_set_bytes(serialize_manifest(m), listing(m))
    assert good.complete and good.manifest == m
