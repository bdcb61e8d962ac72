"""Where a backup set lives in Spaces, and the names of its parts.

The prefix is the contract's (firstboot/contract/keys.py `BACKUPS_PREFIX`); the keys under it are built here,
the one source the agent, the CLI and the tests read them from.

A set is the folder `backups/<database>/<backup id>/`: the parts, then `manifest.json`, written and
uploaded last, so a folder without a manifest is never taken for a backup (see `completeness`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TypeVar

from firstboot.backup.ids import is_backup_id
from firstboot.contract.keys import BACKUPS_PREFIX

T = TypeVar("T")

MANIFEST_NAME = "manifest.json"
VERIFICATION_NAME = "verification.json"  # the last drill's result, beside the set (not a part)

DUMP_PART = "database.dump"  # pg_dump -Fc
FILESTORE_PART = "filestore.tar"  # data_dir/filestore/<database>/, members relative to it (./xx/<sha1>)
SESSIONS_PART = "sessions.tar"  # data_dir/sessions/
ENCRYPTED_SUFFIX = ".age"  # a part encrypted to an age recipient is stored under its name + this

PLAIN_PARTS = (DUMP_PART, FILESTORE_PART, SESSIONS_PART)

# Odoo's own rule for database names (odoo/service/db.py DB_NAME_RE): it also keeps `/` out of keys.
DATABASE_NAME_PATTERN = re.compile(r"\A[a-zA-Z0-9][a-zA-Z0-9_.-]+\Z")


def check_database_name(database: str) -> str:
    if not DATABASE_NAME_PATTERN.match(database):
        raise ValueError(f"not an Odoo database name: {database!r} (letters, digits, '_', '.', '-'; "
                         "at least two characters, starting with a letter or digit)")
    return database


def part_name(plain: str, encrypted: bool) -> str:
    """The name a part is stored under: `database.dump` or, encrypted, `database.dump.age`."""
    return plain + ENCRYPTED_SUFFIX if encrypted else plain


def plain_part_name(stored: str) -> str:
    """The part's name before encryption (`database.dump.age` -> `database.dump`)."""
    return stored.removesuffix(ENCRYPTED_SUFFIX)


def database_backups_prefix(database: str) -> str:
    """`backups/<database>/`: every backup set of one database."""
    return f"{BACKUPS_PREFIX}{check_database_name(database)}/"


def backup_dir_key(database: str, backup_id: str) -> str:
    """`backups/<database>/<backup id>/`: one set."""
    if not is_backup_id(backup_id):
        raise ValueError(f"not a backup id: {backup_id!r}")
    return f"{database_backups_prefix(database)}{backup_id}/"


def backup_part_key(database: str, backup_id: str, name: str) -> str:
    """`backups/<database>/<backup id>/<name>` (a part, the manifest or the verification record)."""
    if not name or "/" in name:
        raise ValueError(f"not a part name: {name!r}")
    return backup_dir_key(database, backup_id) + name


def manifest_key(database: str, backup_id: str) -> str:
    return backup_part_key(database, backup_id, MANIFEST_NAME)


def verification_key(database: str, backup_id: str) -> str:
    return backup_part_key(database, backup_id, VERIFICATION_NAME)


def backup_ids(keys: list[str], database: str) -> list[str]:
    """The backup ids that have at least one object among these keys, oldest first (complete or not:
    `completeness` decides that)."""
    prefix = database_backups_prefix(database)
    found = {k[len(prefix):].split("/", 1)[0] for k in keys if k.startswith(prefix) and k.count("/") >= 3}
    return sorted(i for i in found if is_backup_id(i))


def set_listing(objects: Mapping[str, T], database: str, backup_id: str) -> dict[str, T]:
    """One set's objects by name (part, manifest, verification), from a bucket listing by object key."""
    prefix = backup_dir_key(database, backup_id)
    return {k[len(prefix):]: v for k, v in objects.items() if k.startswith(prefix) and "/" not in k[len(prefix):]}
