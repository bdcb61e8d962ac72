"""The facts a backup records and a drill compares, as psql commands, and parsers of what psql prints.

psql runs in the db container over its local socket (no password), unaligned and tuples only, fields
separated by a tab (no Odoo module name, version or store_fname holds one), stopping on the first error.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from firstboot.backup.commands import Argv, Command, check_snapshot_id
from firstboot.backup.keys import check_database_name

# The main tables whose row counts a manifest records and a drill compares. A table a database lacks (its
# module is not installed) is left out of the counts rather than failing the backup.
DEFAULT_COUNTED_TABLES = (
    "res_company", "res_users", "res_partner", "ir_attachment", "ir_module_module", "mail_message",
    "product_template", "sale_order", "account_move", "stock_move",
)
_TABLE = re.compile(r"[a-z_][a-z0-9_]*")
FIELD_SEPARATOR = "\t"


def _psql_base(db: Argv, user: str, database: str) -> Argv:
    return (*db, "psql", "--no-psqlrc", "--quiet", "--no-align", "--tuples-only",
            f"--field-separator={FIELD_SEPARATOR}", "--set=ON_ERROR_STOP=1", f"--username={user}",
            f"--dbname={check_database_name(database)}")


def psql(db: Argv, user: str, database: str, sql: str, purpose: str, snapshot: str | None = None) -> Command:
    """psql running `sql`; inside `snapshot` (one exported by `snapshot_holder`) when given, so what it
    reads is exactly what pg_dump --snapshot wrote, however busy the database is."""
    if snapshot is None:
        return Command(((*_psql_base(db, user, database), "--command", sql),), purpose=purpose)
    return Command(((*_psql_base(db, user, database), "--single-transaction",
                     "--command", "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY;",
                     "--command", f"SET TRANSACTION SNAPSHOT '{check_snapshot_id(snapshot)}';",
                     "--command", sql),), purpose=purpose)


# --- one snapshot for the dump and the facts ---------------------------------------------------------

# What the shell writes to `snapshot_holder`'s stdin; psql answers with the snapshot id on one line, and
# the snapshot lives until the shell closes that stdin (psql then ends, and its transaction with it).
SNAPSHOT_OPEN_SQL = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY;\nSELECT pg_export_snapshot();\n"


def snapshot_holder(db: Argv, user: str, database: str) -> Command:
    """A psql session the shell keeps open while pg_dump and the fact queries share its snapshot: the row
    counts and attachment list in the manifest are then those of the dump, not of a moment later."""
    return Command((_psql_base(db, user, database),), purpose=f"hold a snapshot of {database}")


def parse_snapshot_id(output: str) -> str:
    """The id pg_export_snapshot() printed (`00000003-0000001B-1`), alone on its line."""
    return check_snapshot_id(output.strip())


def _rows(output: str) -> list[list[str]]:
    return [line.split(FIELD_SEPARATOR) for line in output.splitlines() if line.strip()]


# --- versions ----------------------------------------------------------------------------------------

def server_version_query(db: Argv, user: str, database: str) -> Command:
    return psql(db, user, database, "SHOW server_version;", "read PostgreSQL's version")


def parse_server_version(output: str) -> str:
    """`16.4 (Debian 16.4-1.pgdg120+1)` -> `16.4`."""
    text = output.strip()
    if not text:
        raise ValueError("SHOW server_version printed nothing")
    return text.split()[0]


def odoo_version_command(odoo: Argv) -> Command:
    return Command(((*odoo, "odoo", "--version"),), purpose="read Odoo's version")


def parse_odoo_version(output: str) -> str:
    """`Odoo Server 18.0-20260723` -> `18.0-20260723`."""
    for line in output.splitlines():
        if line.startswith("Odoo Server "):
            return line.removeprefix("Odoo Server ").strip()
    raise ValueError(f"odoo --version printed no 'Odoo Server' line: {output.strip()[:200]!r}")


# --- modules, identity -------------------------------------------------------------------------------

def installed_modules_query(db: Argv, user: str, database: str, snapshot: str | None = None) -> Command:
    return psql(db, user, database,
                "SELECT name, coalesce(latest_version, '') FROM ir_module_module WHERE state = 'installed' "
                "ORDER BY name;", "list installed modules", snapshot)


def parse_installed_modules(output: str) -> dict[str, str]:
    return {row[0]: (row[1] if len(row) > 1 else "") for row in _rows(output)}


def database_uuid_query(db: Argv, user: str, database: str, snapshot: str | None = None) -> Command:
    # The uuid only: database.secret stays in the database and never reaches a manifest or a log.
    return psql(db, user, database, "SELECT value FROM ir_config_parameter WHERE key = 'database.uuid';",
                "read the database uuid", snapshot)


def parse_database_uuid(output: str) -> str | None:
    text = output.strip()
    return text or None


# --- row counts --------------------------------------------------------------------------------------

def check_table_names(tables: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    bad = [t for t in tables if not _TABLE.fullmatch(t)]
    if bad:
        raise ValueError(f"not table names: {', '.join(repr(t) for t in bad)}")
    return tuple(tables)


def row_counts_sql(tables: tuple[str, ...] | list[str] = DEFAULT_COUNTED_TABLES) -> str:
    """One statement counting every table that exists (`to_regclass` is NULL for the others, and the
    select list runs only for rows the WHERE kept). Names are checked, so they can stand in the SQL."""
    names = ", ".join(f"'{t}'" for t in check_table_names(tables))
    return (
        "SELECT t, (xpath('/row/n/text()', query_to_xml(format('SELECT count(*) AS n FROM public.%I', t), "
        "false, true, '')))[1]::text::bigint "
        f"FROM unnest(ARRAY[{names}]::text[]) AS t WHERE to_regclass('public.' || quote_ident(t)) IS NOT NULL "
        "ORDER BY t;"
    )


def row_counts_query(db: Argv, user: str, database: str,
                     tables: tuple[str, ...] | list[str] = DEFAULT_COUNTED_TABLES,
                     snapshot: str | None = None) -> Command:
    return psql(db, user, database, row_counts_sql(tables), f"count rows in {database}", snapshot)


def parse_row_counts(output: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for row in _rows(output):
        if len(row) != 2 or not row[1].strip().isdigit():
            raise ValueError(f"unexpected row count line: {FIELD_SEPARATOR.join(row)!r}")
        counts[row[0]] = int(row[1])
    return counts


# --- attachments -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class StoredAttachment:
    store_fname: str  # `xx/<sha1>` under the database's filestore
    checksum: str | None  # Odoo's sha1 of the bytes


def attachments_query(db: Argv, user: str, database: str, snapshot: str | None = None) -> Command:
    return psql(db, user, database,
                "SELECT DISTINCT store_fname, coalesce(checksum, '') FROM ir_attachment "
                "WHERE store_fname IS NOT NULL AND store_fname <> '' ORDER BY 1;",
                f"list the stored attachments of {database}", snapshot)


def parse_attachments(output: str) -> list[StoredAttachment]:
    return [StoredAttachment(row[0], (row[1] or None) if len(row) > 1 else None) for row in _rows(output)]
