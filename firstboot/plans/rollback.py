"""The rollback step's decision: what to do with the failed attempt's database."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RollbackPlan:
    drop_database: bool
    restart_data: tuple[str, ...]  # data services to bring back (and wait for) before dropping
    database_note: str  # recorded in the rollback record


def plan_rollback(first_fresh_db: bool | None, data_services: tuple[str, ...]) -> RollbackPlan:
    if first_fresh_db:
        # A fresh install that failed: its database is half-made by a tag we no longer trust. The
        # failure may be the database itself (stopped or crashed during verify): bring the data
        # services back and wait for them first, or dropdb fails and the rollback never starts.
        return RollbackPlan(True, data_services,
                            "dropped and re-created by the prior tag's install (fresh install)")
    if first_fresh_db is None:
        return RollbackPlan(False, (), "untouched (the failed attempt never reached its install)")
    return RollbackPlan(False, (), "kept (it existed before this deploy)")
