"""What can go wrong for an operator, as one family of exceptions: each carries a message, a hint and an
exit code, and says how it is printed. `builder.cli.main` is the one place that turns them into output and
an exit status; commands only raise.

Exit status: 0 success, 1 the deploy failed its gates (or a remote operation failed), 2 bad input (fix the
settings, the secrets, the arguments or the account, then run again: nothing was created).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from builder.settings import Problem, SettingsError

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2

JsonDict = dict[str, object]


class OperatorError(Exception):
    """An error the operator can act on. `lines()` go to stderr (each as `error: ...`), `as_json()` to stdout
    with --json. `details` are extra keys of that JSON object."""

    exit_code: int = EXIT_FAILED

    def __init__(self, message: str, hint: str = "", *, details: Mapping[str, object] | None = None):
        super().__init__(message)
        self.message, self.hint = message, hint
        self.details: JsonDict = dict(details or {})

    def text(self) -> str:
        return f"{self.message} {self.hint}" if self.hint else self.message

    def lines(self) -> list[str]:
        return [self.text()]

    def as_json(self) -> JsonDict:
        return {"ok": False, "error": self.text(), **self.details}


class BadInput(OperatorError):
    """Settings or secrets that do not pass validation: every problem listed, nothing created."""

    exit_code = EXIT_BAD_INPUT

    def __init__(self, problems: Sequence[Problem], source: str):
        self.problems, self.source = list(problems), source
        listed = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"{source}: {len(self.problems)} problem(s); nothing was created\n{listed}")

    @classmethod
    def from_settings(cls, err: SettingsError) -> BadInput:
        return cls(err.problems, err.path)

    def as_json(self) -> JsonDict:
        return {"ok": False, "problems": [p.__dict__ for p in self.problems]}


class Refused(OperatorError):
    """A request the command will not carry out as given (a missing argument, a guard such as destroy's)."""

    exit_code = EXIT_BAD_INPUT


class DeployFailed(OperatorError):
    """The deploy could not reach a verdict (e.g. the droplet never became active)."""


class SpacesError(OperatorError):
    """Spaces unreachable, refusing the keys, or answering an error."""


class PackerError(OperatorError):
    """Packer could not run (missing, unreadable version) or the image build failed."""

    def lines(self) -> list[str]:
        return [f"packer: {self.text()}"]


class ImageBuildFailed(PackerError):
    """Packer ran and failed; `left` are build droplets still there (an interrupted build leaves its droplet)."""

    def __init__(self, why: str, *, snapshot_name: str, build_tag: str, left: Sequence[int]):
        self.why, self.left = why, list(left)
        hint = ""
        if self.left:
            ids = " ".join(map(str, self.left))
            hint = (f"droplets tagged {build_tag} still exist: {', '.join(map(str, self.left))} (an interrupted "
                    f"build leaves its droplet; `odoo-droplet destroy {ids}` removes it)")
        super().__init__(f"the image build failed: {why}", hint,
                         details={"snapshot_name": snapshot_name, "build_droplets_left": self.left})

    def lines(self) -> list[str]:
        return [self.message] + ([self.hint] if self.hint else [])

    def as_json(self) -> JsonDict:
        return {"ok": False, "error": self.why, **self.details}
