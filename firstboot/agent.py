"""The first-boot agent: `python3 -m firstboot.agent run|resume|status|publish` (the systemd units run
this). The command line is firstboot/cli.py; the parts: core.py (the world the agent acts on),
runner.py (the step sequence), steps/ (one function per step), plans/ (the pure decisions)."""

from __future__ import annotations

import sys

from firstboot.cli import main

__all__ = ["main"]

if __name__ == "__main__":
    sys.exit(main())
