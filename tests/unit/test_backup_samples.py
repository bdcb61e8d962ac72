"""Sample backup facts and manifests the other test_backup_* modules build on (checked valid here)."""

from __future__ import annotations

import ast
import dataclasses
import datetime as dt
import hashlib
import importlib
import pkgutil
import sys
from pathlib import Path
from typing import Any

import firstboot.backup
from firstboot.backup.completeness import StoredObject
from firstboot.backup.manifest import (
    BackupFacts,
    Image,
    Manifest,
    Part,
    build_manifest,
    parse_manifest,
    serialize_manifest,
)

STARTED = dt.datetime(2026, 12, 2, 12, 0, 0, tzinfo=dt.UTC)
FINISHED = STARTED + dt.timedelta(minutes=3, seconds=7)
BACKUP_ID = "20261202T120000Z-scheduled"
RECIPIENT = "age1" + "q" * 58
DIGEST = "sha256:" + "ab" * 32
PART_BYTES = {"database.dump": b"PGDMP custom dump", "filestore.tar": b"tar of the filestore", "sessions.tar": b"tar"}


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


FACTS = BackupFacts(
    database="odoo", database_uuid="0f3c9e5a-7d1b-4b7e-9c39-5a1e2f3d4c5b", odoo_version="18.0-20260723",
    postgres_version="16.4", modules={"base": "18.0.1.3", "contacts": "18.0.1.0", "web": "18.0.1.0"},
    row_counts={"res_partner": 42, "res_users": 3, "ir_attachment": 17}, image=Image("18.0-20260723", DIGEST),
    droplet_id=501234567, deploy_id="deploy-20261201-090000",
)


def facts(**changes: Any) -> BackupFacts:
    return dataclasses.replace(FACTS, **changes)


def parts(encrypted: bool = False, data: dict[str, bytes] | None = None) -> list[Part]:
    suffix = ".age" if encrypted else ""
    return [Part(name + suffix, len(b), sha(b)) for name, b in (data or PART_BYTES).items()]


def manifest(encrypted: bool = False, backup_id: str = BACKUP_ID, **fact_changes: Any) -> Manifest:
    return build_manifest(backup_id, facts(**fact_changes), parts(encrypted), STARTED, FINISHED,
                          RECIPIENT if encrypted else None)


def listing(m: Manifest) -> dict[str, StoredObject]:
    """What a listing of a complete set shows: every part as the manifest describes it, and the manifest."""
    out = {p.name: StoredObject(p.size, p.sha256) for p in m.parts}
    data = serialize_manifest(m)
    out["manifest.json"] = StoredObject(len(data), sha(data))
    return out


def test_samples_are_valid_manifests():
    for encrypted in (False, True):
        m = manifest(encrypted)
        assert parse_manifest(serialize_manifest(m)) == m
        assert m.encrypted is encrypted


def test_the_backup_package_uses_the_standard_library_only():
    """It runs on the droplet with Debian's python3 and nothing installed beside it."""
    allowed_first_party = ("firstboot.backup", "firstboot.contract")
    root = Path(firstboot.backup.__file__).parent
    offenders = []
    for path in sorted(root.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                if top in sys.stdlib_module_names or top == "__future__" or name.startswith(allowed_first_party):
                    continue
                offenders.append(f"{path.name}: {name}")
    assert offenders == []
    # ... and every module imports on its own (no cycles).
    for info in pkgutil.iter_modules([str(root)]):
        importlib.import_module(f"firstboot.backup.{info.name}")
