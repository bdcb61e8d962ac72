"""`odoo-droplet restore BACKUP` through `builder.cli.main` (the SSH channel a stand-in answering as the agent
would) and the agent's own `restore` command line: the JSON shapes, the exit codes, what is sent."""

from __future__ import annotations

import json

import pytest

import builder.commands.remote as remote
from builder.commands.restore import agent_restore_argv
from firstboot import cli as agent_cli
from tests.unit.test_backup_cli import AgentChannel, cli, env  # noqa: F401 - env is a fixture

BID = "20261202T030000Z-manual"
SAFETY = "20261212T030000Z-pre-upgrade"
GATES = [{"name": "health_internal", "passed": True, "detail": "200"},
         {"name": "registry_loaded", "passed": False, "detail": "500"}]


@pytest.mark.parametrize(("code", "answer", "exit_code"), [
    (0, {"backup_id": BID, "safety_backup_id": SAFETY, "status": "restored", "gates": GATES[:1], "problems": [],
         "restored_rows": {"res_partner": 42}}, 0),
    (1, {"backup_id": BID, "safety_backup_id": SAFETY, "status": "put back", "gates": GATES,
         "problems": [f"gates failed after restoring {BID}: registry_loaded; the safety backup {SAFETY} was put back"],
         "put_back": {"backup_id": SAFETY, "passed": True, "gates": GATES[:1]}}, 1),
    (1, {"backup_id": BID, "safety_backup_id": SAFETY, "status": "failed", "gates": [],
         "problems": ["corrupt part: part database.dump has SHA-256 00, the manifest says 11: it is corrupt"]}, 1),
    (2, {"backup_id": None, "safety_backup_id": SAFETY, "status": "refused", "gates": [],
         "problems": ["odoo version mismatch: the backup is from Odoo 17.0 (series 17.0), this droplet runs Odoo "
                      "18.0 (series 18.0)"]}, 2),
])
def test_restore_runs_the_agent_over_ssh_and_relays_its_answer(env, capsys, monkeypatch, code, answer,  # noqa: F811
                                                              exit_code):
    channel = AgentChannel(answer, code)
    monkeypatch.setattr(remote, "open_channel", lambda cloud, d, spaces, droplet_id: channel)
    got, doc = cli(capsys, "restore", BID, "--droplet", "7")
    assert got == exit_code
    assert channel.sent == [agent_restore_argv(BID)]
    for k in ("backup_id", "safety_backup_id", "status", "gates"):
        assert doc[k] == answer[k]
    assert doc["droplet_id"] == 7
    if exit_code:
        assert doc["ok"] is False and answer["problems"][0] in doc["error"]
    if answer["status"] == "put back":
        assert doc["put_back"]["passed"] is True and "pre-restore" not in doc["error"]


def test_a_bad_backup_id_is_bad_input_before_anything_is_reached(env, capsys, monkeypatch):  # noqa: F811
    def no_channel(*a):
        raise AssertionError("no droplet is reached for a bad BACKUP")

    monkeypatch.setattr(remote, "open_channel", no_channel)
    got, doc = cli(capsys, "restore", "yesterday", "--droplet", "7")
    assert got == 2 and "yesterday" in json.dumps(doc)


def test_the_agents_restore_command_is_data():
    assert agent_restore_argv("latest") == ("env", "PYTHONPATH=/opt/odoo-droplet", "python3", "-m",
                                            "firstboot.agent", "restore", "latest")
    assert agent_restore_argv(BID)[-2:] == ("restore", BID)


def test_the_agent_refuses_a_restore_without_a_backup_id(tmp_path, capsys, monkeypatch):
    from tests.unit import test_agent_flow as af

    w = af.World(tmp_path)
    monkeypatch.setattr(agent_cli, "build_agent", lambda layout, inputs: w.agent())
    assert agent_cli.main(["restore", "not-an-id", "--root", str(tmp_path)]) == 2
    doc = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert doc["status"] == "refused" and set(doc) >= {"backup_id", "safety_backup_id", "status", "gates"}
