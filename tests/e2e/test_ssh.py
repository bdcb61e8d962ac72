"""The SSH channel (issue 11 Build 1) on the local cloud: a droplet from the baked snapshot, created by
`odoo-droplet droplet` as an operator runs it, accepts the local cloud's key as root; the host keys its agent
published to Spaces are the ones it presents (a connection with StrictHostKeyChecking=yes succeeds against
them alone); a tampered known_hosts file, a key the droplet was not made with and a closed port are each
refused with the operator's error, and nothing runs on the droplet.

(A stock debian-12-x64 droplet taking the account key over SSH is tests/e2e/test_droplets.py's.)
The droplet is not waited on to finish its deploy: its host keys go to Spaces first thing in preflight, so
the channel is usable long before the gates. Set ODL_E2E_SNAPSHOT_ID to an existing snapshot's id (baked
from this code) to skip the bake while working on these tests.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from builder import ssh
from builder.doclient import ApiTarget, Cloud, make_client
from builder.settings import load_settings, to_deploy
from builder.spaces import Spaces
from firstboot.config import Deploy, Secrets
from firstboot.contract.hostkeys import parse_host_keys_document
from firstboot.contract.keys import host_keys_key
from localcloud import docker_backend as db
from tests.e2e.conftest import REPO, generated_secrets, poll

pytestmark = pytest.mark.e2e

REGION = "nyc3"


def settings_yaml(project: str) -> str:
    """What the baked snapshot carries (examples/deploy.yaml's tags), no reserved IP: nothing shared moves."""
    return f"""project: {project}
ship_version: 1.0.0
droplet:
  region: {REGION}
  size: s-1vcpu-2gb
  base_image: debian-12-x64
reserved_ip: none
odoo:
  image: odoo
  tag: "18.0"
  prior_tag: 18.0-prior
  modules: [base, web]
  database: odoo
postgres:
  mode: selfhost
  image: postgres:16
edge:
  tls: self-signed
spaces:
  region: {REGION}
  bucket: {project}-proofs
gates:
  timeout_seconds: 120
  soak_seconds: 0
"""


@dataclass
class Booted:
    droplet: dict[str, Any]
    deploy: Deploy
    spaces: Spaces
    cloud: Cloud
    env: dict[str, str]
    key_file: Path
    pinned_dir: Path

    @property
    def id(self) -> int:
        return int(self.droplet["id"])

    def target(self) -> ssh.SshTarget:
        _, target = ssh.target_for_deploy(self.cloud, self.deploy, self.spaces, self.id, environ=self.env,
                                          known_hosts_dir=self.pinned_dir)
        return target

    def inside(self, *argv: str) -> subprocess.CompletedProcess[str]:
        """A look from the container's side (docker exec), not through the channel under test."""
        return db.droplet_exec(self.id, argv, timeout=120)


@pytest.fixture(scope="module")
def snapshot(request: pytest.FixtureRequest) -> dict[str, Any]:
    wanted = os.environ.get("ODL_E2E_SNAPSHOT_ID")
    if wanted:
        return {"snapshot_id": int(wanted), "env": request.getfixturevalue("local_cloud_env")}
    return request.getfixturevalue("baked_snapshot")


@pytest.fixture(scope="module")
def booted(snapshot: dict[str, Any], tmp_path_factory: pytest.TempPathFactory,
           timings: dict[str, float]) -> Iterator[Booted]:
    env = {**snapshot["env"], **generated_secrets(), "PYTHONPATH": str(REPO)}
    assert env.get(ssh.SSH_KEY_ENV), "`local env` names no SSH key (ODL_SSH_KEY)"
    project = f"odlssh-{secrets.token_hex(3)}"
    workdir = tmp_path_factory.mktemp("ssh")
    config = workdir / "deploy.yaml"
    config.write_text(settings_yaml(project))
    deploy = to_deploy(load_settings(config), env)
    spaces = Spaces.for_deploy(deploy, Secrets.from_env(env))
    assert spaces is not None
    cloud = Cloud(make_client(ApiTarget(env["DIGITALOCEAN_API_URL"], env["DIGITALOCEAN_TOKEN"], env["SSL_CERT_FILE"])),
                  say=lambda _: None)
    start = time.monotonic()
    log = workdir / "droplet.log"
    with open(log, "wb") as out:  # a file, not a pipe: nobody reads it while the command runs
        proc = subprocess.Popen([sys.executable, "-m", "builder", "droplet", "--config", str(config), "--snapshot",
                                 str(snapshot["snapshot_id"]), "--json"], cwd=workdir, env=env,
                                stdout=subprocess.DEVNULL, stderr=out)
    try:
        def created() -> dict[str, Any] | None:
            assert proc.poll() is None or proc.returncode == 0, (
                f"droplet exited {proc.returncode}:\n{log.read_text(errors='replace')[-3000:]}")
            mine = cloud.droplets(project)
            return mine[0] if mine else None

        droplet = poll(created, 600, "the droplet command to create the droplet", interval=2)
        published = poll(lambda: spaces.get_json(host_keys_key(int(droplet["id"]))), 900,
                         "the droplet's host keys in Spaces", interval=3)
        timings["ssh: droplet create -> host keys in Spaces"] = time.monotonic() - start
        droplet = cloud.droplet(int(droplet["id"]))
        assert published["droplet_id"] == droplet["id"]
        yield Booted(droplet, deploy, spaces, cloud, env, Path(env[ssh.SSH_KEY_ENV]),
                     tmp_path_factory.mktemp("pinned"))
    finally:
        if proc.poll() is None:  # its deploy is not what is tested here
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=30)
        for d in cloud.droplets(project):
            cloud.delete_droplet(int(d["id"]))


