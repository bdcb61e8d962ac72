"""Why a restore (or its preflight) stops: typed, so the agent records a reason and the CLI maps it to
a message and an exit code, and never goes on to serve an empty database."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class RestoreFailureKind(StrEnum):
    NO_BACKUP = "no backup"  # `latest` with no complete backup, or an id that is not there
    INCOMPLETE = "incomplete backup"  # no manifest, or an unreadable one
    MISSING_PART = "missing part"
    CORRUPT_PART = "corrupt part"  # size or SHA-256 differs from the manifest, or age says it is damaged
    NO_AGE_KEY = "no age identity"  # an encrypted backup and no identity file given
    WRONG_AGE_KEY = "wrong age key"
    VERSION_MISMATCH = "odoo version mismatch"
    POSTGRES_TOO_NEW = "postgresql too new"
    RESTORE_FAILED = "restore failed"  # createdb, pg_restore, the filestore unpack or the swap failed
    MISSING_ATTACHMENTS = "missing attachments"
    IDENTITY_CHANGED = "database identity changed"  # database.uuid differs from the manifest's


@dataclass(frozen=True)
class RestoreFailure:
    kind: RestoreFailureKind
    detail: str  # a sentence for the operator, naming what failed
    part: str | None = None  # the part concerned, when there is one

    def __str__(self) -> str:
        return f"{self.kind.value}: {self.detail}"
