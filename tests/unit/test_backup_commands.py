"""The commands of backups, restores and drills as data (firstboot/backup/commands.py, queries.py): what
runs where, with which redirections, and that no secret is ever an argument."""

from __future__ import annotations

import pytest

from firstboot.backup import queries
from firstboot.backup.commands import (
    MAX_DATABASE_NAME,
    RESTORE_DUMP_IN_CONTAINER,
    Command,
    Stack,
    age_decrypt,
    age_encrypt,
    create_database,
    derived_database_name,
    drop_database,
    leaked_secrets,
    neutralize,
    pg_dump,
    pg_restore,
    swap_databases,
    swap_filestores,
    tar_filestore,
    tar_sessions,
    unpack_filestore,
)
from firstboot.backup.drill import plan_drill
from firstboot.backup.manifest import serialize_manifest
from firstboot.backup.restore import RestorePlan, RestoreTarget, plan_restore
from tests.unit.test_backup_samples import RECIPIENT, listing, manifest

COMPOSE = ("docker", "compose", "-p", "odoo-droplet", "-f", "/etc/odoo-droplet/stack/docker-compose.yml")
STACK = Stack(COMPOSE)
DB = (*COMPOSE, "exec", "-T", "db")
ODOO = (*COMPOSE, "exec", "-T", "odoo")
IDENTITY_FILE = "/run/odoo-droplet/age-identity"  # a path: the key itself stays in the file


def test_where_commands_run():
    assert STACK.exec("db") == DB
    assert STACK.one_off("odoo") == (*COMPOSE, "run", "--rm", "--no-deps", "-T", "odoo")
    assert STACK.copy_in("/var/x", "db", "/tmp/y") == (*COMPOSE, "cp", "/var/x", "db:/tmp/y")


def test_pg_dump_custom_format_to_a_file():
    c = pg_dump(DB, "odoo", "odoo", "/var/lib/odoo-droplet/backups/x/database.dump")
    assert c.argv == (*DB, "pg_dump", "--format=custom", "--username=odoo", "--dbname=odoo")
    assert (c.stdin, c.stdout) == (None, "/var/lib/odoo-droplet/backups/x/database.dump")


def test_pg_dump_encrypted_through_age_to_the_recipient():
    c = pg_dump(DB, "odoo", "odoo", "/b/database.dump.age", RECIPIENT)
    assert c.stages == ((*DB, "pg_dump", "--format=custom", "--username=odoo", "--dbname=odoo"),
                        ("age", "-r", RECIPIENT))
    assert c.stdout == "/b/database.dump.age"
    with pytest.raises(ValueError, match="pipeline"):
        _ = c.argv


def test_tar_of_the_filestore_and_sessions_relative_to_their_folders():
    c = tar_filestore(ODOO, "odoo", "/b/filestore.tar")
    assert c.argv == (*ODOO, "tar", "--create", "--file=-", "--directory=/var/lib/odoo/filestore/odoo", ".")
    assert c.stdout == "/b/filestore.tar"
    e = tar_filestore(ODOO, "odoo", "/b/filestore.tar.age", RECIPIENT)
    assert e.stages[1] == ("age", "-r", RECIPIENT)
    s = tar_sessions(ODOO, "/b/sessions.tar")
    assert s.argv == (*ODOO, "tar", "--create", "--file=-", "--directory=/var/lib/odoo/sessions", ".")
    with pytest.raises(ValueError):
        tar_filestore(ODOO, "../../etc", "/b/x")


def test_age_encrypts_to_a_recipient_and_decrypts_with_an_identity_file():
    assert age_encrypt(RECIPIENT, "/b/in", "/b/in.age").argv == ("age", "-r", RECIPIENT, "-o", "/b/in.age", "/b/in")
    d = age_decrypt(IDENTITY_FILE, "/b/database.dump.age", "/b/database.dump")
    assert d.argv == ("age", "-d", "-i", IDENTITY_FILE, "-o", "/b/database.dump", "/b/database.dump.age")


def test_restore_into_a_new_database_in_parallel_without_owners():
    assert create_database(DB, "odoo", "odoo_restore_x").argv == (
        *DB, "createdb", "--username=odoo", "--owner=odoo", "--template=template0", "--encoding=UTF8",
        "--lc-collate=C", "odoo_restore_x")
    r = pg_restore(DB, "odoo", "odoo_restore_x", 4)
    assert r.argv == (*DB, "pg_restore", "--jobs=4", "--no-owner", "--exit-on-error", "--username=odoo",
                      "--dbname=odoo_restore_x", RESTORE_DUMP_IN_CONTAINER)
    with pytest.raises(ValueError, match="at least one job"):
        pg_restore(DB, "odoo", "odoo_restore_x", 0)


