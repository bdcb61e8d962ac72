"""Taking a backup, in the order that makes it consistent:

1. `snapshot_holder`: a psql session exports a snapshot and keeps it open (the shell writes
   `SNAPSHOT_OPEN_SQL`, reads the id with `parse_snapshot_id`, and closes stdin at step 4);
2. `dump(snapshot)`: pg_dump of exactly that snapshot (through age when a recipient is set);
3. `facts(snapshot)`: installed modules, database.uuid, row counts and the stored attachments, read in
   the same snapshot, so they describe the dump rather than a moment later on a busy database;
4. close the holder;
5. `archives()`: the filestore, then the sessions. After the dump, as Odoo's own dump does: Odoo writes an
   attachment's file before its row commits, so every file the dump references is on disk by now; files
   added since are harmless extras;
6. the shell lists the archive's members and fails the backup loudly unless
   `checks.check_attachments_present(attachments, members)` is ok;
7. the shell hashes each part, builds the manifest (`manifest.build_manifest`, with `facts_from_outputs`)
   and writes it LAST: to `manifest_partial_path`, fsync, then renamed to `manifest_path`. A backup
   killed before that rename, or stopped by a full disk, has no manifest and never looks complete;
   earlier sets are separate folders and untouched.
"""

from __future__ import annotations

from dataclasses import dataclass

from firstboot.backup.commands import Command, Stack, pg_dump, tar_filestore, tar_sessions
from firstboot.backup.ids import parse_backup_id
from firstboot.backup.keys import (
    DUMP_PART,
    FILESTORE_PART,
    MANIFEST_NAME,
    SESSIONS_PART,
    check_database_name,
    part_name,
)
from firstboot.backup.manifest import BackupFacts, Image, check_age_recipient
from firstboot.backup.queries import (
    DEFAULT_COUNTED_TABLES,
    attachments_query,
    check_table_names,
    database_uuid_query,
    installed_modules_query,
    odoo_version_command,
    parse_database_uuid,
    parse_installed_modules,
    parse_odoo_version,
    parse_row_counts,
    parse_server_version,
    row_counts_query,
    server_version_query,
    snapshot_holder,
)

MANIFEST_PARTIAL = MANIFEST_NAME + ".partial"  # never a part name: the manifest counts only once renamed


@dataclass(frozen=True)
class SnapshotFacts:
    """Commands reading the facts inside the dump's snapshot; their outputs feed `facts_from_outputs`
    (and `attachments`' feeds `checks.check_attachments_present`, via `queries.parse_attachments`)."""

    modules: Command
    database_uuid: Command
    row_counts: Command
    attachments: Command


@dataclass(frozen=True)
class BackupPlan:
    backup_id: str
    database: str
    user: str  # the database role; reached over the db container's socket, no password
    local_dir: str  # this set's folder on the droplet, e.g. /var/lib/odoo-droplet/backups/<backup id>
    stack: Stack
    age_recipient: str | None = None
    tables: tuple[str, ...] = DEFAULT_COUNTED_TABLES

    def __post_init__(self) -> None:
        parse_backup_id(self.backup_id)
        check_database_name(self.database)
        check_table_names(self.tables)
        if self.age_recipient is not None:
            check_age_recipient(self.age_recipient)

    @property
    def encrypted(self) -> bool:
        return self.age_recipient is not None

    def path(self, plain_part: str) -> str:
        return f"{self.local_dir}/{part_name(plain_part, self.encrypted)}"

    @property
    def part_names(self) -> tuple[str, ...]:
        return tuple(part_name(p, self.encrypted) for p in (DUMP_PART, FILESTORE_PART, SESSIONS_PART))

    @property
    def manifest_path(self) -> str:
        return f"{self.local_dir}/{MANIFEST_NAME}"

    @property
    def manifest_partial_path(self) -> str:
        return f"{self.local_dir}/{MANIFEST_PARTIAL}"

    def odoo_version(self) -> Command:
        return odoo_version_command(self.stack.exec("odoo"))

    def server_version(self) -> Command:
        return server_version_query(self.stack.exec("db"), self.user, self.database)

    def snapshot_holder(self) -> Command:
        return snapshot_holder(self.stack.exec("db"), self.user, self.database)

    def dump(self, snapshot: str) -> Command:
        return pg_dump(self.stack.exec("db"), self.user, self.database, self.path(DUMP_PART), self.age_recipient,
                       snapshot)

    def facts(self, snapshot: str) -> SnapshotFacts:
        db = self.stack.exec("db")
        return SnapshotFacts(
            modules=installed_modules_query(db, self.user, self.database, snapshot),
            database_uuid=database_uuid_query(db, self.user, self.database, snapshot),
            row_counts=row_counts_query(db, self.user, self.database, self.tables, snapshot),
            attachments=attachments_query(db, self.user, self.database, snapshot),
        )

    def archives(self) -> tuple[Command, Command]:
        odoo = self.stack.exec("odoo")
        return (tar_filestore(odoo, self.database, self.path(FILESTORE_PART), self.age_recipient),
                tar_sessions(odoo, self.path(SESSIONS_PART), self.age_recipient))


def facts_from_outputs(plan: BackupPlan, *, odoo_version: str, server_version: str, modules: str,
                       database_uuid: str, row_counts: str, image: Image, droplet_id: int,
                       deploy_id: str) -> BackupFacts:
    """The manifest's facts from what the plan's commands printed (ValueError on output it cannot read)."""
    return BackupFacts(
        database=plan.database,
        database_uuid=parse_database_uuid(database_uuid),
        odoo_version=parse_odoo_version(odoo_version),
        postgres_version=parse_server_version(server_version),
        modules=parse_installed_modules(modules),
        row_counts=parse_row_counts(row_counts),
        image=image,
        droplet_id=droplet_id,
        deploy_id=deploy_id,
    )
