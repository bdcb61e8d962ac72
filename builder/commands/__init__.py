"""The operator's commands, one module each. Every module has NAME, `add_parser(subparsers)` and
`run(args, out) -> int`; builder.cli builds the parser from `COMMANDS` and maps errors to exit codes.
A new command: a module here, added to `COMMANDS` (the order is the order of `odoo-droplet --help`)."""

from __future__ import annotations

import argparse
from typing import Protocol

from builder.commands import (
    backup_now,
    backups,
    check_config,
    destroy,
    doctor,
    droplet,
    image,
    local,
    logs,
    render,
    restore,
    status,
    verify,
)
from builder.commands import exec as exec_command
from builder.commands.options import Subparsers
from builder.output import Output


class Command(Protocol):
    """What a command module provides (a module satisfies this protocol)."""

    NAME: str

    def add_parser(self, subparsers: Subparsers) -> None: ...

    def run(self, args: argparse.Namespace, out: Output) -> int: ...


COMMANDS: tuple[Command, ...] = (check_config, render, droplet, image, verify, status, destroy, doctor, logs,
                                 exec_command, exec_command.shell, backups, backup_now, restore, local)
