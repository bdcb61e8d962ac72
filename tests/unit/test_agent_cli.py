"""`python3 -m firstboot.agent status|publish` and the one-agent-at-a-time lock."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from firstboot.agent import main
from firstboot.contract.layout import Layout
from firstboot.lock import acquire_lock
from firstboot.state import Attempt, State, save_state


def test_status_before_and_after(tmp_path, capsys):
    assert main(["status", "--root", str(tmp_path)]) == 1
    assert "has not run yet" in capsys.readouterr().out
    paths = Layout(tmp_path)
    save_state(paths.state_json, State(deploy_id="deploy-20261127-030000", started_at="t", user_data=True,
                                       attempts=[Attempt(tag="18.0")], current="install"))
    assert main(["status", "--root", str(tmp_path)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["deploy_id"] == "deploy-20261127-030000" and out["current"] == "install" and out["done"] is False


def test_publish_without_user_data_does_nothing(tmp_path):
    assert main(["publish", "--root", str(tmp_path)]) == 0
    assert not Layout(tmp_path).credentials.exists()  # never generates passwords behind the agent's back


def test_one_agent_at_a_time(tmp_path):
    paths = Layout(tmp_path)
    fd = acquire_lock(paths, wait=False)
    assert fd is not None
    # Another process (flock is per open file description) cannot take it while we hold it.
    code = ("import sys; from pathlib import Path; from firstboot.lock import acquire_lock; "
            "from firstboot.contract.layout import Layout; "
            f"sys.exit(0 if acquire_lock(Layout(Path({str(tmp_path)!r})), wait=False) is None else 1)")
    assert subprocess.run([sys.executable, "-c", code], timeout=30).returncode == 0


def test_module_entry_point_help():
    r = subprocess.run([sys.executable, "-m", "firstboot", "--help"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0 and "run" in r.stdout and "publish" in r.stdout


def test_firstboot_imports_only_the_standard_library():
    """The droplet has Debian's python3 and nothing from PyPI: import every module in a fresh interpreter
    that cannot see the venv's site-packages."""
    code = ("import importlib, pkgutil, sys, firstboot\n"
            "for m in pkgutil.walk_packages(firstboot.__path__, 'firstboot.'):\n"
            "    if not m.name.endswith('__main__'):\n"
            "        importlib.import_module(m.name)\n"
            "bad = [n for n in sys.modules if n.split('.')[0] in ('builder', 'pydantic', 'yaml', 'boto3', 'botocore',"
            " 'httpx', 'pydo')]\n"
            "sys.exit(1 if bad else 0)\n")
    r = subprocess.run(["/usr/bin/python3", "-S", "-c", "import sys; sys.path.insert(0, '.'); exec(sys.stdin.read())"],
                       input=code, capture_output=True, text=True, timeout=60,
                       cwd=Path(__file__).resolve().parents[2])
    assert r.returncode == 0, r.stderr


def test_login_message_names_the_credentials_file_without_showing_them(tmp_path):
    from firstboot.state import atomic_write

    cred = tmp_path / "odoo-droplet-credentials"
    atomic_write(cred, "DB_PASSWORD=s3cret-db-value\nADMIN_PASSWD=s3cret-admin-value\n")
    state = tmp_path / "state.json"
    save_state(state, State(deploy_id="deploy-20261127-030000", started_at="t", user_data=False,
                            status="success"))
    motd = Path(__file__).resolve().parents[2] / "firstboot/motd.sh"
    env = {"ODL_CREDENTIALS": str(cred), "ODL_STATE": str(state), "PATH": "/usr/bin:/bin"}
    out = subprocess.run(["sh", str(motd)], env=env, capture_output=True, text=True, timeout=10).stdout
    assert str(cred) in out and "without user-data" in out
    assert "deploy-20261127-030000: success" in out
    assert "s3cret" not in out
    cred.unlink()
    out = subprocess.run(["sh", str(motd)], env=env, capture_output=True, text=True, timeout=10).stdout
    assert "without user-data" not in out
