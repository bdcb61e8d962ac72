"""The project's git commit and ref, for snapshot names and proofs."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from firstboot.config import BuildInfo

ROOT = Path(__file__).resolve().parent.parent


def build_info(root: Path = ROOT) -> BuildInfo:
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
