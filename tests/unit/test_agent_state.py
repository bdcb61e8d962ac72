"""The agent's state on disk (firstboot/state.py): atomic, round-trips, and the settings inputs."""

from __future__ import annotations

import json
import os
import stat

import pytest

from firstboot.contract.envfile import parse_env
from firstboot.contract.layout import Layout
from firstboot.inputs import load_inputs
from firstboot.state import Attempt, State, atomic_write, load_state, save_state


def test_round_trip_and_mode(tmp_path):
    p = tmp_path / "var/state.json"
    st = State(deploy_id="deploy-20261127-030000", started_at="t", user_data=True,
               attempts=[Attempt(tag="a", done=["configure"], fresh_db=True)], done=["preflight"])
    save_state(p, st)
    assert stat.S_IMODE(p.stat().st_mode) == 0o600
    back = load_state(p)
    assert back == st and back.attempts[0].fresh_db is True
    assert load_state(tmp_path / "missing.json") is None


def test_atomic_write_leaves_old_content_on_failure(tmp_path, monkeypatch):
    p = tmp_path / "state.json"
    atomic_write(p, "old")

    def boom(*a):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        atomic_write(p, "new")
    assert p.read_text() == "old"
    assert [x.name for x in tmp_path.iterdir()] == ["state.json"]  # no temp file left behind


def test_paths_follow_the_droplet_layout(tmp_path):
    real = Layout()
    assert str(real.state_json) == "/var/lib/odoo-droplet/state.json"
    assert str(real.deploy_json) == "/etc/odoo-droplet/deploy.json"
    assert str(real.credentials) == "/root/odoo-droplet-credentials"
    assert str(real.proof_dir("deploy-1")) == "/var/lib/odoo-droplet/proofs/deploy-1"
    assert str(Layout(tmp_path).stack_dir) == f"{tmp_path}/etc/odoo-droplet/stack"


def test_env_file_parsing():
    env = parse_env('# c\nDB_PASSWORD=a=b\nADMIN_PASSWD="q w"\n\nX\n')
    assert env == {"DB_PASSWORD": "a=b", "ADMIN_PASSWD": "q w"}


def test_inputs_with_user_data_fix_loose_modes(tmp_path):
    paths = Layout(tmp_path)
    paths.etc.mkdir(parents=True)
    paths.deploy_json.write_text(json.dumps({"project": "p"}))
    paths.secrets_env.write_text("DB_PASSWORD=dbpw-123456\nADMIN_PASSWD=adm-123456\n")
    os.chmod(paths.secrets_env, 0o644)
    inp = load_inputs(paths)
    assert inp.user_data and inp.deploy.project == "p" and inp.secrets.db_password == "dbpw-123456"
    assert stat.S_IMODE(paths.secrets_env.stat().st_mode) == 0o600 and inp.warnings


def test_inputs_without_user_data_use_baked_settings(tmp_path):
    paths = Layout(tmp_path)
    paths.etc.mkdir(parents=True)
    paths.baked_json.write_text(json.dumps({"prior_tag": "18.0-a", "deploy": {"project": "baked"}}))
    inp = load_inputs(paths)
    assert not inp.user_data and inp.deploy.project == "baked" and inp.baked["prior_tag"] == "18.0-a"
    assert stat.S_IMODE(paths.credentials.stat().st_mode) == 0o600
    assert load_inputs(paths).secrets == inp.secrets
