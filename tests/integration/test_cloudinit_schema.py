"""cloud-init's own schema check (`cloud-init schema --config-file`) on the rendered user-data.

The same cloud-init (Debian 12's 22.4) runs on the droplet; what it rejects here it would skip there.
"""

from __future__ import annotations

import itertools
import secrets as pysecrets
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from builder.userdata import USER_DATA_LIMIT, render_user_data
from firstboot.config import (
    Deploy,
    DnsSpec,
    DropletSpec,
    EdgeSpec,
    OdooSpec,
    PostgresSpec,
    RedisSpec,
    ReservedIpSpec,
    Secrets,
    SpacesSpec,
)

pytestmark = pytest.mark.integration

SIZES = ("s-1vcpu-2gb", "s-2vcpu-4gb", "s-4vcpu-8gb", "s-8vcpu-16gb")


def matrix_deploy(size: str, redis: bool, managed: bool, domain: bool, reserved_ip: bool, spaces: bool) -> Deploy:
    """One point of the settings matrix (shared with the Packer validation test)."""
    return Deploy(
        project="odoo",
        droplet=DropletSpec(region="fra1", size=size, tags=("odoo", "prod")),
        reserved_ip=ReservedIpSpec(mode="address", address="203.0.113.10") if reserved_ip else ReservedIpSpec(),
        dns=DnsSpec(domain="example.com", record="erp") if domain else None,
        odoo=OdooSpec(
            image="acme/odoo",
            tag="18.0-20250101",
            prior_tag="18.0-20241201",
            modules=("base", "web", "sale_management", "account"),
        ),
        postgres=(
            PostgresSpec(
                mode="managed", host="db-postgresql-fra1-1.b.db.ondigitalocean.com", port=25060, sslmode="require"
            )
            if managed
            else PostgresSpec()
        ),
        redis=RedisSpec(enabled=redis),
        edge=(EdgeSpec(domain="erp.example.com", tls="letsencrypt", email="ops@example.com") if domain else EdgeSpec()),
        spaces=SpacesSpec(region="fra1", bucket="odoo-proofs") if spaces else None,
    )


def _size_for(i: int) -> str:
    # Mixes all bits of the case number, so each size meets both values of every switch (asserted below).
    return SIZES[(i ^ (i >> 2) ^ (i >> 4)) % len(SIZES)]


SWITCHES = ("redis", "managed", "domain", "rip", "spaces")
# Every combination of the five switches, each on one of the four sizes: 32 cases rather than 128.
CASES = [(_size_for(i), *flags) for i, flags in enumerate(itertools.product((True, False), repeat=5))]
MATRIX = [
    pytest.param(*case, id="-".join([case[0], *(f"{n}={int(v)}" for n, v in zip(SWITCHES, case[1:], strict=True))]))
    for case in CASES
]


def make_secrets() -> Secrets:
    return Secrets(
        db_password=pysecrets.token_urlsafe(18) + "'\"#:",
        admin_passwd=pysecrets.token_urlsafe(18),
        do_token="dop_v1_" + pysecrets.token_hex(32),
        spaces_key=pysecrets.token_hex(10),
        spaces_secret=pysecrets.token_urlsafe(30),
    )


def schema_check(text: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "user-data.yaml"
    path.write_text(text)
    return subprocess.run(
        ["cloud-init", "schema", "--config-file", str(path)], capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize(("size", "redis", "managed", "domain", "reserved_ip", "spaces"), MATRIX)
def test_rendered_user_data_passes_cloud_init_schema(size, redis, managed, domain, reserved_ip, spaces, tmp_path):
    deploy = matrix_deploy(size, redis, managed, domain, reserved_ip, spaces)
    for sec in (make_secrets(), make_secrets().redacted()):
        result = schema_check(render_user_data(deploy, sec), tmp_path)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "Valid cloud-config" in result.stdout


def test_the_matrix_covers_every_size_with_every_switch_both_ways():
    for size in SIZES:
        rows = [case[1:] for case in CASES if case[0] == size]
        assert all({row[k] for row in rows} == {True, False} for k in range(len(SWITCHES))), size


def test_compressed_user_data_passes_cloud_init_schema(tmp_path):
    base = matrix_deploy("s-2vcpu-4gb", True, False, True, True, True)
    deploy = replace(base, odoo=replace(base.odoo, modules=tuple(f"custom_module_{i:05d}" for i in range(4000))))
    text = render_user_data(deploy, make_secrets())
    assert "encoding: gz+b64" in text and len(text.encode()) <= USER_DATA_LIMIT
    result = schema_check(text, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("breakage", "expected"),
    [
        # YAML reads an unquoted 0600 as the integer 384: cloud-init's schema wants a string.
        (lambda t: t.replace("permissions: '0600'", "permissions: 0600"), "permissions"),
        # Without the header cloud-init does not treat the data as cloud-config at all.
        (lambda t: t.replace("#cloud-config\n", "", 1), "cloud-config"),
        (
            lambda t: t.replace("- path: /etc/odoo-droplet/deploy.json", "- where: /etc/odoo-droplet/deploy.json"),
            "path",
        ),
    ],
    ids=["int-permissions", "no-header", "no-path"],
)
def test_the_check_rejects_a_broken_user_data(breakage, expected, tmp_path):
    good = render_user_data(matrix_deploy("s-2vcpu-4gb", True, False, True, True, True), make_secrets())
    broken = breakage(good)
    assert broken != good
    result = schema_check(broken, tmp_path)
    assert result.returncode != 0
    assert expected in result.stdout + result.stderr
