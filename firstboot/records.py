"""Typed records of what the rollback, the cutover and the security steps did.

They are written into state.json and into the proofs (deploy_status.json `rollback`, `cutover`,
`security`; status.json `cutover`), which the proof schema and the e2e tests read: their JSON keeps
the shape the untyped dicts had. A field still `ABSENT` is not written at all (a key that appears
only once the step reached it), which is different from a field set to None (written as null).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, fields
from typing import Any, TypeVar

from firstboot.config import Resources


class Absent(enum.Enum):
    ABSENT = "absent"


ABSENT = Absent.ABSENT

R = TypeVar("R", bound="Record")


@dataclass
class Record:
    """JSON in field order, without the fields left ABSENT; read back from that JSON."""

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is not ABSENT:
                out[f.name] = list(value) if isinstance(value, tuple) else value
        return out

    @classmethod
    def from_dict(cls: type[R], data: dict[str, Any] | None) -> R:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in (data or {}).items() if k in names})

    def __bool__(self) -> bool:
        return bool(self.to_dict())


@dataclass
class RollbackRecord(Record):
    """Set by decide when the first attempt failed and a prior tag exists; completed by rollback and by
    the rollback's own decide."""

    performed: bool | Absent = ABSENT
    from_tag: str | Absent = ABSENT
    to_tag: str | Absent = ABSENT
    source: str | None | Absent = ABSENT
    reason: str | Absent = ABSENT
    failing_gates: list[str] | Absent = ABSENT
    started: str | Absent = ABSENT
    database: str | Absent = ABSENT  # what happened to the failed attempt's database
    passed: bool | Absent = ABSENT
    ended: str | Absent = ABSENT


@dataclass
class CutoverRecord(Record):
    """What the cutover step found and did; `proofs` is set earlier, by publish, when there is no Spaces."""

    proofs: str | Absent = ABSENT
    reserved_ip: str | None | Absent = ABSENT
    assigned: bool | Absent = ABSENT
    dns: dict[str, Any] | None | Absent = ABSENT  # plans/dns.py: {"status": "moved"|"failed", ...}
    reason: str | Absent = ABSENT
    droplet_id: int | Absent = ABSENT
    holder_before: int | None | Absent = ABSENT
    assign_posts: int | Absent = ABSENT
    action_id: int | None | Absent = ABSENT
    assign_log: list[str] | Absent = ABSENT
    last_good: str | None | Absent = ABSENT
    error: str | Absent = ABSENT

    def add_reason(self, text: str) -> None:
        self.reason = f"{self.reason}; {text}" if isinstance(self.reason, str) and self.reason else text


@dataclass
class SecurityRecord(Record):
    metadata_blocked: bool | Absent = ABSENT  # containers cannot reach 169.254.169.254
    metadata_block_error: str | Absent = ABSENT
    certificate: str | Absent = ABSENT  # letsencrypt | self-signed | self-signed (certbot ... failed: ...)

    @property
    def has_letsencrypt(self) -> bool:
        return isinstance(self.certificate, str) and self.certificate.startswith("letsencrypt")


@dataclass
class ResourcesRecord(Record):
    """What preflight measured (the `resources` of the proof)."""

    vcpus: int | Absent = ABSENT
    memory_mb: int | Absent = ABSENT
    disk_gb: int | Absent = ABSENT
    workers: int | Absent = ABSENT
    disk_free_gb: float | Absent = ABSENT

    def measured(self) -> Resources:
        """What preflight measured, for the worker plan of each attempt."""
        if not isinstance(self.vcpus, int) or not isinstance(self.memory_mb, int):
            raise ValueError("preflight measured no resources")
        return Resources(self.vcpus, self.memory_mb, self.disk_gb if isinstance(self.disk_gb, int) else 25)
