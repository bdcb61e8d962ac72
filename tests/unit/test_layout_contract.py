"""The droplet's layout is written once (firstboot/contract/layout.py): the shell side reads the paths
file rendered from it, and no script, agent module or builder module spells a droplet path itself."""

from __future__ import annotations

import ast
import re
import subprocess
from pathlib import Path

from firstboot.contract.envfile import parse_env
from firstboot.contract.layout import SHELL_PATHS, Layout, droplet_roots, render_paths_env, shell_name
from firstboot.state import State, atomic_write, save_state

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "firstboot/contract/paths.env"

# Spellings in modules that other parts of issue 8 are rewriting right now; each moves to the contract
# when those parts land (then its line here goes). (file, path) pairs, never a whole file.
KNOWN_ELSEWHERE: set[tuple[str, str]] = set()


def droplet_path_pattern() -> re.Pattern[str]:
    roots = "|".join(re.escape(r) for r in droplet_roots())
    # A root followed by the end, a slash or a character that cannot continue a name
    # (/var/lib/odoo-droplet-localcloud is the local cloud's, on the operator's machine).
    return re.compile(rf"(?:{roots})(?![\w-])(?:[\w.-]|/(?=[\w.-]|$))*/?")


def shell_code(text: str) -> str:
    """The script without its comments (a `#` that starts a line or follows a blank)."""
    return "\n".join(re.sub(r"(^|\s)#.*$", "", line) for line in text.splitlines())


def python_strings(text: str) -> list[str]:
    """Every string literal of a module except docstrings (which explain, and are not read by code)."""
    tree = ast.parse(text)
    docstrings: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                docstrings.add(id(body[0].value))
    return [n.value for n in ast.walk(tree)
            if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docstrings]


def spelled_paths() -> dict[str, set[str]]:
    """file (relative) -> droplet paths spelled there, outside the contract."""
    pattern = droplet_path_pattern()
    found: dict[str, set[str]] = {}
    sources = [(p, shell_code(p.read_text())) for p in sorted((REPO / "builder/assets/images/scripts").glob("*.sh"))]
    sources.append((REPO / "firstboot/motd.sh", shell_code((REPO / "firstboot/motd.sh").read_text())))
    sources.append((REPO / "builder/assets/cloudinit/user-data.yaml.tmpl",
                    shell_code((REPO / "builder/assets/cloudinit/user-data.yaml.tmpl").read_text())))
    for package in ("firstboot", "builder"):
        for p in sorted((REPO / package).rglob("*.py")):
            if "contract" in p.relative_to(REPO).parts:
                continue
            sources.append((p, "\n".join(python_strings(p.read_text()))))
    for path, text in sources:
        hits = {h.rstrip(".") for h in pattern.findall(text)}
        if hits:
            found[str(path.relative_to(REPO))] = hits
    return found


def test_the_shipped_paths_file_is_the_rendered_contract():
    assert SHIPPED.read_text() == render_paths_env(), (
        "firstboot/contract/paths.env is stale: python3 -m firstboot.contract.layout > firstboot/contract/paths.env")
    env = parse_env(SHIPPED.read_text())
    layout = Layout()
    assert env == {shell_name(a): str(getattr(layout, a)) for a in SHELL_PATHS}
    # The file names its own installed place: the anchor the scripts start from.
    assert env["ODL_PATH_PATHS_ENV"] == str(layout.paths_env)
    assert layout.paths_env == layout.install_dir / SHIPPED.relative_to(REPO)


def test_the_paths_file_reads_the_same_in_a_shell():
    names = [shell_name(a) for a in SHELL_PATHS]
    script = f'. "$1"; printf "%s\\n" {" ".join(f"${n}" for n in names)}'
    out = subprocess.run(["sh", "-c", script, "_", str(SHIPPED)], capture_output=True, text=True, timeout=10,
                         check=True).stdout.splitlines()
    assert out == [str(getattr(Layout(), a)) for a in SHELL_PATHS]


def test_no_droplet_path_is_spelled_outside_the_contract():
    layout = Layout()
    anchor = str(layout.paths_env)
    # Before Packer uploads the package (and the paths file in it), 10-base.sh makes the two places the
    # upload lands in; everything after reads the paths file.
    bootstrap = {str(layout.install_dir), str(layout.etc)}
    problems = []
    for file, paths in spelled_paths().items():
        for path in sorted(paths):
            if (file, path) in KNOWN_ELSEWHERE:
                continue
            if path == anchor and (file.startswith("builder/assets/images/scripts/") or file == "firstboot/motd.sh"):
                continue
            if path in bootstrap and file == "builder/assets/images/scripts/10-base.sh":
                continue
            problems.append(f"{file}: {path}")
    assert not problems, "droplet paths spelled outside firstboot/contract/layout.py:\n" + "\n".join(problems)


def test_the_scan_would_see_a_spelled_path(tmp_path):
    pattern = droplet_path_pattern()
    assert pattern.findall(shell_code("rm -rf /etc/odoo-droplet/stack  # and /var/lib/odoo-droplet")) == [
        "/etc/odoo-droplet/stack"]
    assert pattern.findall("/var/lib/odoo-droplet-localcloud/state.json") == []
    strings = python_strings('"""Doc /etc/odoo-droplet."""\nX = f"{a}/var/lib/odoo-droplet/proofs"\n')
    assert pattern.findall("\n".join(strings)) == ["/var/lib/odoo-droplet/proofs"]


def test_login_message_reads_its_paths_from_the_paths_file(tmp_path):
    layout = Layout(tmp_path)
    paths_env = tmp_path / "paths.env"
    paths_env.write_text(render_paths_env(layout))
    atomic_write(layout.credentials, "DB_PASSWORD=s3cret-db-value\nADMIN_PASSWD=s3cret-admin-value\n")
    save_state(layout.state_json, State(deploy_id="deploy-20261127-030000", started_at="t", user_data=False,
                                        status="rolled_back"))
    env = {"ODL_PATHS_ENV": str(paths_env), "PATH": "/usr/bin:/bin"}
    out = subprocess.run(["sh", str(REPO / "firstboot/motd.sh")], env=env, capture_output=True, text=True,
                         timeout=10).stdout
    assert str(layout.credentials) in out and "without user-data" in out
    assert "deploy-20261127-030000: rolled_back" in out
    assert str(layout.proofs_dir) in out and str(layout.log_file) in out
    assert "s3cret" not in out
