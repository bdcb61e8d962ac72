"""Retention like Odoo.sh's (firstboot/backup/retention.py): 7 daily, 4 weekly, 3 monthly, manual kept,
pre-upgrade kept N days; never the newest verified, the newest complete, or a newer incomplete set."""

from __future__ import annotations

import datetime as dt

import pytest

from firstboot.backup.ids import BackupKind, backup_id_for
from firstboot.backup.retention import BackupRecord, RetentionPolicy, plan_prune

UTC = dt.UTC
NOW = dt.datetime(2026, 12, 2, 12, 0, tzinfo=UTC)  # a Wednesday
FIRST = dt.date(2025, 12, 3)  # a year of daily backups up to NOW's day


def sched(day: dt.date | str, hour: int = 2, minute: int = 0, complete: bool = True,
          verified_at: dt.datetime | None = None) -> BackupRecord:
    d = dt.date.fromisoformat(day) if isinstance(day, str) else day
    when = dt.datetime(d.year, d.month, d.day, hour, minute, tzinfo=UTC)
    return BackupRecord(backup_id_for(when, BackupKind.SCHEDULED), complete, verified_at)


def other(kind: BackupKind, when: dt.datetime, complete: bool = True) -> BackupRecord:
    return BackupRecord(backup_id_for(when, kind), complete)


def ids(*days: str) -> set[str]:
    return {sched(d).backup_id for d in days}


DAILY = ("2026-12-02", "2026-12-01", "2026-11-30", "2026-11-29", "2026-11-28", "2026-11-27", "2026-11-26")
WEEKLY = ("2026-11-22", "2026-11-15", "2026-11-08", "2026-11-01")  # Sundays: the newest of their ISO weeks
MONTHLY = ("2026-10-31", "2026-09-30", "2026-08-31")  # the newest of their months
MANUAL = (other(BackupKind.MANUAL, dt.datetime(2026, 3, 15, 9, 30, tzinfo=UTC)),
          other(BackupKind.MANUAL, dt.datetime(2026, 7, 4, 17, 0, tzinfo=UTC)))


def a_year() -> list[BackupRecord]:
    return [sched(FIRST + dt.timedelta(days=i)) for i in range((NOW.date() - FIRST).days + 1)]


def test_a_year_of_daily_backups_keeps_exactly_7_4_3_plus_manual_ones():
    backups = a_year() + list(MANUAL)
    assert len(backups) == 367
    keep, delete = plan_prune(backups, NOW)
    assert set(keep) == ids(*DAILY, *WEEKLY, *MONTHLY) | {m.backup_id for m in MANUAL}
    assert set(delete) == {b.backup_id for b in backups} - set(keep)
    assert len(delete) == 365 - 14
    # Each slot names its rule and rank; a week or month whose newest is already kept is passed over.
    assert [keep[sched(d).backup_id][-1] for d in DAILY] == [f"daily #{i}" for i in range(1, 8)]
    assert [keep[sched(d).backup_id][-1] for d in WEEKLY] == [f"weekly #{i}" for i in range(1, 5)]
    assert [keep[sched(d).backup_id][-1] for d in MONTHLY] == [f"monthly #{i}" for i in range(1, 4)]
    assert all(keep[m.backup_id] == ("manual: kept until deleted",) for m in MANUAL)
    assert keep[sched(DAILY[0]).backup_id][0] == "the newest complete backup"
    assert list(keep) == sorted(keep, reverse=True) and list(delete) == sorted(delete, reverse=True)


def test_simulated_calendar_with_a_clock_we_control():
    """Every day for a year: the timer takes a backup at 02:00, the drill verifies it on Sundays, the
    pruner runs at 02:30 and what it deletes is gone. The kept set stays what the policy says."""
    bucket: dict[str, BackupRecord] = {}
    day = FIRST
    while day <= NOW.date():
        record = sched(day)
        bucket[record.backup_id] = record
        if day.weekday() == 6:  # Sunday: the drill passes on the day's backup
            bucket[record.backup_id] = sched(day, verified_at=dt.datetime.combine(day, dt.time(3), UTC))
        for m in MANUAL:
            if m.parsed.created.date() == day:
                bucket[m.backup_id] = m
        clock = dt.datetime.combine(day, dt.time(2, 30), UTC)
        keep, delete = plan_prune(bucket.values(), clock)
        assert set(keep) | set(delete) == set(bucket) and not set(keep) & set(delete)
        assert record.backup_id in keep  # today's, the newest, is never pruned
        for gone in delete:
            del bucket[gone]
        scheduled = [i for i in bucket if i.endswith("-scheduled")]
        assert len(scheduled) <= 14
        if day >= FIRST + dt.timedelta(days=120):  # history enough for every slot
            assert len(scheduled) == 14, day
        day += dt.timedelta(days=1)
    assert set(bucket) == ids(*DAILY, *WEEKLY, *MONTHLY) | {m.backup_id for m in MANUAL}


