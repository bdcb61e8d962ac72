"""`odoo-droplet exec [--droplet ID] [--service odoo] -- CMD...` and `odoo-droplet shell`: a command on the
droplet, as Kamal's `app exec`.

With `--service`, CMD runs inside that compose service's running container (`docker compose exec`); without,
on the droplet itself, as root. `shell` is Odoo's own shell on the deploy's database (`odoo shell -d DB` in the
odoo service): Python with `env`, as Odoo gives it. Both attach a terminal when this one is a terminal.
"""

from __future__ import annotations

import argparse
import sys

from builder.commands.options import Subparsers
from builder.commands.remote import add_target_options, announce, compose_base, connect
from builder.errors import Refused
from builder.output import Output
from firstboot.config import Deploy

NAME = "exec"
SERVICES = ("odoo", "db", "redis")


def add_parser(subparsers: Subparsers) -> None:
    p = subparsers.add_parser(NAME, help="run a command on the droplet or in one of its services (-- CMD...)")
    add_target_options(p)
    p.add_argument("--service", choices=SERVICES, help="run in this compose service (default: on the droplet)")
    p.add_argument("cmd", nargs=argparse.REMAINDER, metavar="-- CMD", help="the command and its arguments")


def exec_argv(deploy: Deploy, service: str | None, cmd: list[str], *, tty: bool) -> tuple[str, ...]:
    cmd = cmd[1:] if cmd[:1] == ["--"] else cmd
    if not cmd:
        raise Refused("no command to run", "put it after --, e.g. `odoo-droplet exec --service odoo -- odoo --version`")
    if service is None:
        return tuple(cmd)
    return (*compose_base(deploy), "exec", *(() if tty else ("-T",)), service, *cmd)


def shell_argv(deploy: Deploy, *, tty: bool) -> tuple[str, ...]:
    """Odoo's shell on the deploy's database; --no-http: the server in the container already holds its ports."""
    return exec_argv(deploy, "odoo", ["odoo", "shell", "-d", deploy.odoo.database, "--no-http"], tty=tty)


def _tty() -> bool:
    return sys.stdin.isatty() and sys.stdout.isatty()


def run(args: argparse.Namespace, out: Output) -> int:
    tty = _tty()
    exec_argv(_PREVIEW, args.service, list(args.cmd), tty=tty)  # a missing command is refused before connecting
    session = connect(args, out)
    argv = exec_argv(session.deploy, args.service, list(args.cmd), tty=tty)
    announce(session, argv)
    return session.channel.attach(argv, tty=tty)


_PREVIEW = Deploy()


class Shell:
    """`odoo-droplet shell [--droplet ID]` (a command module of its own in COMMANDS, living beside exec)."""

    NAME = "shell"

    @staticmethod
    def add_parser(subparsers: Subparsers) -> None:
        p = subparsers.add_parser("shell", help="Odoo's shell (odoo shell -d DB) on the deploy's database")
        add_target_options(p)

    @staticmethod
    def run(args: argparse.Namespace, out: Output) -> int:
        tty = _tty()
        session = connect(args, out)
        argv = shell_argv(session.deploy, tty=tty)
        announce(session, argv)
        return session.channel.attach(argv, tty=tty)


shell = Shell()
