"""`odoo-droplet`: the operator's commands. Thin: it parses, loads, calls the core, prints.

Exit status: 0 success, 1 the deploy failed its gates (or a remote operation failed), 2 bad input.
Nothing is created or written anywhere when the settings or the secrets are bad.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

from builder.output import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK, Output
from builder.settings import Problem, SettingsError, load_settings, to_deploy, with_size
from firstboot.config import Deploy, Secrets


def _add_common(p: argparse.ArgumentParser, config: bool = True) -> None:
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    if config:
        p.add_argument("--config", default="deploy.yaml", help="settings file (default: deploy.yaml)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="odoo-droplet", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("check-config", help="validate a settings file and the secrets it needs")
    p.add_argument("file", nargs="?", default=None)
    _add_common(p)

    p = sub.add_parser("render", help="write what would be deployed, for review (secrets redacted)")
    _add_common(p)
    p.add_argument("--size", help="preview on another droplet size slug")
    p.add_argument("--out", required=True, help="output directory")

    from builder.commands import add_parsers

    add_parsers(sub, _add_common)

    p = sub.add_parser("local", help="the local cloud: DigitalOcean's API on this machine's Docker")
    p.add_argument("action", choices=["up", "down", "status", "env"])
    _add_common(p, config=False)
    return parser


class BadInput(Exception):
    def __init__(self, problems: list[Problem], source: str):
        self.problems, self.source = problems, source
        super().__init__(source)


def load_deploy(config: str, *, api: bool = False, size: str | None = None,
                lenient: bool = False) -> tuple[Deploy, Secrets]:
    """Settings + secrets, both validated; raises BadInput listing every problem. `lenient`: only the
    API token and Spaces keys are needed (status, verify, destroy do not deploy anything)."""
    from builder.gitinfo import build_info
    from builder.secrets_env import environment, secret_problems, secrets_from

    try:
        settings = load_settings(config)
        if size:
            settings = with_size(settings, size)
    except SettingsError as err:
        raise BadInput(err.problems, err.path) from None
    env = environment(Path(config).resolve().parent / ".env") if Path(config).exists() else environment()
    deploy = to_deploy(settings, env, build_info())
    problems = secret_problems(deploy, env, api=api)
    if lenient:
        problems = [p for p in problems if not p.field.endswith(("DB_PASSWORD", "ADMIN_PASSWD"))
                    and deploy.registry.token_env not in p.field]
    if problems:
        raise BadInput(problems, config)
    return deploy, secrets_from(deploy, env)


def _report_bad_input(out: Output, err: BadInput) -> int:
    lines = "\n".join(f"  - {p}" for p in err.problems)
    out.error(f"{err.source}: {len(err.problems)} problem(s); nothing was created\n{lines}")
    out.result({"ok": False, "problems": [p.__dict__ for p in err.problems]})
    return EXIT_BAD_INPUT


def cmd_check_config(args: argparse.Namespace, out: Output) -> int:
    config = args.file or args.config
    deploy, _ = load_deploy(config)
    out.result({"ok": True, "config": config, "project": deploy.project},
               f"{config}: valid (project {deploy.project}, {deploy.droplet.size} in {deploy.droplet.region})")
    return EXIT_OK


def write_tree(files: dict[str, str], out_dir: Path) -> None:
    """Write all files or none: into a temporary sibling first, then moved into place."""
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        for rel, content in files.items():
            target = staging / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(content)
        if out_dir.exists():
            shutil.rmtree(out_dir)
        staging.rename(out_dir)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


def cmd_render(args: argparse.Namespace, out: Output) -> int:
    deploy, secrets = load_deploy(args.config, size=args.size)
    from builder.bundle import render_bundle
    from builder.packer import detect_packer_version
    from builder.userdata import UserDataTooLarge

    try:
        version = detect_packer_version()
    except (OSError, ValueError):
        version = (1, 11, 2)  # no Packer here: preview the current plugin-based template
    try:
        files = render_bundle(deploy, secrets, version)
    except UserDataTooLarge as err:
        raise BadInput([Problem("user-data", "(rendered)", str(err))], args.config) from None
    out_dir = Path(args.out)
    write_tree(files, out_dir)
    out.result({"ok": True, "out": str(out_dir), "files": sorted(files)},
               f"rendered {len(files)} files into {out_dir}/ (secrets shown as <redacted>)")
    return EXIT_OK


def cmd_local(args: argparse.Namespace, out: Output) -> int:
    from localcloud import control

    return control.main([args.action] + (["--json"] if args.json else []))


COMMANDS = {"check-config": cmd_check_config, "render": cmd_render, "local": cmd_local}


def run_api_command(args: argparse.Namespace, out: Output) -> int:
    from builder.commands import API_COMMANDS
    from builder.doclient import ApiError
    from builder.spaces import SpacesError

    needs_secrets = args.command == "droplet" and not getattr(args, "no_user_data", False)
    deploy, secrets = load_deploy(args.config, api=True, lenient=not needs_secrets)
    try:
        return API_COMMANDS[args.command](args, out, deploy, secrets)
    except ApiError as err:
        out.error(str(err))
        out.result({"ok": False, "error": str(err), "api_status": err.status})
        return EXIT_BAD_INPUT if err.status in (401, 403, 404, 422) else EXIT_FAILED
    except SpacesError as err:
        out.error(str(err))
        out.result({"ok": False, "error": str(err)})
        return EXIT_FAILED


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    out = Output(getattr(args, "json", False))
    try:
        if args.command in COMMANDS:
            return COMMANDS[args.command](args, out)
        return run_api_command(args, out)
    except BadInput as err:
        return _report_bad_input(out, err)
    except KeyboardInterrupt:
        out.error("interrupted")
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())

