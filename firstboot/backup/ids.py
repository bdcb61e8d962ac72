"""Backup ids: `<UTC time>-<kind>`, e.g. `20261202T120000Z-scheduled`.

The time comes first in a fixed-width form, so sorting ids as strings sorts them by time (Spaces lists
keys in that order too); the kind is in the id so a listing of keys tells kinds apart without reading
any manifest.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from enum import StrEnum

BACKUP_TIME_FORMAT = "%Y%m%dT%H%M%SZ"


class BackupKind(StrEnum):
    SCHEDULED = "scheduled"  # the timer's: subject to retention
    MANUAL = "manual"  # `backup-now`: kept until deleted
    PRE_UPGRADE = "pre-upgrade"  # before a module upgrade or tag change: kept for a number of days


_KINDS = "|".join(re.escape(k) for k in BackupKind)
BACKUP_ID_PATTERN = re.compile(r"\A(?P<time>\d{8}T\d{6}Z)-(?P<kind>" + _KINDS + r")\Z")


@dataclass(frozen=True, order=True)
class BackupId:
    """A parsed backup id; orders by creation time, then kind."""

    created: dt.datetime
    kind: BackupKind

    def __str__(self) -> str:
        return f"{self.created.strftime(BACKUP_TIME_FORMAT)}-{self.kind.value}"


def _utc(when: dt.datetime) -> dt.datetime:
    if when.tzinfo is None:  # naive times are taken as UTC, as deploy ids do
        return when.replace(tzinfo=dt.UTC)
    return when.astimezone(dt.UTC)


def backup_id_for(started: dt.datetime, kind: BackupKind | str) -> str:
    """The id of a backup of this kind started at `started` (to the second; microseconds dropped)."""
    created = _utc(started).replace(microsecond=0)
    return str(BackupId(created, BackupKind(kind)))


def parse_backup_id(value: str) -> BackupId:
    """The time and kind in a backup id; ValueError naming the value when it is not one."""
    m = BACKUP_ID_PATTERN.match(value)
    if not m:
        raise ValueError(f"not a backup id: {value!r} (expected like 20261202T120000Z-scheduled; "
                         f"kinds: {', '.join(k.value for k in BackupKind)})")
    try:
        created = dt.datetime.strptime(m["time"], BACKUP_TIME_FORMAT).replace(tzinfo=dt.UTC)
    except ValueError:  # 20261340T... matches the pattern but is no date
        raise ValueError(f"not a backup id: {value!r} (no such date and time)") from None
    return BackupId(created, BackupKind(m["kind"]))


def is_backup_id(value: str) -> bool:
    try:
        parse_backup_id(value)
    except ValueError:
        return False
    return True
