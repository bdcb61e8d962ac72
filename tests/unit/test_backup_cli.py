"""`odoo-droplet backups` and `backup-now` through `builder.cli.main`: Spaces is a boto3 stand-in holding sets
the droplet's own code uploaded (tests/unit/test_backup_wiring.py's fakes), the SSH channel a stand-in that
answers the agent's command as the agent would. Checked: the JSON shapes, the exit codes, what is sent."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
from botocore.exceptions import ClientError

import builder.commands.remote as remote
from builder.cli import main
from builder.commands.backup_now import agent_backup_argv
from builder.spaces import Spaces
from firstboot.backup.ids import BackupKind
from firstboot.backups import backup
from tests.unit.test_backup_wiring import T0, Clock, FakeSpaces, world
from tests.unit.test_cli_errors import SECRETS

SETTINGS = """\
project: odoo
reserved_ip: none
odoo: {database: odoo}
spaces: {region: nyc3, bucket: acme-odoo}
"""


class Boto:
    """The few boto3 S3 calls builder/spaces.py makes, over a FakeSpaces' objects."""

    def __init__(self, sp: FakeSpaces) -> None:
        self.sp = sp

    def list_objects_v2(self, Bucket: str, Prefix: str, **kw: Any) -> dict[str, Any]:
        return {"Contents": [{"Key": k, "Size": n} for k, n in self.sp.list_sizes(Prefix).items()]}

    def head_object(self, Bucket: str, Key: str) -> dict[str, Any]:
        h = self.sp.head(Key)
        if h is None:
            raise ClientError({"Error": {"Code": "404", "Message": "Not Found"}}, "HeadObject")
        return {"ETag": h["etag"], "Metadata": {k.removeprefix("x-amz-meta-"): v for k, v in h.items()
                                                if k.startswith("x-amz-meta-")}}

    def get_object(self, Bucket: str, Key: str) -> dict[str, Any]:
        data = self.sp.get(Key)
        if data is None:
            raise ClientError({"Error": {"Code": "NoSuchKey", "Message": "no"}}, "GetObject")
        return {"Body": io.BytesIO(data)}


@dataclass
class AgentChannel:
    """The droplet's shell: answers the agent's backup command with `answer` and exit `code`."""

    answer: dict[str, Any]
    code: int = 0
    droplet_id: int = 7
    address: str = "192.0.2.10"
    sent: list[tuple[str, ...]] = field(default_factory=list)

    def run(self, argv: Sequence[str], *, timeout: float) -> subprocess.CompletedProcess[bytes]:
        self.sent.append(tuple(argv))
        out = ("a warning first\n" + json.dumps(self.answer) + "\n").encode()
        return subprocess.CompletedProcess(list(argv), self.code, out, b"")

    def attach(self, argv: Sequence[str], *, tty: bool) -> int:  # pragma: no cover
        raise AssertionError("backup-now captures, never attaches")


@pytest.fixture
def env(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    for name in ("REGISTRY", "REGISTRY_TOKEN", "DIGITALOCEAN_API_URL", "SPACES_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / "deploy.yaml").write_text(SETTINGS)
    sp = FakeSpaces()
    monkeypatch.setattr(Spaces, "for_deploy", classmethod(
        lambda cls, d, s: cls(d.spaces.bucket, "http://127.0.0.1:9", Boto(sp)) if d.spaces else None))
    return sp


def cli(capsys, *argv: str) -> tuple[int, dict[str, Any]]:
    code = main([*argv, "--config", "deploy.yaml", "--json"])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, json.loads(out)


def test_backups_lists_the_sets_newest_first_with_the_issues_keys(env, capsys, tmp_path):
    backup(world(tmp_path / "d", spaces=env), BackupKind.SCHEDULED)
    backup(world(tmp_path / "d", spaces=env, clock=Clock(T0 + dt.timedelta(hours=2))), BackupKind.MANUAL)
    code, doc = cli(capsys, "backups")
    assert code == 0
    assert doc["location"] == "s3://acme-odoo/backups/odoo/"
    assert [b["id"] for b in doc["backups"]] == ["20261202T050000Z-manual", "20261202T030000Z-scheduled"]
    first = doc["backups"][0]
    assert {"id", "kind", "created", "size_bytes", "odoo_version", "encrypted", "verified"} <= set(first)
    assert first["kind"] == "manual" and first["created"] == "2026-12-02T05:00:00Z"
    assert first["odoo_version"] == "18.0-20260723" and first["encrypted"] is False and first["verified"] is None
    assert first["status"] == "uploaded" and first["size_bytes"] > 0


def test_backups_shows_a_damaged_set_as_incomplete_with_the_reason(env, capsys, tmp_path):
    backup(world(tmp_path / "d", spaces=env), BackupKind.SCHEDULED)
    key = "backups/odoo/20261202T030000Z-scheduled/filestore.tar"
    data, meta = env.objects[key]
    env.objects[key] = (data[:-1] + b"X", meta)  # one byte changed in Spaces: its ETag no longer matches
    code, doc = cli(capsys, "backups")
    assert code == 0
    (entry,) = doc["backups"]
    assert entry["status"] == "incomplete" and any("filestore.tar" in p for p in entry["problems"])


def test_backups_without_spaces_is_bad_input(env, capsys, tmp_path):
    (tmp_path / "deploy.yaml").write_text("project: odoo\n")
    code, doc = cli(capsys, "backups")
    assert code == 2 and "Spaces" in doc["error"]


@pytest.mark.parametrize(("code", "answer", "exit_code"), [
    (0, {"backup_id": "20261202T030000Z-manual", "status": "uploaded",
         "location": "s3://acme-odoo/backups/odoo/20261202T030000Z-manual/", "problems": []}, 0),
    (75, {"backup_id": "20261202T030000Z-manual", "status": "pending upload",
          "location": "/var/lib/odoo-droplet/backups/pending/20261202T030000Z-manual", "problems": ["Spaces: down"]}, 1),
    (1, {"backup_id": None, "status": "failed", "location": None, "problems": ["dump database odoo failed"]}, 1),
    (2, {"backup_id": None, "status": "refused", "location": None, "problems": ["postgres.mode is managed"]}, 2),
])
def test_backup_now_runs_the_agent_over_ssh_and_relays_its_answer(env, capsys, monkeypatch, code, answer, exit_code):
    channel = AgentChannel(answer, code)
    asked: list[int | None] = []

    def open_channel(cloud, d, spaces, droplet_id):
        asked.append(droplet_id)
        return channel

    monkeypatch.setattr(remote, "open_channel", open_channel)
    got, doc = cli(capsys, "backup-now", "--droplet", "7")
    assert got == exit_code and asked == [7]
    assert channel.sent == [agent_backup_argv()]
    assert channel.sent[0][-4:] == ("firstboot.agent", "backup", "--kind", "manual")
    for k in ("backup_id", "status", "location"):
        assert doc[k] == answer[k]
    if exit_code:
        assert doc["ok"] is False and answer["problems"][0] in doc["error"]


def test_backup_now_is_the_agents_own_command_as_data():
    argv = agent_backup_argv(BackupKind.PRE_UPGRADE)
    assert argv == ("env", "PYTHONPATH=/opt/odoo-droplet", "python3", "-m", "firstboot.agent", "backup", "--kind",
                    "pre-upgrade")
    assert hashlib  # the digests used by the fakes come from hashlib, as S3's ETag does