def test_filestore_unpacked_under_the_database_name():
    mkdir, untar = unpack_filestore(ODOO, "odoo_restore_x", "/b/filestore.tar")
    assert mkdir.argv == (*ODOO, "mkdir", "-p", "--", "/var/lib/odoo/filestore/odoo_restore_x")
    assert untar.argv == (*ODOO, "tar", "--extract", "--file=-", "--no-same-owner",
                          "--directory=/var/lib/odoo/filestore/odoo_restore_x")
    assert untar.stdin == "/b/filestore.tar"


def test_swap_is_one_transaction_and_moves_the_live_database_aside_first():
    c = swap_databases(DB, "odoo", "odoo", "odoo_restore_x", "odoo_pre_restore_x")
    argv = c.argv
    assert argv[: len(DB) + 1] == (*DB, "psql") and "--single-transaction" in argv and "--set=ON_ERROR_STOP=1" in argv
    assert "--dbname=postgres" in argv
    statements = [argv[i + 1] for i, a in enumerate(argv) if a == "--command"]
    assert statements == ['ALTER DATABASE "odoo" RENAME TO "odoo_pre_restore_x";',
                          'ALTER DATABASE "odoo_restore_x" RENAME TO "odoo";']
    first_boot = swap_databases(DB, "odoo", "odoo", "odoo_restore_x", None)
    assert [first_boot.argv[i + 1] for i, a in enumerate(first_boot.argv) if a == "--command"] == [
        'ALTER DATABASE "odoo_restore_x" RENAME TO "odoo";']
    with pytest.raises(ValueError):
        swap_databases(DB, "odoo", 'odoo"; DROP DATABASE x; --', "odoo_restore_x", None)
    pairs = swap_filestores(ODOO, "odoo", "odoo_restore_x", "odoo_pre_restore_x")
    fs = "/var/lib/odoo/filestore/"
    assert [(do.argv[len(ODOO):], undo.argv[len(ODOO):] if undo else None) for do, undo in pairs] == [
        (("mkdir", "-p", "--", fs + "odoo"), None),  # a database that never stored a file has no folder
        (("mv", "--no-target-directory", "--", fs + "odoo", fs + "odoo_pre_restore_x"),
         ("mv", "--no-target-directory", "--", fs + "odoo_pre_restore_x", fs + "odoo")),
        (("mv", "--no-target-directory", "--", fs + "odoo_restore_x", fs + "odoo"),
         ("mv", "--no-target-directory", "--", fs + "odoo", fs + "odoo_restore_x")),
    ]
    [(only, _)] = swap_filestores(ODOO, "odoo", "odoo_restore_x", None)
    assert only.argv[len(ODOO):] == ("mv", "--no-target-directory", "--", fs + "odoo_restore_x", fs + "odoo")


def test_drill_commands():
    assert neutralize(ODOO, "odoo_drill_x").argv == (*ODOO, "odoo", "neutralize", "-d", "odoo_drill_x")
    assert drop_database(DB, "odoo", "odoo_drill_x").argv == (
        *DB, "dropdb", "--force", "--if-exists", "--username=odoo", "odoo_drill_x")


def test_derived_database_names_fit_postgresql():
    assert derived_database_name("odoo", "drill_20261202t120000z") == "odoo_drill_20261202t120000z"
    long = derived_database_name("x" * 63, "restore_20261202t120000z")
    assert len(long) == MAX_DATABASE_NAME and long.endswith("_restore_20261202t120000z")


def test_a_command_has_arguments():
    with pytest.raises(ValueError):
        Command(())
    with pytest.raises(ValueError):
        Command(((),))


# --- no secret on a command line ---------------------------------------------------------------------

SECRETS = [
    "AGE-SECRET-KEY-1QYQSZQGPQYQSZQGPQYQSZQGPQYQSZQGPQYQSZQGPQYQSZQGPQYQSHFNWAP",  # the age identity
    "db-password-Xq9v",  # DB_PASSWORD
    "master-passwd-Zk2",  # ADMIN_PASSWD
    "spaces/secret+key",  # SPACES_SECRET
    "6f1d3c0e-database-secret",  # database.secret
]


