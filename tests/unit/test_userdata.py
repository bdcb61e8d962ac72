"""The cloud-init user-data: what cloud-init on the droplet will read, checked as data."""

from __future__ import annotations

import base64
import gzip
import json
import random
import secrets as pysecrets
import shlex
import string
import subprocess
from dataclasses import replace

import pytest
import yaml

from builder.userdata import (
    DEPLOY_JSON,
    SECRETS_ENV,
    USER_DATA_LIMIT,
    UserDataTooLarge,
    render_user_data,
    secrets_env,
)
from firstboot.config import REDACTED, Deploy, DnsSpec, OdooSpec, ReservedIpSpec, Secrets, SpacesSpec
from firstboot.contract.envfile import parse_env


def make_secrets() -> Secrets:
    # Generated at runtime; the awkward characters prove quoting, not luck, keeps the document intact.
    tricky = "q'\"#: {x} $HOME `id` \\ " + pysecrets.token_urlsafe(12)
    return Secrets.from_env({
        "DB_PASSWORD": tricky,
        "ADMIN_PASSWD": pysecrets.token_urlsafe(18),
        "DIGITALOCEAN_TOKEN": "dop_v1_" + pysecrets.token_hex(32),
        "SPACES_KEY": pysecrets.token_hex(10),
        "SPACES_SECRET": pysecrets.token_urlsafe(30),
        "REGISTRY_TOKEN": "ghp_" + pysecrets.token_hex(18),
    })


def full_deploy() -> Deploy:
    return Deploy(
        dns=DnsSpec(domain="example.com", record="erp"),
        reserved_ip=ReservedIpSpec(mode="address", address="203.0.113.10"),
        spaces=SpacesSpec(region="fra1", bucket="odoo-proofs"),
        odoo=OdooSpec(tag="18.0-20250101", prior_tag="18.0-20241201", modules=("base", "web", "sale")),
    )


def files_of(text: str) -> dict[str, dict]:
    doc = yaml.safe_load(text)
    return {f["path"]: f for f in doc["write_files"]}


def content_of(entry: dict) -> str:
    if entry.get("encoding") == "gz+b64":
        return gzip.decompress(base64.b64decode(entry["content"])).decode()
    assert "encoding" not in entry
    return entry["content"]


def env_of(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        (token,) = shlex.split(line)
        key, _, value = token.partition("=")
        out[key] = value
    return out


def test_is_cloud_config_yaml_with_both_files_root_0600():
    text = render_user_data(full_deploy(), make_secrets())
    assert text.splitlines()[0] == "#cloud-config"
    files = files_of(text)
    assert set(files) == {DEPLOY_JSON, SECRETS_ENV}
    for entry in files.values():
        assert entry["permissions"] == "0600"  # a string: cloud-init rejects an int here
        assert entry["owner"] == "root:root"


def test_deploy_json_round_trips_to_the_same_deploy():
    deploy = full_deploy()
    text = render_user_data(deploy, make_secrets())
    data = json.loads(content_of(files_of(text)[DEPLOY_JSON]))
    assert Deploy.from_dict(data) == deploy


def test_secrets_env_holds_every_secret_exactly():
    sec = make_secrets()
    text = render_user_data(full_deploy(), sec)
    assert env_of(content_of(files_of(text)[SECRETS_ENV])) == sec.to_env()
    # deploy.json never carries a secret.
    deploy_text = content_of(files_of(text)[DEPLOY_JSON])
    for value in sec.values():
        assert value not in deploy_text


def test_redacted_rendering_has_no_secret_value():
    sec = make_secrets()
    text = render_user_data(full_deploy(), sec.redacted())
    for value in sec.values():
        assert value not in text
    env = env_of(content_of(files_of(text)[SECRETS_ENV]))
    assert env and set(env.values()) == {REDACTED}
    assert set(env) == set(sec.to_env())


def test_starts_the_firstboot_unit_without_blocking_cloud_final():
    doc = yaml.safe_load(render_user_data(Deploy(), make_secrets()))
    assert ["systemctl", "start", "--no-block", "odoo-droplet-firstboot.service"] in doc["runcmd"]


def test_a_newline_in_a_secret_is_refused():
    with pytest.raises(ValueError, match="DB_PASSWORD"):
        render_user_data(Deploy(), Secrets.from_env({"DB_PASSWORD": "a\nb", "ADMIN_PASSWD": "x" * 16}))


def test_small_settings_are_not_compressed():
    text = render_user_data(full_deploy(), make_secrets())
    assert all("encoding" not in f for f in files_of(text).values())


def test_huge_settings_are_compressed_under_the_limit_and_decompress_identical():
    modules = tuple(f"custom_module_{i:05d}" for i in range(4000))
    deploy = replace(full_deploy(), odoo=replace(full_deploy().odoo, modules=modules))
    sec = make_secrets()
    # The test means something only if the plain document would not fit.
    assert len(json.dumps(deploy.to_dict(), indent=2)) > USER_DATA_LIMIT
    text = render_user_data(deploy, sec)
    assert len(text.encode()) <= USER_DATA_LIMIT
    files = files_of(text)
    assert files[DEPLOY_JSON]["encoding"] == "gz+b64"
    assert Deploy.from_dict(json.loads(content_of(files[DEPLOY_JSON]))) == deploy
    assert env_of(content_of(files[SECRETS_ENV])) == sec.to_env()
    # Same input, same bytes (gzip without a timestamp): previews diff cleanly.
    assert render_user_data(deploy, sec) == text


def test_absurdly_huge_settings_are_refused_with_size_and_limit():
    rng = random.Random(5)
    modules = tuple("m_" + "".join(rng.choices(string.ascii_lowercase, k=14)) for _ in range(20000))
    deploy = replace(Deploy(), odoo=replace(Deploy().odoo, modules=modules))
    with pytest.raises(UserDataTooLarge) as err:
        render_user_data(deploy, make_secrets())
    message = str(err.value)
    assert str(err.value.size) in message and "65536" in message
    assert err.value.size > USER_DATA_LIMIT
    assert "64 KiB" in message


TRICKY = [
    "plain",
    "with space",
    "it's",
    "semi;colon#hash",
    'dq"inside',
    "$HOME `id` \\n",
    "it's $HOME",
    "x'y\"z",
    "ünï",
]


def test_secrets_env_reads_back_in_bash_exactly(tmp_path):
    # Generated passwords may hold any printable character; a shell sourcing the file gets each exactly.
    env_file = tmp_path / "secrets.env"
    for value in TRICKY:
        env_file.write_text(secrets_env(Secrets.from_env({"DB_PASSWORD": value, "ADMIN_PASSWD": "a" * 16})))
        out = subprocess.run(
            ["bash", "-c", 'set -a; . "$1"; printf %s "$DB_PASSWORD"', "_", str(env_file)],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout
        assert out == value
        assert env_of(env_file.read_text())["DB_PASSWORD"] == value


def test_secrets_env_matches_the_agents_reader():
    # The agent reads secrets.env with the contract's one env-file reader (firstboot/contract/envfile.py),
    # which understands shell quoting: every value reads back exactly, including those that hold both a
    # single quote and a shell-special character (which a plain strip-one-pair-of-quotes reader could not).
    hard = [v for v in TRICKY if "'" in v and any(c in v for c in '"\\$`!')]
    assert len(TRICKY) - len(hard) >= 6 and hard
    for value in TRICKY:
        text = secrets_env(Secrets.from_env({"DB_PASSWORD": value, "ADMIN_PASSWD": "a" * 16}))
        assert parse_env(text)["DB_PASSWORD"] == value
