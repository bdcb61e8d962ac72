"""The commands a backup, a restore and a drill run, as data.

Each is a tuple of argument vectors (a pipeline when more than one) with its stdin and stdout files named
as data: the shell runs them with subprocess and no shell, so nothing is quoted or interpolated, and the
tests read them as values. Nothing secret is ever an argument (DESIGN §8): PostgreSQL is reached through
the db container's local socket as the database role (no password), the age identity only through a file
path (`age -d -i FILE`), and `leaked_secrets` lets the runner refuse a command that would show one.

Where a command runs is a prefix: `Stack.exec("db")` is `docker compose -p P -f FILE exec -T db`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from firstboot.backup.keys import check_database_name

Argv = tuple[str, ...]

# Inside the official odoo image (DESIGN §6: volume /var/lib/odoo holds filestore/ and sessions/).
ODOO_DATA_DIR = "/var/lib/odoo"
# Where pg_restore reads the dump inside the db container: -j needs a seekable file, not a pipe.
RESTORE_DUMP_IN_CONTAINER = "/tmp/odoo-droplet-restore.dump"
POSTGRES_MAINTENANCE_DB = "postgres"
MAX_DATABASE_NAME = 63  # PostgreSQL's identifier limit (NAMEDATALEN - 1)


@dataclass(frozen=True)
class Command:
    """One process, or several piped stdout to stdin; files for the first stdin and the last stdout."""

    stages: tuple[Argv, ...]
    stdin: str | None = None  # a file the first stage reads
    stdout: str | None = None  # a file the last stage's output goes to (the runner writes it 0600)
    purpose: str = ""  # for logs and progress: says what, never how

    def __post_init__(self) -> None:
        if not self.stages or any(not argv for argv in self.stages):
            raise ValueError("a command needs at least one non-empty argument vector")

    @property
    def argv(self) -> Argv:
        """The single process's arguments (ValueError for a pipeline: use `stages`)."""
        if len(self.stages) != 1:
            raise ValueError(f"a pipeline of {len(self.stages)} processes has no single argv")
        return self.stages[0]

    def arguments(self) -> Iterable[str]:
        for argv in self.stages:
            yield from argv


def leaked_secrets(commands: Iterable[Command], secrets: Iterable[str]) -> list[str]:
    """The secrets (by position in `secrets`, never their values) that appear in some argument."""
    args = [a for c in commands for a in c.arguments()]
    return [f"secret #{i}" for i, s in enumerate(secrets) if s and any(s in a for a in args)]


@dataclass(frozen=True)
class Stack:
    """The compose stack on the droplet: `compose` is `docker compose -p PROJECT -f FILE`."""

    compose: Argv

    def exec(self, service: str) -> Argv:
        """Run in the service's running container (`-T`: no TTY, so stdin and stdout carry bytes)."""
        return (*self.compose, "exec", "-T", service)

    def one_off(self, service: str) -> Argv:
        """Run in a new container of the service (its volumes, no dependencies started): for the odoo
        volume before Odoo runs, as at a first-boot restore. The odoo image's entrypoint runs any
        command other than `odoo` as it is."""
        return (*self.compose, "run", "--rm", "--no-deps", "-T", service)

    def copy_in(self, local: str, service: str, path: str) -> Argv:
        return (*self.compose, "cp", local, f"{service}:{path}")


_SNAPSHOT_ID = re.compile(r"[0-9A-F]+-[0-9A-F]+(-[0-9]+)?")


def check_snapshot_id(value: str) -> str:
    """A snapshot id as pg_export_snapshot() prints it (`00000003-0000001B-1`); it goes into SQL text."""
    if not _SNAPSHOT_ID.fullmatch(value):
        raise ValueError(f"not a PostgreSQL snapshot id: {value[:40]!r}")
    return value


def derived_database_name(database: str, suffix: str) -> str:
    """`<database>_<suffix>` within PostgreSQL's 63 characters (the database part is cut, not the suffix,
    which tells scratch and restore databases apart)."""
    check_database_name(database)
    tail = f"_{suffix}"
    return check_database_name(database[: MAX_DATABASE_NAME - len(tail)] + tail)


# --- backup ------------------------------------------------------------------------------------------