def test_local_up_registered_the_key_the_cli_reaches_droplets_with(booted: Booted) -> None:
    assert stat.S_IMODE(os.stat(booted.key_file).st_mode) == 0o600
    public = ssh.public_key_of(booted.key_file)
    assert public is not None
    fingerprint = ssh.md5_fingerprint(public)
    found = booted.cloud.call("get SSH key", booted.cloud.client.ssh_keys.get, ssh_key_identifier=fingerprint)
    assert found["ssh_key"]["public_key"] == public
    # `droplet` gave it to the droplet (no ssh_keys in the settings): cloud-init put it in root's keys.
    assert public in booted.inside("cat", "/root/.ssh/authorized_keys").stdout


def test_root_over_ssh_with_the_published_host_keys_pinned(booted: Booted, timings: dict[str, float]) -> None:
    target = booted.target()
    assert target.address == ssh.droplet_address(booted.droplet) and target.user == "root"
    start = time.monotonic()
    res = ssh.run(target, ["sh", "-c", "id -un; cat /etc/hostname"], timeout=60)
    timings["ssh: one command over the channel"] = time.monotonic() - start
    assert res.returncode == 0, res.stderr
    user, hostname = res.stdout.decode().split()
    assert user == "root" and hostname == booted.inside("cat", "/etc/hostname").stdout.strip()
    # The remote's own status and stdin come through.
    assert ssh.run(target, ["sh", "-c", "exit 7"], timeout=60).returncode == 7
    assert ssh.run(target, ["cat"], timeout=60, input=b"through stdin\n").stdout == b"through stdin\n"
    # What is pinned is what the droplet has: its host keys' fingerprints as ssh-keygen prints them there.
    # (A DSA key cloud-init may leave there is not one sshd offers, so it is not published.)
    there = booted.inside("sh", "-c", "for f in /etc/ssh/ssh_host_*_key.pub; do ssh-keygen -lf $f; done").stdout
    published = parse_host_keys_document(booted.spaces.get_json(host_keys_key(booted.id)) or {}, booted.id)
    offered = [line for line in there.splitlines() if not line.endswith("(DSA)")]
    assert len(offered) >= 2
    assert sorted(line.split()[1] for line in offered) == sorted(k.fingerprint for k in published)
    assert stat.S_IMODE(os.stat(target.known_hosts).st_mode) == 0o600


def test_a_tampered_known_hosts_is_refused_and_nothing_runs(booted: Booted, tmp_path: Path) -> None:
    target = booted.target()
    other = tmp_path / "other"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    # The droplet's address pinned to a key it does not hold (as after a man in the middle).
    lines = target.known_hosts.read_text().splitlines()
    fake = other.with_name("other.pub").read_text().split()[1]
    tampered = tmp_path / "known_hosts"
    tampered.write_text("".join(f"{line.split()[0]} ssh-ed25519 {fake}\n" for line in lines[:1]))
    marker = f"/root/odl-ssh-tampered-{secrets.token_hex(3)}"
    with pytest.raises(ssh.HostKeyChanged) as err:
        ssh.run(replace(target, known_hosts=tampered), ["touch", marker], timeout=60)
    assert err.value.exit_code == 1 and "changed" in err.value.text() and target.address in err.value.text()
    assert booted.inside("test", "-e", marker).returncode == 1  # not connected, so nothing ran


def test_a_key_the_droplet_was_not_made_with_is_refused(booted: Booted, tmp_path: Path) -> None:
    stranger = tmp_path / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(stranger)], check=True)
    with pytest.raises(ssh.KeyRefused) as err:
        ssh.run(replace(booted.target(), key_file=stranger), ["true"], timeout=60)
    assert err.value.exit_code == 1 and str(stranger) in err.value.text()


def test_a_port_nothing_answers_on_is_unreachable_naming_address_and_port(booted: Booted) -> None:
    target = replace(booted.target(), port=2)
    with pytest.raises(ssh.Unreachable) as err:
        ssh.run(target, ["true"], timeout=60)
    assert target.address in err.value.text() and "port 2" in err.value.text()
    assert json.loads(json.dumps(err.value.as_json()))["ok"] is False
