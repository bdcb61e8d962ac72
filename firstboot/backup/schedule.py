"""The backup timer, rendered from the settings' `backups:` block (pure).

The service it starts is static and ships with the agent (firstboot/systemd/odoo-droplet-backup.service:
`python3 -m firstboot.agent backup --kind scheduled`); the timer carries the schedule, so it is written on
the droplet by the agent once the deploy is done (firstboot/backups.py `install_backup_timer`), never baked
into the snapshot, where it would run on a droplet that has no data yet.
"""

from __future__ import annotations

import re

BACKUP_SERVICE = "odoo-droplet-backup.service"
BACKUP_TIMER = "odoo-droplet-backup.timer"
# The restore drill (firstboot/backup_verify.py), weekly: Sunday morning, hours after a nightly backup began
# (both take the backups' lock; the drill waits for a backup still running).
VERIFY_SERVICE = "odoo-droplet-verify.service"
VERIFY_TIMER = "odoo-droplet-verify.timer"
VERIFY_SCHEDULE = "Sun *-*-* 05:00:00"

# What an OnCalendar expression is made of, and nothing that ends a line of the unit (builder/settings.py
# checks the same; the droplet checks again because deploy.json is the droplet's input).
_ON_CALENDAR = re.compile(r"[A-Za-z0-9*:,./~+ -]{1,100}")


def check_schedule(schedule: str) -> str:
    if not _ON_CALENDAR.fullmatch(schedule):
        raise ValueError(f"not a systemd calendar expression: {schedule[:100]!r}")
    return schedule


def render_backup_timer(schedule: str) -> str:
    """The timer unit for `schedule` (the settings' backups.schedule). Persistent: a droplet that was off at the scheduled time backs
    up when it is back; a random delay keeps a fleet from dumping at the same second."""
    return (
        "# Rendered by the odoo-droplet agent from the settings' backups.schedule: do not edit (the next\n"
        "# deploy writes it again). Starts odoo-droplet-backup.service (python3 -m firstboot.agent backup).\n"
        "[Unit]\n"
        "Description=odoo-droplet: scheduled backup of the database and filestore to Spaces\n"
        "\n"
        "[Timer]\n"
        f"OnCalendar={check_schedule(schedule)}\n"
        "Persistent=true\n"
        "RandomizedDelaySec=10min\n"
        f"Unit={BACKUP_SERVICE}\n"
        "\n"
        "[Install]\n"
        "WantedBy=timers.target\n"
    )


def render_verify_timer(schedule: str = VERIFY_SCHEDULE) -> str:
    """The weekly restore drill's timer: the newest complete backup restored into a scratch database,
    checked and dropped (`python3 -m firstboot.agent verify`), its result recorded in Spaces."""
    return (
        "# Rendered by the odoo-droplet agent beside odoo-droplet-backup.timer: do not edit. Starts\n"
        "# odoo-droplet-verify.service (python3 -m firstboot.agent verify: the restore drill).\n"
        "[Unit]\n"
        "Description=odoo-droplet: weekly restore drill of the newest backup\n"
        "\n"
        "[Timer]\n"
        f"OnCalendar={check_schedule(schedule)}\n"
        "Persistent=true\n"
        "RandomizedDelaySec=30min\n"
        f"Unit={VERIFY_SERVICE}\n"
        "\n"
        "[Install]\n"
        "WantedBy=timers.target\n"
    )
