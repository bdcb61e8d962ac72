"""The agent's progress on disk: which steps are done, per attempt, and what they found.

Written atomically (temp file, fsync, rename, fsync of the directory) after every step, so a crash or a
reboot leaves either the old or the new state, never half of one. The agent reads it back on start and
continues from the first step not yet done (firstboot/phases.py decides which). Where it lives is the
contract's (firstboot/contract/layout.py); the records of rollback, cutover and security are typed
(firstboot/records.py) and keep the JSON shape the proofs had.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from firstboot.records import CutoverRecord, ResourcesRecord, RollbackRecord, SecurityRecord

STATE_VERSION = 1


def atomic_write(path: Path, data: str | bytes, mode: int = 0o600) -> None:
    """Write `data` to `path` so readers see the old or the new content, never a torn file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = data.encode() if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as f:
            f.write(raw)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    dfd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


@dataclass
class Attempt:
    """One try at bringing the stack up with one image tag (0: the configured tag, 1: the prior tag)."""

    tag: str
    done: list[str] = field(default_factory=list)  # phases of this attempt completed
    failed: str | None = None  # why the attempt stopped early (install failed, nginx -t refused, ...)
    fresh_db: bool | None = None  # the database did not exist before this attempt's install
    db_initialised: bool = False  # `odoo -i` completed and the modules are in ir_module_module
    install: dict[str, Any] = field(default_factory=dict)
    gates: list[dict[str, Any]] = field(default_factory=list)
    containers: dict[str, dict[str, Any]] = field(default_factory=dict)  # service -> state, uptime
    passed: bool | None = None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Attempt:
        return cls(**d)


@dataclass
class State:
    deploy_id: str
    started_at: str
    user_data: bool  # False: a console "create from snapshot" droplet on baked defaults
    version: int = STATE_VERSION
    done: list[str] = field(default_factory=list)  # top-level steps done: preflight, decide:N, publish, ...
    attempts: list[Attempt] = field(default_factory=list)
    phases: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> started, ended, seconds, ok
    fatal: str | None = None  # preflight refused: nothing to try, publish the failure
    status: str | None = None  # success | rolled_back | failed, once decided
    error_message: str | None = None
    prior_tag: str | None = None
    prior_source: str | None = None
    rollback: RollbackRecord = field(default_factory=RollbackRecord)
    cutover: CutoverRecord = field(default_factory=CutoverRecord)
    images: dict[str, str] = field(default_factory=dict)
    resources: ResourcesRecord = field(default_factory=ResourcesRecord)
    security: SecurityRecord = field(default_factory=SecurityRecord)
    # Where the database came from (firstboot/steps/restore.py): {"source", "backup_id", "restored_rows", ...}
    database: dict[str, Any] = field(default_factory=dict)
    runs: int = 0  # how many times the agent started on this deploy (resumes = runs - 1)
    current: str | None = None  # the step in progress (for status.json)

    def to_dict(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["attempts"] = [a.to_dict() for a in self.attempts]
        for name in ("rollback", "cutover", "resources", "security"):
            d[name] = getattr(self, name).to_dict()
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> State:
        d = dict(d)
        d["attempts"] = [Attempt.from_dict(a) for a in d.get("attempts", [])]
        d["rollback"] = RollbackRecord.from_dict(d.get("rollback"))
        d["cutover"] = CutoverRecord.from_dict(d.get("cutover"))
        d["resources"] = ResourcesRecord.from_dict(d.get("resources"))
        d["security"] = SecurityRecord.from_dict(d.get("security"))
        return cls(**d)

    @property
    def attempt(self) -> Attempt | None:
        return self.attempts[-1] if self.attempts else None


def load_state(path: Path) -> State | None:
    if not path.exists():
        return None
    return State.from_dict(json.loads(path.read_text()))


def save_state(path: Path, state: State) -> None:
    atomic_write(path, json.dumps(state.to_dict(), indent=2, sort_keys=True) + "\n")