def _encrypt_stage(recipient: str | None) -> tuple[Argv, ...]:
    # A recipient is a public key: safe on a command line, unlike the identity.
    return (("age", "-r", recipient),) if recipient else ()


def pg_dump(db: Argv, user: str, database: str, out: str, recipient: str | None = None,
            snapshot: str | None = None) -> Command:
    """`pg_dump -Fc` of the database to `out`, through `age -r` when a recipient is set. Custom format:
    compressed, and pg_restore can load it in parallel and without owners. With `snapshot` (see
    queries.snapshot_holder) it dumps exactly what the manifest's facts were read from."""
    in_snapshot = (f"--snapshot={check_snapshot_id(snapshot)}",) if snapshot is not None else ()
    dump = (*db, "pg_dump", "--format=custom", *in_snapshot, f"--username={user}",
            f"--dbname={check_database_name(database)}")
    return Command((dump, *_encrypt_stage(recipient)), stdout=out, purpose=f"dump database {database}")


def _tar_create(odoo: Argv, directory: str, out: str, recipient: str | None, purpose: str) -> Command:
    # Members relative to the folder (./xx/<sha1>): unpacked later under whatever name the database has.
    tar = (*odoo, "tar", "--create", "--file=-", f"--directory={directory}", ".")
    return Command((tar, *_encrypt_stage(recipient)), stdout=out, purpose=purpose)


def filestore_dir(database: str, data_dir: str = ODOO_DATA_DIR) -> str:
    return f"{data_dir}/filestore/{check_database_name(database)}"


def sessions_dir(data_dir: str = ODOO_DATA_DIR) -> str:
    return f"{data_dir}/sessions"


def tar_filestore(odoo: Argv, database: str, out: str, recipient: str | None = None,
                  data_dir: str = ODOO_DATA_DIR) -> Command:
    return _tar_create(odoo, filestore_dir(database, data_dir), out, recipient, f"archive the filestore of {database}")


def tar_sessions(odoo: Argv, out: str, recipient: str | None = None, data_dir: str = ODOO_DATA_DIR) -> Command:
    return _tar_create(odoo, sessions_dir(data_dir), out, recipient, "archive the sessions")


def age_encrypt(recipient: str, source: str, out: str) -> Command:
    return Command((("age", "-r", recipient, "-o", out, source),),
                   purpose=f"encrypt {source}")


# --- restore -----------------------------------------------------------------------------------------

def age_decrypt(identity_file: str, source: str, out: str) -> Command:
    """Decrypt with the identity read from a file (0600, given to a restoring droplet as a secret and
    removed after): the key itself is never an argument."""
    return Command((("age", "-d", "-i", identity_file, "-o", out, source),),
                   purpose=f"decrypt {source}")


def create_database(db: Argv, user: str, database: str) -> Command:
    # As Odoo creates its databases (odoo/service/db.py): UTF-8 from template0, C collation.
    return Command(((*db, "createdb", f"--username={user}", f"--owner={user}", "--template=template0",
                     "--encoding=UTF8", "--lc-collate=C", check_database_name(database)),),
                   purpose=f"create database {database}")


def copy_dump_in(stack: Stack, local_dump: str) -> Command:
    return Command((stack.copy_in(local_dump, "db", RESTORE_DUMP_IN_CONTAINER),),
                   purpose="copy the dump into the db container")


def pg_restore(db: Argv, user: str, database: str, jobs: int, dump: str = RESTORE_DUMP_IN_CONTAINER) -> Command:
    """Parallel restore into a NEW database: --no-owner makes the Odoo role own everything;
    --exit-on-error stops at the first failure instead of reporting a half-loaded database at the end."""
    if jobs < 1:
        raise ValueError(f"pg_restore needs at least one job, got {jobs}")
    return Command(((*db, "pg_restore", f"--jobs={jobs}", "--no-owner", "--exit-on-error", f"--username={user}",
                     f"--dbname={check_database_name(database)}", dump),),
                   purpose=f"restore the dump into {database}")


def remove_in_container(where: Argv, path: str) -> Command:
    return Command(((*where, "rm", "-f", "--", path),), purpose=f"remove {path}")


