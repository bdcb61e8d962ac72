"""`odoo-droplet local up|down|status|env`: the local cloud (DigitalOcean's API on this machine's Docker),
through localcloud.control's functions."""

from __future__ import annotations

import argparse
import json

from builder.commands.options import Subparsers, add_common
from builder.errors import EXIT_OK, OperatorError
from builder.output import Output

NAME = "local"
EXIT_NOT_RUNNING = 3  # `local status` when the API does not answer (as `python -m localcloud status`)
ACTIONS = ("up", "down", "status", "env")


def add_parser(subparsers: Subparsers) -> None:
    p = subparsers.add_parser(NAME, help="the local cloud: DigitalOcean's API on this machine's Docker")
    p.add_argument("action", choices=ACTIONS)
    p.add_argument("--api-only", action="store_true",
                   help="up: the API (in-memory droplets, no Docker) and the Spaces stand-in only, on free "
                        "loopback ports: to try the CLI, or check an installed package, beside any other cloud")
    add_common(p, config=False)


def run(args: argparse.Namespace, out: Output) -> int:
    # Imported here: the operator's other commands do not need the local cloud's modules.
    from localcloud import control
    from localcloud.home import Home

    home = Home.from_env()
    if args.action == "up":
        try:
            if args.api_only:
                cfg = control.up(home, api_only=True, spaces=True, port=0)
            else:
                cfg = control.up(home, api_only=False)
        except (RuntimeError, ImportError) as err:
            raise OperatorError(f"local cloud did not start: {err}") from None
        out.result({"ok": True, "url": cfg.url, "backend": cfg.backend, "home": str(home.root)},
                   f"local cloud API at {cfg.url} (backend {cfg.backend}); `eval \"$(odoo-droplet local env)\"`")
        return EXIT_OK
    if args.action == "down":
        control.down(home)
        out.result({"ok": True})
        return EXIT_OK
    if args.action == "status":
        state = control.status(home)
        out.line(json.dumps(state, indent=2))  # JSON either way, as `python -m localcloud status` prints it
        return EXIT_OK if state["api"]["running"] else EXIT_NOT_RUNNING
    if args.json:
        out.line(json.dumps(control.env_values(home)))
    else:
        out.line("\n".join(control.env_lines(home)))
    return EXIT_OK
