"""The import rules of ARCHITECTURE.md: what runs on a droplet imports only the standard library and itself,
the contract imports nothing of the project's but itself, and the local cloud reaches the CLI from one module."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def imports_of(package: str) -> dict[str, set[str]]:
    """module file (relative) -> top-level names of what it imports (absolute imports only)."""
    found: dict[str, set[str]] = {}
    for path in sorted((REPO / package).rglob("*.py")):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module)
        found[str(path.relative_to(REPO))] = names
    return found


def top(name: str) -> str:
    return name.split(".")[0]


def test_the_droplet_side_imports_the_standard_library_and_itself_only() -> None:
    stdlib = set(sys.stdlib_module_names) | {"__future__"}
    wrong = {f"{module}: {name}" for module, names in imports_of("firstboot").items()
             for name in names if top(name) not in stdlib | {"firstboot"}}
    assert not wrong, sorted(wrong)


def test_the_contract_imports_nothing_of_the_project_but_itself() -> None:
    wrong = {f"{module}: {name}" for module, names in imports_of("firstboot/contract").items()
             for name in names if top(name) in {"builder", "localcloud", "tests"}
             or (top(name) == "firstboot" and not name.startswith("firstboot.contract")
                 and name != "firstboot.config")}
    assert not wrong, sorted(wrong)


def test_only_localcloud_testing_reaches_the_cli_and_nothing_reaches_the_tests() -> None:
    wrong = {f"{module}: {name}" for module, names in imports_of("localcloud").items()
             for name in names if top(name) == "tests"
             or (top(name) == "builder" and module != "localcloud/testing.py")}
    wrong |= {f"{module}: {name}" for package in ("builder", "bench") for module, names in imports_of(package).items()
              for name in names if top(name) == "tests"}
    assert not wrong, sorted(wrong)
