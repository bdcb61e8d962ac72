"""The local cloud's SSH key (localcloud/control.py): made once, private, registered in the account's keys
through the API without duplicates, exported by `local env`; and the droplet command handing the operator's
key to a new droplet when the settings name none (builder/deploy.py `with_operator_key`)."""

from __future__ import annotations

import os
import stat
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from builder import ssh
from builder.deploy import Deployer
from builder.doclient import ApiTarget, Cloud, make_client
from firstboot.config import Deploy
from localcloud import control
from localcloud.home import Home

pytest_plugins = ["tests.localcloud_fixtures"]


def config_of(memory_cloud) -> control.ServerConfig:  # type: ignore[no-untyped-def]
    u = urlsplit(memory_cloud.url)
    return control.ServerConfig(u.hostname or "127.0.0.1", u.port or 443, "memory")


def test_the_key_pair_is_made_once_and_the_private_key_is_0600(tmp_path: Path) -> None:
    home = Home(tmp_path / "lc")
    first = control.ensure_ssh_key(home)
    assert first.startswith("ssh-ed25519 ") and ssh.md5_fingerprint(first)
    assert stat.S_IMODE(os.stat(home.ssh_key).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(home.ssh_key.parent).st_mode) == 0o700
    assert control.ensure_ssh_key(home) == first  # the same key on every `up`


def test_registered_in_the_account_once_however_often_up_runs(memory_cloud, validating_session) -> None:  # type: ignore[no-untyped-def]
    home = Home(memory_cloud.home)
    cfg = config_of(memory_cloud)
    key = control.register_ssh_key(home, cfg)
    again = control.register_ssh_key(home, cfg)
    assert key == again
    listed = validating_session.get(f"{memory_cloud.url}/v2/account/keys").json()["ssh_keys"]
    public = control.ensure_ssh_key(home)
    assert [k["fingerprint"] for k in listed] == [ssh.md5_fingerprint(public)]
    assert listed[0]["public_key"] == public
    # A droplet asking for it by fingerprint gets it in its metadata (public-keys -> authorized_keys).
    made = validating_session.post(f"{memory_cloud.url}/v2/droplets", json={
        "name": "k", "region": "nyc3", "size": "s-1vcpu-1gb", "image": "debian-12-x64",
        "ssh_keys": [key["fingerprint"]]}).json()["droplet"]
    assert memory_cloud.backend.droplets[made["id"]].spec.ssh_public_keys == (public,)


def test_local_env_names_the_private_key(tmp_path: Path) -> None:
    home = Home(tmp_path / "lc")
    values = control.env_values(home)
    assert values[ssh.SSH_KEY_ENV] == str(home.ssh_key)
    assert "PRIVATE KEY" not in "".join(control.env_lines(home))


# ---------------------------------------------------------------- the droplet gets the operator's key


@pytest.fixture
def cloud(memory_cloud) -> Cloud:  # type: ignore[no-untyped-def]
    target = ApiTarget(memory_cloud.url, memory_cloud.token, str(memory_cloud.cafile))
    return Cloud(make_client(target), say=lambda _: None, sleep=lambda _: None)


def test_with_no_keys_in_the_settings_the_operators_registered_key_goes_to_the_droplet(memory_cloud, cloud) -> None:  # type: ignore[no-untyped-def]
    home = Home(memory_cloud.home)
    said: list[str] = []
    deployer = Deployer(cloud, None, said.append, environ={ssh.SSH_KEY_ENV: str(home.ssh_key)})
    control.ensure_ssh_key(home)
    unregistered = deployer.with_operator_key(Deploy())
    assert unregistered.droplet.ssh_keys == () and "has no SSH key" in said[-1]

    fingerprint = control.register_ssh_key(home, config_of(memory_cloud))["fingerprint"]
    assert deployer.with_operator_key(Deploy()).droplet.ssh_keys == (fingerprint,)  # pydo asks by fingerprint

    named = Deploy()
    named = replace(named, droplet=replace(named.droplet, ssh_keys=("12345",)))
    assert deployer.with_operator_key(named) == named  # the settings' keys win (DigitalOcean)
    no_key = Deployer(cloud, None, said.append, environ={})
    assert no_key.with_operator_key(Deploy()).droplet.ssh_keys == ()