def _every_command() -> list[Command]:
    m = manifest(encrypted=True)
    commands: list[Command] = [
        pg_dump(DB, "odoo", "odoo", "/b/database.dump.age", RECIPIENT),
        tar_filestore(ODOO, "odoo", "/b/filestore.tar.age", RECIPIENT),
        tar_sessions(ODOO, "/b/sessions.tar.age", RECIPIENT),
        queries.server_version_query(DB, "odoo", "odoo"),
        queries.odoo_version_command(ODOO),
        queries.installed_modules_query(DB, "odoo", "odoo"),
        queries.database_uuid_query(DB, "odoo", "odoo"),
        queries.row_counts_query(DB, "odoo", "odoo"),
        queries.attachments_query(DB, "odoo", "odoo"),
    ]
    target = RestoreTarget("odoo", "odoo", "18.0-20260801", "16.6", live_database_exists=True, jobs=2)
    plan = plan_restore(serialize_manifest(m), listing(m), target, STACK, "/b", "20261202T130000Z", IDENTITY_FILE)
    assert isinstance(plan, RestorePlan)
    commands += [c for step in plan.steps for c in step.commands]
    drill = plan_drill(m, STACK, "odoo", "/b", "20261209T030000Z", 2, IDENTITY_FILE)
    commands += [*drill.setup, drill.row_counts, drill.attachments, *drill.cleanup]
    return commands


def test_no_secret_is_ever_an_argument():
    commands = _every_command()
    assert len(commands) > 20
    assert leaked_secrets(commands, SECRETS) == []
    args = [a for c in commands for a in c.arguments()]
    assert not any("SECRET" in a.upper() and "KEY" in a.upper() for a in args)
    assert not any(a.startswith(("--password", "-W", "PGPASSWORD")) for a in args)
    # The identity reaches age only as the file after -i.
    decrypts = [c.argv for c in commands if c.stages[0][0] == "age" and "-d" in c.stages[0]]
    assert decrypts and all(argv[argv.index("-i") + 1] == IDENTITY_FILE for argv in decrypts)
    # And nothing runs through a shell: no command string to quote a secret into.
    assert not any(argv[0] in ("sh", "bash") or "-c" in argv for c in commands for argv in c.stages)


def test_leaked_secrets_names_a_leak_without_showing_it():
    leaky = Command((("psql", f"postgresql://odoo:{SECRETS[1]}@db/odoo"),))
    found = leaked_secrets([leaky], SECRETS)
    assert found == ["secret #1"] and SECRETS[1] not in repr(found)
    assert leaked_secrets([leaky], ["", "unrelated"]) == []


# --- queries and their answers -----------------------------------------------------------------------

def test_psql_reads_facts_unaligned_and_stops_on_error():
    c = queries.server_version_query(DB, "odoo", "odoo")
    assert c.argv[: len(DB) + 1] == (*DB, "psql")
    for flag in ("--no-psqlrc", "--no-align", "--tuples-only", "--field-separator=\t", "--set=ON_ERROR_STOP=1",
                 "--username=odoo", "--dbname=odoo"):
        assert flag in c.argv
    assert c.argv[-2:] == ("--command", "SHOW server_version;")


def test_row_count_sql_counts_only_tables_that_exist():
    sql = queries.row_counts_sql(("res_partner", "ir_attachment"))
    assert "ARRAY['res_partner', 'ir_attachment']" in sql and "to_regclass" in sql
    for bad in (["res_partner; DROP TABLE x"], ["Res_Partner"], ["a'b"], ["res_partner\n"]):
        with pytest.raises(ValueError, match="not table names"):
            queries.row_counts_sql(bad)
    assert "res_partner" in queries.row_counts_query(DB, "odoo", "odoo").argv[-1]
    assert set(queries.DEFAULT_COUNTED_TABLES) >= {"res_partner", "res_users", "ir_attachment"}


def test_parsers():
    assert queries.parse_server_version("16.4 (Debian 16.4-1.pgdg120+1)\n") == "16.4"
    with pytest.raises(ValueError):
        queries.parse_server_version("\n")
    assert queries.parse_odoo_version("Odoo Server 18.0-20260723\n") == "18.0-20260723"
    with pytest.raises(ValueError, match="Odoo Server"):
        queries.parse_odoo_version("usage: odoo ...")
    assert queries.parse_installed_modules("base\t18.0.1.3\nweb\t\n\n") == {"base": "18.0.1.3", "web": ""}
    assert queries.parse_database_uuid(" 0f3c9e5a\n") == "0f3c9e5a"
    assert queries.parse_database_uuid("\n") is None
    assert queries.parse_row_counts("ir_attachment\t0\nres_partner\t5\n") == {"ir_attachment": 0, "res_partner": 5}
    with pytest.raises(ValueError, match="row count"):
        queries.parse_row_counts("res_partner\tmany\n")
    assert queries.parse_attachments("ab/ab12\tab12\ncd/cd34\t\n") == [
        queries.StoredAttachment("ab/ab12", "ab12"), queries.StoredAttachment("cd/cd34", None)]
