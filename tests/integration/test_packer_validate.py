"""The rendered Packer directory, checked by the installed Packer (`packer validate`: syntax, the
digitalocean builder's option names and types, that every uploaded file and script exists), and the
provisioning scripts by shellcheck. Debian's Packer is 1.6.6, the one `scripts/bootstrap.sh` installs.
"""

from __future__ import annotations

import os
import secrets as pysecrets
import subprocess
from pathlib import Path

import pytest

from builder.packer import (
    SCRIPTS,
    TEMPLATE_NAME,
    detect_packer_version,
    render_packer,
    write_packer_dir,
)
from tests.integration.test_cloudinit_schema import MATRIX, matrix_deploy

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def packer_version() -> tuple[int, int, int]:
    return detect_packer_version()


def validate(directory: Path, token: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DIGITALOCEAN_TOKEN", "REGISTRY_TOKEN")}
    env["CHECKPOINT_DISABLE"] = "1"
    if token is not None:
        env["DIGITALOCEAN_TOKEN"] = token
    return subprocess.run(
        ["packer", "validate", str(directory)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=directory.parent,
    )


def render_to(directory: Path, deploy, version, api_url: str | None) -> Path:
    write_packer_dir(render_packer(deploy, version, f"{deploy.project}-1.0.0-0123456789ab", api_url=api_url), directory)
    return directory


def test_the_installed_packer_is_debians_1_6_6(packer_version):
    # The version-aware rendering is proven against this one; a newer Packer would need `packer init`
    # (a plugin download these machines cannot make) before validate.
    out = subprocess.run(
        ["packer", "version"], capture_output=True, text=True, timeout=60, env={**os.environ, "CHECKPOINT_DISABLE": "1"}
    ).stdout
    assert packer_version == (1, 6, 6), out


@pytest.mark.parametrize(("size", "redis", "managed", "domain", "reserved_ip", "spaces"), MATRIX)
def test_packer_validate_accepts_the_rendered_template(
    size, redis, managed, domain, reserved_ip, spaces, packer_version, tmp_path
):
    deploy = matrix_deploy(size, redis, managed, domain, reserved_ip, spaces)
    # The local cloud's API (api_url) on half the cases, DigitalOcean's default on the others.
    api_url = "https://10.213.0.1:8443" if spaces else None
    directory = render_to(tmp_path / "packer", deploy, packer_version, api_url)
    result = validate(directory, token="dop_v1_" + pysecrets.token_hex(32))
    assert result.returncode == 0, result.stdout + result.stderr


def test_without_a_token_in_the_environment_validate_fails(packer_version, tmp_path):
    # Proves the token reaches Packer from the environment and nowhere else.
    directory = render_to(
        tmp_path / "packer", matrix_deploy("s-2vcpu-4gb", True, False, True, True, True), packer_version, None
    )
    result = validate(directory, token=None)
    assert result.returncode != 0
    assert "api_token" in result.stdout + result.stderr


def test_packer_1_6_6_rejects_the_1_7_rendering(packer_version, tmp_path):
    # Why the rendering is version-aware: the plugin-era template does not pass on Debian's Packer.
    directory = render_to(
        tmp_path / "packer", matrix_deploy("s-2vcpu-4gb", True, False, True, True, True), (1, 11, 2), None
    )
    result = validate(directory, token="dummy-" + pysecrets.token_hex(8))
    assert result.returncode != 0
    assert "required_plugins" in result.stdout + result.stderr


def test_validate_catches_a_missing_provisioning_file(packer_version, tmp_path):
    directory = render_to(
        tmp_path / "packer", matrix_deploy("s-2vcpu-4gb", True, False, False, False, False), packer_version, None
    )
    (directory / "scripts" / "40-images.sh").unlink()
    result = validate(directory, token="dummy-" + pysecrets.token_hex(8))
    assert result.returncode != 0
    assert "40-images.sh" in result.stdout + result.stderr


def test_validate_catches_an_option_the_builder_does_not_know(packer_version, tmp_path):
    directory = render_to(
        tmp_path / "packer", matrix_deploy("s-2vcpu-4gb", True, False, False, False, False), packer_version, None
    )
    template = directory / TEMPLATE_NAME
    template.write_text(template.read_text().replace("  ssh_username ", "  ssh_user_name "))
    result = validate(directory, token="dummy-" + pysecrets.token_hex(8))
    assert result.returncode != 0
    assert "ssh_user_name" in result.stdout + result.stderr


def test_provisioning_scripts_pass_shellcheck():
    scripts = sorted(str(p) for p in SCRIPTS.glob("*.sh"))
    assert scripts
    result = subprocess.run(["shellcheck", "--severity=style", *scripts], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_provisioning_scripts_parse_with_bash():
    for script in sorted(SCRIPTS.glob("*.sh")):
        result = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True, timeout=30)
        assert result.returncode == 0, f"{script.name}: {result.stderr}"