def test_weeks_are_iso_weeks_and_months_calendar_months():
    week_only = RetentionPolicy(daily=0, weekly=2, monthly=0)
    sat, sun_late = sched("2026-11-28", 12), sched("2026-11-29", 23, 59)  # ISO week 48
    mon_early, tue = sched("2026-11-30", 0, 1), sched("2026-12-01", 12)  # ISO week 49
    keep, _ = plan_prune([sat, sun_late, mon_early, tue], NOW, week_only)
    assert set(keep) == {tue.backup_id, sun_late.backup_id}  # the newest of each ISO week
    assert keep[sun_late.backup_id] == ("weekly #2",)

    month_only = RetentionPolicy(daily=0, weekly=0, monthly=2)
    jan_end, feb_start, feb_2 = sched("2026-01-31", 23, 59), sched("2026-02-01", 0, 0), sched("2026-02-02")
    keep, delete = plan_prune([jan_end, feb_start, feb_2], dt.datetime(2026, 2, 3, tzinfo=UTC), month_only)
    assert set(keep) == {feb_2.backup_id, jan_end.backup_id} and delete == (feb_start.backup_id,)

    day_only = RetentionPolicy(daily=2, weekly=0, monthly=0)
    morning, evening, next_day = sched("2026-11-30", 2), sched("2026-11-30", 22), sched("2026-12-01", 2)
    keep, delete = plan_prune([morning, evening, next_day], NOW, day_only)
    assert set(keep) == {next_day.backup_id, evening.backup_id} and delete == (morning.backup_id,)


def test_policy_is_configurable():
    keep, _ = plan_prune(a_year(), NOW, RetentionPolicy(daily=2, weekly=1, monthly=1))
    # Week 49's newest (Dec 2) is a daily: week 48's (Sun Nov 29) is the weekly; December's newest is a
    # daily too, so November's (Nov 30) is the monthly.
    assert set(keep) == ids("2026-12-02", "2026-12-01", "2026-11-29", "2026-11-30")
    keep, _ = plan_prune(a_year(), NOW, RetentionPolicy(daily=0, weekly=0, monthly=0))
    assert set(keep) == ids("2026-12-02")  # the newest is kept whatever the policy
    with pytest.raises(ValueError, match="daily"):
        RetentionPolicy(daily=-1)


def test_pre_upgrade_backups_are_kept_their_days():
    recent = other(BackupKind.PRE_UPGRADE, NOW - dt.timedelta(days=10))
    old = other(BackupKind.PRE_UPGRADE, NOW - dt.timedelta(days=40))
    keep, delete = plan_prune([*a_year(), recent, old], NOW)
    assert keep[recent.backup_id] == ("pre-upgrade: kept 30 days",)
    assert old.backup_id in delete
    keep, _ = plan_prune([*a_year(), recent, old], NOW, RetentionPolicy(pre_upgrade_days=45))
    assert old.backup_id in keep


def test_never_the_newest_verified_backup():
    verified_long_ago = sched("2026-06-10", verified_at=dt.datetime(2026, 6, 11, tzinfo=UTC))
    backups = [b for b in a_year() if b.backup_id != verified_long_ago.backup_id] + [verified_long_ago]
    keep, _ = plan_prune(backups, NOW)
    assert keep[verified_long_ago.backup_id] == ("the newest verified backup",)
    assert len(keep) == 15
    # The newest backup among the verified ones, whenever each drill ran.
    older = sched("2026-06-05", verified_at=dt.datetime(2026, 6, 20, tzinfo=UTC))
    backups = [b for b in backups if b.backup_id != older.backup_id] + [older]
    keep, delete = plan_prune(backups, NOW)
    assert keep[verified_long_ago.backup_id] == ("the newest verified backup",)
    assert older.backup_id in delete


def test_never_the_newest_complete_backup_even_unverified_or_out_of_every_slot():
    lone = other(BackupKind.PRE_UPGRADE, NOW - dt.timedelta(days=90))
    older = other(BackupKind.PRE_UPGRADE, NOW - dt.timedelta(days=95))
    keep, delete = plan_prune([lone, older], NOW)
    assert keep == {lone.backup_id: ("the newest complete backup",)} and delete == (older.backup_id,)


def test_incomplete_sets():
    year = a_year()
    running = sched("2026-12-02", 11, 59, complete=False)  # newer than the newest complete: may be running
    killed = sched("2026-12-01", 14, complete=False)  # older: what a killed backup left
    keep, delete = plan_prune([*year, running, killed], NOW)
    assert "incomplete but newer than the newest complete backup" in keep[running.backup_id][0]
    assert killed.backup_id in delete
    # Incomplete sets never fill a slot nor count as the newest complete one.
    keep, delete = plan_prune([sched("2026-12-01"), sched("2026-12-02", complete=False)], NOW,
                              RetentionPolicy(daily=1, weekly=0, monthly=0))
    assert keep[sched("2026-12-01").backup_id] == ("the newest complete backup", "daily #1")
    # With nothing complete at all, nothing incomplete is pruned either.
    keep, delete = plan_prune([sched("2026-11-01", complete=False), sched("2026-12-01", complete=False)], NOW)
    assert len(keep) == 2 and delete == ()


def test_a_clock_that_went_back_costs_no_data():
    future = sched("2026-12-05")
    keep, _ = plan_prune([*a_year(), future], NOW)
    assert "dated after now" in keep[future.backup_id]


def test_the_same_id_twice_is_an_error():
    with pytest.raises(ValueError, match="twice"):
        plan_prune([sched("2026-12-01"), sched("2026-12-01")], NOW)
