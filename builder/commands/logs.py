"""`odoo-droplet logs [--droplet ID] [--service odoo|db|redis|nginx|agent] [--since 10m] [--tail N] [--follow]`:
a service's log from the droplet, as Kamal's `app logs` (over SSH; nothing is written there).

odoo, db and redis are the compose services' logs (`docker compose logs --timestamps`); nginx is its error log
(where a 502's reason is written); agent is the first-boot agent's journal. `--since` takes a duration (`30s`,
`10m`, `2h`, `1d`) or a UTC time (`2026-12-02T03:00:00Z`).
"""

from __future__ import annotations

import argparse
import datetime as dt
import re

from builder.commands.options import Subparsers
from builder.commands.remote import add_target_options, announce, compose_base, connect
from builder.errors import Refused
from builder.output import Output
from firstboot.config import Deploy
from firstboot.contract.layout import Layout

NAME = "logs"
SERVICES = ("odoo", "db", "redis", "nginx", "agent")
AGENT_UNIT = "odoo-droplet-firstboot.service"  # builder/assets/images/scripts/30-agent.sh installs it
_LAYOUT = Layout()
_DURATION = re.compile(r"^(\d+)([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def add_parser(subparsers: Subparsers) -> None:
    p = subparsers.add_parser(NAME, help="a service's log from the droplet (odoo, db, redis, nginx, agent)")
    add_target_options(p)
    p.add_argument("--service", choices=SERVICES, default="odoo", help="whose log (default: odoo)")
    p.add_argument("--since", help="from this long ago (30s, 10m, 2h, 1d) or this UTC time (2026-12-02T03:00:00Z)")
    p.add_argument("--tail", type=int, default=200, metavar="N", help="the last N lines (default: 200)")
    p.add_argument("--follow", "-f", action="store_true", help="keep printing new lines (Ctrl-C ends it)")


def parse_since(text: str, now: dt.datetime) -> dt.datetime:
    """A duration back from `now`, or an ISO time (UTC when it names no zone)."""
    m = _DURATION.match(text.strip())
    if m:
        return now - dt.timedelta(**{_UNITS[m.group(2)]: int(m.group(1))})
    try:
        when = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise Refused(f"--since {text!r}: not a duration or a time",
                      "give a duration (30s, 10m, 2h, 1d) or a UTC time (2026-12-02T03:00:00Z)") from None
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


def logs_argv(deploy: Deploy, service: str, *, tail: int, since: dt.datetime | None, follow: bool,
              layout: Layout = _LAYOUT) -> tuple[str, ...]:
    """The command that prints the log on the droplet (built as data; only reads)."""
    if tail < 0:
        raise Refused(f"--tail {tail}: a count of lines is 0 or more")
    if service == "agent":
        return ("journalctl", "--no-pager", "-o", "short-iso", "-u", AGENT_UNIT, "-n", str(tail),
                *(("--since", f"@{int(since.timestamp())}") if since else ()), *(("-f",) if follow else ()))
    if service == "nginx":
        log = str(layout.nginx_error_log)
        if since is None:
            return ("tail", "-n", str(tail), *(("-F",) if follow else ()), log)
        # nginx's error log lines start with the droplet's time (UTC), `2026/12/02 03:14:07 [error] ...`.
        script = ('tail -n +1 ' + ("-F " if follow else "") + '"$1" | awk -v s="$2" '
                  "'substr($0, 1, 19) >= s { print; fflush() }'")
        return ("sh", "-c", script, "logs", log, since.astimezone(dt.UTC).strftime("%Y/%m/%d %H:%M:%S"))
    return (*compose_base(deploy), "logs", "--no-color", "--timestamps", "--tail", str(tail),
            *(("--since", since.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")) if since else ()),
            *(("--follow",) if follow else ()), service)


def run(args: argparse.Namespace, out: Output) -> int:
    since = parse_since(args.since, dt.datetime.now(dt.UTC)) if args.since else None
    session = connect(args, out)
    argv = logs_argv(session.deploy, args.service, tail=args.tail, since=since, follow=args.follow)
    announce(session, argv)
    return session.channel.attach(argv, tty=False)
