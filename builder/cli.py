"""`odoo-droplet`: the operator's commands. Thin: it parses, loads, calls the core, prints.

Exit status: 0 success, 1 the deploy failed its gates (or a remote operation failed), 2 bad input.
Nothing is created or written anywhere when the settings or the secrets are bad.
"""

from __future__ import annotations

import argparse
import sys

from builder.commands import COMMANDS, Command
from builder.errors import EXIT_FAILED, BadInput, OperatorError
from builder.output import Output
from builder.settings import SettingsError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="odoo-droplet", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.add_parser(sub)
    return parser


def command_named(name: str) -> Command:
    return next(c for c in COMMANDS if c.NAME == name)


def report(out: Output, err: OperatorError) -> int:
    """The one place an error becomes output: its lines on stderr, its JSON on stdout (--json), its exit code."""
    for line in err.lines():
        out.error(line)
    out.result(err.as_json())
    return err.exit_code


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    out = Output(getattr(args, "json", False))
    try:
        return command_named(args.command).run(args, out)
    except OperatorError as err:
        return report(out, err)
    except SettingsError as err:
        return report(out, BadInput.from_settings(err))
    except OSError as err:
        # A local file or directory that cannot be read or written (--out, --workdir, .state/): said, not traced.
        return report(out, OperatorError(str(err)))
    except KeyboardInterrupt:
        out.error("interrupted")
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
