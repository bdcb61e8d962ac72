"""Checks that decide whether a backup can be trusted: every attachment's file is in the set, the
versions allow a restore, and a drill's restored copy holds what the manifest says."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from firstboot.backup.failures import RestoreFailure, RestoreFailureKind
from firstboot.backup.queries import StoredAttachment
from firstboot.backup.versions import format_postgres_major, odoo_series, postgres_major

DEFAULT_NAMED_LIMIT = 20  # a failure names this many files; the count says how many more


def tar_member_name(member: str) -> str:
    """A filestore archive member as a store_fname: the archive is made from inside the database's
    folder (`./ab/abcdef...`), store_fname is `ab/abcdef...`."""
    name = member
    while name.startswith("./"):
        name = name[2:]
    return name.rstrip("/")


@dataclass(frozen=True)
class AttachmentCheck:
    checked: int  # attachments (distinct files) the database references
    problems: tuple[str, ...]  # the first `limit` problems, each naming its file
    problem_count: int  # all of them

    @property
    def ok(self) -> bool:
        return self.problem_count == 0

    def message(self) -> str:
        if self.ok:
            return f"every one of the {self.checked} attachment files is in the backup"
        more = self.problem_count - len(self.problems)
        listed = "; ".join(self.problems) + (f"; and {more} more" if more else "")
        return f"{self.problem_count} of {self.checked} attachment files are missing or damaged: {listed}"


def check_attachments_present(store_fnames: Iterable[str], tar_members: Iterable[str],
                              limit: int = DEFAULT_NAMED_LIMIT) -> AttachmentCheck:
    """Every file the database references (`ir_attachment.store_fname`) is in the filestore archive.
    Files without a row are harmless (added after the dump, or garbage Odoo has not collected yet)."""
    have = {tar_member_name(m) for m in tar_members}
    wanted = sorted(set(store_fnames))
    missing = [f"{name} (not in the archive)" for name in wanted if name not in have]
    return AttachmentCheck(len(wanted), tuple(missing[:limit]), len(missing))


def check_attachment_checksums(attachments: Iterable[StoredAttachment], member_sha1: Mapping[str, str],
                               limit: int = DEFAULT_NAMED_LIMIT) -> AttachmentCheck:
    """The drill's check: each referenced file is in the archive and its bytes have the sha1 Odoo
    recorded (`ir_attachment.checksum`; Odoo names the file after it too)."""
    by_name = {tar_member_name(k): v.lower() for k, v in member_sha1.items()}
    rows = {a.store_fname: a for a in attachments}
    problems: list[str] = []
    for name in sorted(rows):
        digest = by_name.get(name)
        expected = (rows[name].checksum or name.rsplit("/", 1)[-1]).lower()
        if digest is None:
            problems.append(f"{name} (not in the archive)")
        elif digest != expected:
            problems.append(f"{name} (sha1 {digest}, expected {expected})")
    return AttachmentCheck(len(rows), tuple(problems[:limit]), len(problems))


def attachments_failure(check: AttachmentCheck) -> RestoreFailure | None:
    return None if check.ok else RestoreFailure(RestoreFailureKind.MISSING_ATTACHMENTS, check.message())


def check_restore_compatibility(backup_odoo: str, backup_postgres: str, target_odoo: str,
                                target_postgres: str) -> list[RestoreFailure]:
    """What forbids restoring this backup on this target, naming both versions each time.

    Odoo runs only databases of its own series (a 17.0 database needs a migration, not a restore).
    pg_restore reads dumps from its own PostgreSQL major and older ones; a dump from a newer major may use
    what the target does not have, so it is refused rather than half-restored."""
    problems: list[RestoreFailure] = []
    if odoo_series(backup_odoo) != odoo_series(target_odoo):
        problems.append(RestoreFailure(
            RestoreFailureKind.VERSION_MISMATCH,
            f"the backup is from Odoo {backup_odoo} (series {odoo_series(backup_odoo)}), this droplet runs Odoo "
            f"{target_odoo} (series {odoo_series(target_odoo)}): a database moves between Odoo versions by a "
            "migration, not a restore"))
    backup_major, target_major = postgres_major(backup_postgres), postgres_major(target_postgres)
    if backup_major > target_major:
        problems.append(RestoreFailure(
            RestoreFailureKind.POSTGRES_TOO_NEW,
            f"the backup is from PostgreSQL {backup_postgres} (major {format_postgres_major(backup_major)}), "
            f"this droplet runs PostgreSQL {target_postgres} (major {format_postgres_major(target_major)}): "
            "pg_restore does not read dumps from a newer major"))
    return problems


@dataclass(frozen=True)
class RowCountDifference:
    table: str
    expected: int
    actual: int | None  # None: the restored copy has no such table

    def __str__(self) -> str:
        got = "no such table" if self.actual is None else f"{self.actual} rows"
        return f"{self.table}: manifest {self.expected} rows, restored copy {got}"


@dataclass(frozen=True)
class RowCountComparison:
    differences: tuple[RowCountDifference, ...]

    @property
    def passed(self) -> bool:
        return not self.differences


def compare_row_counts(expected: Mapping[str, int], actual: Mapping[str, int]) -> RowCountComparison:
    """The drill's comparison: every table the manifest counted has the same rows in the restored copy.
    Tables counted only in the copy are not differences (the manifest chose what to count)."""
    diffs = [RowCountDifference(t, n, actual.get(t)) for t, n in sorted(expected.items()) if actual.get(t) != n]
    return RowCountComparison(tuple(diffs))
