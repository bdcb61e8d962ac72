"""The install step's decisions: skip, adopt an install a dead agent left running, or run `odoo -i`."""

from __future__ import annotations

from typing import Literal

from firstboot.gates import GateResult

KILLED_EXIT_CODES = (137, 143)  # SIGKILL / SIGTERM: the install was interrupted, not refused


def install_container_name(deploy_id: str, attempt: int) -> str:
    return f"odl-install-{deploy_id}-{attempt}"


def plan_install_start(*, db_initialised: bool, container_exists: bool | None
                       ) -> Literal["done", "inspect", "adopt", "run"]:
    """done: this attempt's database is initialised already. inspect: look for the attempt's install
    container first (None: not looked yet). adopt: a resumed agent finds its install still running (or
    finished) under dockerd and waits for it, never starting a second one beside it. run: go on to the
    database checks and the install."""
    if db_initialised:
        return "done"
    if container_exists is None:
        return "inspect"
    return "adopt" if container_exists else "run"


def wait_exit_code(ok: bool, stdout: str) -> int:
    """`docker wait` prints the exit code; anything else counts as an unknown failure (-1)."""
    text = stdout.strip()
    return int(text) if ok and text.lstrip("-").isdigit() else -1


def plan_adopted(exit_code: int, fresh_db: bool | None) -> Literal["discard", "keep"]:
    """An adopted install killed with the agent (a reboot) on a database this deploy made: the half-made
    database is ours alone, so drop it and start clean. Otherwise keep its outcome."""
    return "discard" if exit_code in KILLED_EXIT_CODES and fresh_db else "keep"


def plan_fresh_install(*, fresh_db: bool, modules_ok: bool | None) -> Literal["skip", "install"]:
    """A database that existed with the modules installed (this deploy before a crash, or a managed
    database that carries data): a second `-i` would not be a first install."""
    return "skip" if not fresh_db and modules_ok else "install"


def install_failure(exit_code: int, gate: GateResult) -> str | None:
    """Why the install failed, or None. Exit 0 proves nothing (an unknown module only logs a warning):
    the module rows decide."""
    if exit_code != 0:
        return f"odoo -i exited {exit_code}; {gate.detail}"
    if not gate.passed:
        return f"odoo -i exited 0 but {gate.detail}"
    return None
