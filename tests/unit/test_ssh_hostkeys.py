"""The agent publishes the droplet's SSH host keys at first boot (firstboot/publishing.py publish_host_keys, run
first in preflight), so the operator's CLI can pin them: through the outbox (an outage only delays them), kept
on the droplet, and the only copy on a droplet without Spaces."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from builder import ssh
from firstboot.config import Resources
from firstboot.contract.keys import host_keys_key
from tests.unit.agent_fakes import FakeMetadata
from tests.unit.test_agent_flow import ME, World

KEY = host_keys_key(ME)


def host_keys(w: World) -> dict[str, str]:
    """Real host keys (as cloud-init makes them) under the droplet's /etc/ssh; type -> `ssh-keygen -l` fingerprint."""
    etc_ssh = w.paths.root / "etc" / "ssh"
    etc_ssh.mkdir(parents=True, exist_ok=True)
    out = {}
    for kind in ("ed25519", "ecdsa"):
        key = etc_ssh / f"ssh_host_{kind}_key"
        subprocess.run(["ssh-keygen", "-q", "-t", kind, "-N", "", "-f", str(key)], check=True)
        fp = subprocess.run(["ssh-keygen", "-lf", f"{key}.pub"], capture_output=True, text=True, check=True)
        out[(etc_ssh / f"ssh_host_{kind}_key.pub").read_text().split()[0]] = fp.stdout.split()[1]
    return out


def test_host_keys_are_in_spaces_with_the_fingerprints_ssh_prints_and_pin_for_the_droplet(tmp_path: Path) -> None:
    w = World(tmp_path)
    expected = host_keys(w)
    assert w.run().status == "success"
    doc = json.loads(w.bucket[KEY])
    assert doc["droplet_id"] == ME
    assert {k["type"]: k["fingerprint"] for k in doc["keys"]} == expected
    assert json.loads(w.paths.host_keys_json.read_text()) == doc
    # What the CLI does with it: a known_hosts file naming the droplet's address with exactly these keys.
    pinned = ssh.pin_host_keys(type("S", (), {"get_json": lambda self, k: json.loads(w.bucket[k])})(), ME,
                               "10.213.0.42", tmp_path / "pinned")
    lines = pinned.read_text().splitlines()
    assert len(lines) == 2 and all(line.startswith("10.213.0.42 ") for line in lines)
    for line in lines:
        assert any(line.endswith(p.read_text().split()[1])
                   for p in (w.paths.root / "etc" / "ssh").glob("*.pub"))
    assert "PRIVATE" not in w.bucket[KEY].decode()


def test_spaces_down_the_host_keys_wait_in_the_outbox_and_arrive_later(tmp_path: Path) -> None:
    w = World(tmp_path)
    host_keys(w)
    w.spaces.down = True
    w.run()
    assert KEY not in w.bucket
    w.spaces.down = False
    done, errors = w.agent().drain_outbox()
    assert errors == [] and KEY in done
    assert json.loads(w.bucket[KEY])["droplet_id"] == ME


def test_published_even_when_preflight_refuses_the_droplet(tmp_path: Path) -> None:
    """The operator may need SSH most on a droplet that failed: the keys go out first."""
    w = World(tmp_path)
    host_keys(w)
    agent = w.agent()
    agent.resources = lambda: Resources(1, 512, 10)
    assert agent.run_all().status == "failed"
    assert json.loads(w.bucket[KEY])["droplet_id"] == ME


def test_a_console_droplet_without_spaces_keeps_them_on_the_droplet(tmp_path: Path) -> None:
    w = World(tmp_path, user_data=False)
    expected = host_keys(w)
    assert w.run().status == "success"
    assert w.bucket == {}
    doc = json.loads(w.paths.host_keys_json.read_text())
    assert {k["type"]: k["fingerprint"] for k in doc["keys"]} == expected


def test_no_host_keys_or_no_metadata_is_logged_and_the_deploy_goes_on(tmp_path: Path, caplog) -> None:  # type: ignore[no-untyped-def]
    w = World(tmp_path)
    assert w.run().status == "success"  # no /etc/ssh keys at all
    assert KEY not in w.bucket and "no SSH host keys" in caplog.text

    w2 = World(tmp_path / "two")
    host_keys(w2)

    class NoMetadata(FakeMetadata):
        def droplet_id(self) -> int:
            from firstboot.metadata import MetadataError

            raise MetadataError("http://169.254.169.254/metadata/v1/id: timed out")

    agent = w2.agent()
    agent.metadata = NoMetadata
    agent.run_all()
    assert not any(k.startswith("state/hostkeys/") for k in w2.bucket)
    assert "no droplet id from the metadata service" in caplog.text
