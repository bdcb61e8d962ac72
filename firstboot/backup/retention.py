"""Which backups to keep and which to prune, like Odoo.sh: 7 daily, 4 weekly, 3 monthly by default.

The rules, precisely (all dates in UTC; weeks are ISO weeks, Monday to Sunday; months calendar months):

- Only complete scheduled backups fill the daily, weekly and monthly slots.
- daily: the newest backup of each day, for the `daily` newest days that have one.
- weekly: then the newest backup of each ISO week, for the `weekly` newest weeks whose newest backup is not
  already kept; a week whose newest backup is a daily one is passed over, not counted (as borg and restic's
  --keep-* do), so the slots add up: 7 + 4 + 3 distinct backups once there is enough history.
- monthly: the same with calendar months, after the daily and weekly ones.
- manual backups are kept until an operator deletes them.
- pre-upgrade backups are kept `pre_upgrade_days` days (default 30: long enough to notice what an upgrade
  broke, after which the scheduled ones carry the data).
- never pruned, whatever the rules: the newest complete backup (verified or not), the newest verified one,
  an incomplete set newer than the newest complete one (a backup still running or still uploading), and
  anything dated after `now` (a clock that went back must not cost data).
- everything else is pruned, incomplete sets older than the newest complete one included (what a killed
  backup left behind).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from typing import NamedTuple

from firstboot.backup.ids import BackupId, BackupKind, parse_backup_id


@dataclass(frozen=True)
class RetentionPolicy:
    daily: int = 7
    weekly: int = 4
    monthly: int = 3
    pre_upgrade_days: int = 30

    def __post_init__(self) -> None:
        for name in ("daily", "weekly", "monthly", "pre_upgrade_days"):
            if getattr(self, name) < 0:
                raise ValueError(f"retention {name} must be 0 or more, got {getattr(self, name)}")


@dataclass(frozen=True)
class BackupRecord:
    """A backup as the shell found it (locally or in Spaces)."""

    backup_id: str
    complete: bool  # see completeness.check_set
    verified_at: dt.datetime | None = None  # the last drill that passed

    @property
    def parsed(self) -> BackupId:
        return parse_backup_id(self.backup_id)


class PrunePlan(NamedTuple):
    keep: dict[str, tuple[str, ...]]  # backup id -> why it is kept; newest first
    delete: tuple[str, ...]  # newest first


def _day(b: BackupId) -> Hashable:
    return b.created.date()


def _iso_week(b: BackupId) -> Hashable:
    return b.created.isocalendar()[:2]


def _month(b: BackupId) -> Hashable:
    return (b.created.year, b.created.month)


PERIODS: tuple[tuple[str, Callable[[BackupId], Hashable]], ...] = (
    ("daily", _day), ("weekly", _iso_week), ("monthly", _month),
)


def _utc(when: dt.datetime) -> dt.datetime:
    return when.replace(tzinfo=dt.UTC) if when.tzinfo is None else when.astimezone(dt.UTC)


def plan_prune(backups: Iterable[BackupRecord], now: dt.datetime,
               policy: RetentionPolicy = RetentionPolicy()) -> PrunePlan:
    given = list(backups)
    if len({r.backup_id for r in given}) != len(given):
        raise ValueError("the same backup id is listed twice")
    parsed = {r.backup_id: parse_backup_id(r.backup_id) for r in given}  # once: strptime is not cheap
    records = sorted(given, key=lambda r: parsed[r.backup_id], reverse=True)  # newest first
    ids = [r.backup_id for r in records]
    now = _utc(now)
    reasons: dict[str, list[str]] = {r.backup_id: [] for r in records}

    complete = [r for r in records if r.complete]
    newest_complete = parsed[complete[0].backup_id] if complete else None
    if complete:
        reasons[complete[0].backup_id].append("the newest complete backup")
    verified = [r for r in complete if r.verified_at is not None]  # newest first
    if verified:
        # The newest data known to restore: newest by when it was taken, not by when its drill ran.
        reasons[verified[0].backup_id].append("the newest verified backup")

    for r in records:
        b = parsed[r.backup_id]
        if b.created > now:
            reasons[r.backup_id].append("dated after now")
        if not r.complete:
            if newest_complete is None or b > newest_complete:
                reasons[r.backup_id].append(
                    "incomplete but newer than the newest complete backup (running or uploading)")
            continue
        if b.kind is BackupKind.MANUAL:
            reasons[r.backup_id].append("manual: kept until deleted")
        elif b.kind is BackupKind.PRE_UPGRADE and now - b.created < dt.timedelta(days=policy.pre_upgrade_days):
            reasons[r.backup_id].append(f"pre-upgrade: kept {policy.pre_upgrade_days} days")

    scheduled = [parsed[r.backup_id] for r in complete if parsed[r.backup_id].kind is BackupKind.SCHEDULED]
    slotted: set[BackupId] = set()
    for (rule, period_of), count in zip(PERIODS, (policy.daily, policy.weekly, policy.monthly), strict=True):
        kept, last = 0, None
        for b in scheduled:
            if kept >= count:
                break
            period = period_of(b)
            if period == last:
                continue  # not the newest of its period
            last = period
            if b in slotted:
                continue  # the period's newest is already kept by an earlier rule: the period is used up
            slotted.add(b)
            kept += 1
            reasons[str(b)].append(f"{rule} #{kept}")

    keep = {i: tuple(why) for i, why in reasons.items() if why}
    return PrunePlan(keep, tuple(i for i in ids if i not in keep))