def remove_local(*paths: str) -> Command:
    """Files on the droplet itself (decrypted parts, the age identity file)."""
    if not paths:
        raise ValueError("nothing to remove")
    return Command((("rm", "-f", "--", *paths),), purpose=f"remove {', '.join(paths)}")


def unpack_filestore(odoo: Argv, database: str, tar: str, data_dir: str = ODOO_DATA_DIR) -> tuple[Command, ...]:
    """The filestore archive unpacked under the database's (new) name: its folder made first."""
    target = filestore_dir(database, data_dir)
    return (
        Command(((*odoo, "mkdir", "-p", "--", target),), purpose=f"make the filestore of {database}"),
        Command(((*odoo, "tar", "--extract", "--file=-", "--no-same-owner", f"--directory={target}"),), stdin=tar,
                purpose=f"unpack the filestore of {database}"),
    )


def swap_databases(db: Argv, user: str, live: str, restored: str, aside: str | None) -> Command:
    """One transaction: the live database (when there is one) renamed `aside`, the restored one takes its
    name. Odoo must be stopped (a renamed database must have no connections)."""
    for name in (live, restored, *((aside,) if aside else ())):
        check_database_name(name)  # also why quoting them as identifiers below is safe
    statements = ([f'ALTER DATABASE "{live}" RENAME TO "{aside}";'] if aside else []) + \
                 [f'ALTER DATABASE "{restored}" RENAME TO "{live}";']
    argv: list[str] = [*db, "psql", "--no-psqlrc", "--single-transaction", "--set=ON_ERROR_STOP=1",
                       f"--username={user}", f"--dbname={POSTGRES_MAINTENANCE_DB}"]
    for s in statements:
        argv += ["--command", s]
    return Command((tuple(argv),), purpose=f"swap in {restored} as {live}")


def _move(where: Argv, source: str, target: str, purpose: str) -> Command:
    return Command(((*where, "mv", "--no-target-directory", "--", source, target),), purpose=purpose)


def swap_filestores(odoo: Argv, live: str, restored: str, aside: str | None,
                    data_dir: str = ODOO_DATA_DIR) -> tuple[tuple[Command, Command | None], ...]:
    """(do, undo) pairs, in order: the live filestore (made first if the database never stored a file) moved
    `aside`, the restored one moved to the live name. Undo reverses a move that was done."""
    live_dir, restored_dir = filestore_dir(live, data_dir), filestore_dir(restored, data_dir)
    pairs: list[tuple[Command, Command | None]] = []
    if aside:
        aside_dir = filestore_dir(aside, data_dir)
        pairs.append((Command(((*odoo, "mkdir", "-p", "--", live_dir),), purpose=f"make sure {live} has a filestore"),
                      None))
        pairs.append((_move(odoo, live_dir, aside_dir, f"move the filestore of {live} aside"),
                      _move(odoo, aside_dir, live_dir, f"put the filestore of {live} back")))
    pairs.append((_move(odoo, restored_dir, live_dir, f"swap in the filestore of {restored}"),
                  _move(odoo, live_dir, restored_dir, f"take the filestore of {restored} out again")))
    return tuple(pairs)


# --- drill -------------------------------------------------------------------------------------------

def neutralize(odoo: Argv, database: str) -> Command:
    """`odoo neutralize`: a restored copy sends no mail and runs no crons (Odoo 16+ CLI)."""
    return Command(((*odoo, "odoo", "neutralize", "-d", check_database_name(database)),),
                   purpose=f"neutralize {database}")


def drop_database(db: Argv, user: str, database: str) -> Command:
    return Command(((*db, "dropdb", "--force", "--if-exists", f"--username={user}", check_database_name(database)),),
                   purpose=f"drop database {database}")


# --- while taking a backup ---------------------------------------------------------------------------

def ensure_dir(where: Argv, path: str) -> Command:
    """A folder made if missing (the filestore of a database that never stored a file, the sessions of a
    site nobody logged in to): tar then archives an empty folder instead of failing. Odoo makes the same
    folders itself when it first writes there."""
    return Command(((*where, "mkdir", "-p", "--", path),), purpose=f"make sure {path} exists")


def tar_list(archive: str) -> Command:
    """The members of an archive on the droplet (the completeness check reads them)."""
    return Command((("tar", "--list", f"--file={archive}"),), purpose=f"list {archive}")
