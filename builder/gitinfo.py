"""The project's git commit and ref, for snapshot names and proofs.

Read with git from the source checkout the modules run from (an editable install or a clone). An installed
wheel has no checkout: its modules sit in site-packages, which may lie inside some unrelated repository (a
venv in a project folder), so git is asked only when the folder above `builder/` is this project's own
checkout; otherwise the proofs get BuildInfo's defaults.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from firstboot.config import BuildInfo

ROOT = Path(__file__).resolve().parent.parent  # the checkout when run from source; site-packages when installed


def is_checkout(root: Path) -> bool:
    """True for this project's source tree (its pyproject.toml and git metadata beside `builder/`)."""
    return (root / "pyproject.toml").is_file() and (root / ".git").exists()


def build_info(root: Path = ROOT) -> BuildInfo:
    if not is_checkout(root):
        return BuildInfo()
    def git(*args: str) -> str:
        try:
            out = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            return ""
        return out.stdout.strip() if out.returncode == 0 else ""

    sha = git("rev-parse", "HEAD")
    ref = git("rev-parse", "--abbrev-ref", "HEAD") or "main"
    if not re.fullmatch(r"[0-9a-f]{40}", sha):
        return BuildInfo(git_ref=ref)
    return BuildInfo(git_sha=sha, git_ref=ref)
