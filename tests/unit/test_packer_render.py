"""The Packer template and its files, rendered per Packer version, checked as data (no Packer run).

`packer validate` on the real 1.6.6 is in tests/integration/test_packer_validate.py; the 1.7+ rendering
cannot be validated here (no plugin download), so it is parsed with python-hcl2 and checked structurally.
"""

from __future__ import annotations

import json
import secrets as pysecrets
import stat
import sys
import textwrap
from dataclasses import replace
from pathlib import Path

import hcl2
import pytest

from builder.packer import (
    PLUGIN_SOURCE,
    SCRIPTS,
    TEMPLATE_NAME,
    PackerResult,
    app_images,
    bake,
    build_command,
    console_deploy,
    detect_packer_version,
    failure_summary,
    hcl_string,
    parse_machine_line,
    parse_packer_version,
    render_packer,
    run_packer,
    service_images,
    snapshot_id_from_artifact,
    write_packer_dir,
)
from firstboot.config import (
    Deploy,
    DnsSpec,
    DropletSpec,
    EdgeSpec,
    OdooSpec,
    PostgresSpec,
    RedisSpec,
    RegistrySpec,
    ReservedIpSpec,
    SpacesSpec,
)

OLD, NEW = (1, 6, 6), (1, 11, 2)
PLUGIN_ONLY = ("required_plugins", "droplet_agent", "snapshot_tags")


def deploy() -> Deploy:
    return Deploy(
        project="acme",
        droplet=DropletSpec(region="fra1", size="s-4vcpu-8gb", tags=("acme", "prod")),
        reserved_ip=ReservedIpSpec(mode="address", address="203.0.113.10"),
        dns=DnsSpec(domain="example.com", record="erp"),
        odoo=OdooSpec(image="acme/odoo", tag="18.0-20250101", prior_tag="18.0-20241201"),
        postgres=PostgresSpec(mode="managed", host="db.example.com", port=25060, sslmode="require"),
        edge=EdgeSpec(domain="erp.example.com", tls="letsencrypt", email="ops@example.com"),
        spaces=SpacesSpec(region="fra1", bucket="acme-proofs"),
        registry=RegistrySpec(host="ghcr.io", username="acme-bot", token_env="GHCR_TOKEN"),
        deploy_id="deploy-20250101-120000",
    )


def unquote(value: str) -> str:
    # python-hcl2 keeps string literals quoted and expressions as ${...}.
    return value[1:-1] if value.startswith('"') and value.endswith('"') else value


def parsed(version, **kw) -> dict:
    files = render_packer(deploy(), version, "acme-1.0.0-abc", api_url=kw.get("api_url"))
    return hcl2.loads(files[TEMPLATE_NAME])


def source_block(doc: dict) -> dict:
    (src,) = doc["source"]
    return src['"digitalocean"']['"odoo"']


def variables(doc: dict) -> dict[str, dict]:
    return {unquote(k): v for block in doc["variable"] for k, v in block.items()}


# ---------------------------------------------------------------- version


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Packer v1.6.6\n", (1, 6, 6)),
        ("Packer v1.11.2\n\nYour version of Packer is out of date! The latest version\nis 1.12.0.\n", (1, 11, 2)),
        ("1.9.4\n", (1, 9, 4)),
    ],
)
def test_packer_version_is_read_from_its_output(text, expected):
    assert parse_packer_version(text) == expected


def test_an_unreadable_version_is_an_error():
    with pytest.raises(ValueError, match="Packer version"):
        parse_packer_version("command not found")


def test_a_missing_packer_binary_is_an_oserror():
    with pytest.raises(OSError):
        detect_packer_version("/nonexistent/packer")


# ---------------------------------------------------------------- version-aware template


def test_packer_1_6_6_gets_none_of_the_options_it_rejects():
    text = render_packer(deploy(), OLD, "acme-1.0.0-abc", api_url=None)[TEMPLATE_NAME]
    for word in PLUGIN_ONLY:
        assert word not in text
    doc = hcl2.loads(text)
    assert "packer" not in doc
    assert not set(PLUGIN_ONLY) & set(source_block(doc))


@pytest.mark.parametrize("version", [(1, 7, 0), NEW])
def test_packer_1_7_and_later_get_required_plugins_droplet_agent_and_snapshot_tags(version):
    doc = parsed(version)
    (packer_block,) = doc["packer"]
    (plugins,) = packer_block["required_plugins"]
    assert unquote(plugins["digitalocean"]["source"]) == PLUGIN_SOURCE
    assert unquote(plugins["digitalocean"]["version"]) == ">= 1.0.4"
    src = source_block(doc)
    assert src["droplet_agent"] is False
    assert [unquote(t) for t in src["snapshot_tags"]] == ["odoo-droplet-snapshot", "acme-snapshot"]


@pytest.mark.parametrize("version", [OLD, NEW])
def test_the_template_is_well_formed_hcl(version):
    text = render_packer(deploy(), version, "acme-1.0.0-abc", api_url=None)[TEMPLATE_NAME]
    code = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    assert code.count("{") == code.count("}") and code.count("[") == code.count("]")
    doc = hcl2.loads(text)  # raises on any syntax error
    assert set(doc) >= {"variable", "source", "build"}
    # The packer block (1.7+) is top level, before the source it governs.
    assert ("packer" in doc) == (version >= (1, 7, 0))
    if version >= (1, 7, 0):
        assert text.index("\npacker {") < text.index('source "digitalocean"')


@pytest.mark.parametrize("version", [OLD, NEW])
def test_source_takes_the_settings(version):
    src = source_block(parsed(version))
    assert unquote(src["image"]) == "debian-12-x64"
    assert unquote(src["region"]) == "fra1"
    assert unquote(src["size"]) == "s-4vcpu-8gb"
    assert unquote(src["ssh_username"]) == "root"
    assert unquote(src["snapshot_name"]) == "acme-1.0.0-abc"
    assert [unquote(r) for r in src["snapshot_regions"]] == ["fra1"]
    # The build droplet never carries the deploy's tags (status/destroy list droplets by those).
    tags = [unquote(t) for t in src["tags"]]
    assert "acme" not in tags and "prod" not in tags and "odoo-droplet-build" in tags


@pytest.mark.parametrize("version", [OLD, NEW])
def test_tokens_come_from_the_environment_as_sensitive_variables(version):
    doc = parsed(version)
    src = source_block(doc)
    assert src["api_token"] == "${var.do_token}"
    var = variables(doc)
    assert var["do_token"]["default"] == '${env("DIGITALOCEAN_TOKEN")}'
    assert var["do_token"]["sensitive"] is True
    # The registry token's variable name comes from the settings (registry.token_env).
    assert var["registry_token"]["default"] == '${env("GHCR_TOKEN")}'
    assert var["registry_token"]["sensitive"] is True


def test_api_url_only_when_given():
    assert "api_url" not in source_block(parsed(OLD))
    src = source_block(parsed(OLD, api_url="https://10.213.0.1:8443/"))
    assert unquote(src["api_url"]) == "https://10.213.0.1:8443"


def test_no_secret_value_in_any_rendered_file(monkeypatch):
    values = {
        "DIGITALOCEAN_TOKEN": "dop_v1_" + pysecrets.token_hex(32),
        "GHCR_TOKEN": "ghp_" + pysecrets.token_hex(18),
        "REGISTRY_TOKEN": "ghp_" + pysecrets.token_hex(18),
        "DB_PASSWORD": pysecrets.token_urlsafe(18),
        "ADMIN_PASSWD": pysecrets.token_urlsafe(18),
        "SPACES_SECRET": pysecrets.token_urlsafe(30),
    }
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    for version in (OLD, NEW):
        files = render_packer(deploy(), version, "acme-1.0.0-abc", api_url="https://10.213.0.1:8443")
        for path, content in files.items():
            for value in values.values():
                assert value not in content, path


# ---------------------------------------------------------------- what gets baked


def test_every_provisioning_script_is_rendered_and_strict():
    files = render_packer(deploy(), OLD, "acme-1.0.0-abc", api_url=None)
    names = sorted(p.name for p in SCRIPTS.glob("*.sh"))
    assert names and sorted(k.removeprefix("scripts/") for k in files if k.startswith("scripts/")) == names
    template = files[TEMPLATE_NAME]
    for name in names:
        body = files[f"scripts/{name}"]
        assert body.startswith("#!/usr/bin/env bash\n")
        assert "\nset -euo pipefail\n" in body
        assert f"${{path.root}}/scripts/{name}" in template  # every script is run


def test_console_deploy_json_has_no_secret_no_cutover_and_the_same_odoo():
    files = render_packer(deploy(), OLD, "acme-1.0.0-abc", api_url=None)
    baked = Deploy.from_dict(json.loads(files["files/deploy.json"]))
    assert baked == console_deploy(deploy())
    assert baked.reserved_ip.mode == "none" and baked.dns is None and baked.spaces is None
    assert baked.edge.tls == "self-signed" and baked.edge.domain is None
    assert baked.postgres.mode == "selfhost" and baked.deploy_id is None
    assert baked.odoo == deploy().odoo and baked.registry == deploy().registry


def test_baked_images_are_the_tag_the_prior_tag_and_the_services():
    files = render_packer(deploy(), OLD, "acme-1.0.0-abc", api_url=None)
    info = json.loads(files["files/baked.json"])
    assert info["tag"] == "18.0-20250101" and info["prior_tag"] == "18.0-20241201"
    assert info["images"] == [
        "ghcr.io/acme/odoo:18.0-20250101",
        "ghcr.io/acme/odoo:18.0-20241201",
        "postgres:16",  # no redis: off by default (Odoo 18 Community does not use it)
    ]
    template = files[TEMPLATE_NAME]
    assert '"ODL_APP_IMAGES=ghcr.io/acme/odoo:18.0-20250101 ghcr.io/acme/odoo:18.0-20241201"' in template
    assert '"ODL_SERVICE_IMAGES=postgres:16"' in template
    assert '"ODL_REGISTRY_USER=acme-bot"' in template


def test_images_without_prior_tag_or_redis():
    d = replace(deploy(), odoo=replace(deploy().odoo, prior_tag=None), redis=RedisSpec(enabled=False))
    assert app_images(d) == ["ghcr.io/acme/odoo:18.0-20250101"]
    assert service_images(d) == ["postgres:16"]


def test_hcl_strings_cannot_interpolate_or_break_out():
    assert hcl_string('a"b\\c') == '"a\\"b\\\\c"'
    assert hcl_string('${env("X")} %{if}') == '"$${env(\\"X\\")} %%{if}"'
    assert hcl_string("a\nb") == '"a\\nb"'


def test_written_scripts_are_executable(tmp_path):
    write_packer_dir(render_packer(deploy(), OLD, "n", api_url=None), tmp_path)
    for script in (tmp_path / "scripts").glob("*.sh"):
        assert script.stat().st_mode & stat.S_IXUSR
    assert (tmp_path / TEMPLATE_NAME).is_file()


# ---------------------------------------------------------------- running Packer (adapter)


def test_build_command_inits_plugins_only_on_new_packer():
    assert build_command(Path("d"), OLD) == [["packer", "build", "-machine-readable", "-color=false", "d"]]
    cmds = build_command(Path("d"), NEW, variables={"firstboot_dir": "/x"})
    assert cmds[0] == ["packer", "init", "d"]
    assert cmds[1][-3:] == ["-var", "firstboot_dir=/x", "d"]


def test_machine_readable_lines_and_artifact_ids():
    msg = parse_machine_line("1700000000,digitalocean.odoo,artifact,0,id,fra1:123456\n")
    assert msg and msg.type == "artifact" and msg.data == ("0", "id", "fra1:123456")
    ui = parse_machine_line("1700000000,,ui,say,==> a%!(PACKER_COMMA) b\\nc")
    assert ui and ui.data == ("say", "==> a, b\nc")
    assert parse_machine_line("plain text") is None
    assert snapshot_id_from_artifact("fra1:123456") == 123456
    assert snapshot_id_from_artifact("nyc3,fra1:42") == 42


FAKE_PACKER = textwrap.dedent("""\
    #!{python}
    # Stand-in for `packer build -machine-readable`: replays the real output format (timestamp,
    # target, type, data...) so the adapter's streaming, redaction and exit handling can be tested
    # without a cloud. The real build runs in the e2e tests against the local cloud.
    import sys, time
    args = sys.argv[1:]
    if args[0] == "version":
        print("Packer v{version}")
        sys.exit(0)
    if args[0] == "init":
        print("Installed plugin github.com/digitalocean/digitalocean v1.4.0", flush=True)
        sys.exit(0)
    secret = "{secret}"
    print("1700000000,,ui,say,==> digitalocean.odoo: Creating droplet...", flush=True)
    print("1700000001,,ui,message,    digitalocean.odoo: token " + secret, flush=True)
    if "{fail}" == "yes":
        print("1700000002,,ui,error,Build 'digitalocean.odoo' errored: boom%!(PACKER_COMMA) really", flush=True)
        sys.exit(1)
    print("1700000003,digitalocean.odoo,artifact,0,id,fra1:987654", flush=True)
    print("1700000004,,ui,say,Build 'digitalocean.odoo' finished.", flush=True)
""")


@pytest.mark.parametrize("fail", [False, True])
def test_run_packer_streams_redacted_lines_and_reports_the_snapshot(tmp_path, fail):
    secret = pysecrets.token_hex(16)
    fake = tmp_path / "packer"
    fake.write_text(
        FAKE_PACKER.format(python=sys.executable, secret=secret, fail="yes" if fail else "no", version="1.11.2")
    )
    fake.chmod(0o755)
    lines: list[str] = []
    result = run_packer(
        tmp_path,
        NEW,
        env={},
        on_line=lines.append,
        binary=str(fake),
        redact=lambda s: s.replace(secret, "<redacted>"),
        timeout_seconds=60,
    )
    assert lines[0].startswith("Installed plugin")  # `packer init` ran first on 1.7+
    assert "==> digitalocean.odoo: Creating droplet..." in lines
    assert all(secret not in line for line in lines) and any("<redacted>" in line for line in lines)
    if fail:
        assert result.returncode == 1 and result.snapshot_id is None
        assert result.errors == ("Build 'digitalocean.odoo' errored: boom, really",)
    else:
        assert result.returncode == 0 and result.snapshot_id == 987654 and result.artifact_id == "fra1:987654"


def test_bake_renders_for_the_installed_packer_then_builds(tmp_path):
    fake = tmp_path / "bin" / "packer"
    fake.parent.mkdir()
    fake.write_text(FAKE_PACKER.format(python=sys.executable, secret="s3cr3t", fail="no", version="1.6.6"))
    fake.chmod(0o755)
    lines: list[str] = []
    workdir = tmp_path / "packer"
    result = bake(deploy(), "acme-1.0.0-abc", workdir, env={}, on_line=lines.append, binary=str(fake))
    assert result.snapshot_id == 987654
    text = (workdir / TEMPLATE_NAME).read_text()
    assert "Packer 1.6.6" in text and "required_plugins" not in text  # rendered for what is installed
    assert not any(line.startswith("Installed plugin") for line in lines)  # no `packer init` on 1.6.6


# What Packer 1.6.6 reported for a build whose Odoo tag the registry lacked (local cloud, trimmed): every
# remote stderr line comes as an error, the cause is the last one before Packer's verdict.
FAILED_PULL = (
    "==> digitalocean.odoo: debconf: delaying package configuration, since apt-utils is not installed",
    "==> digitalocean.odoo: Created symlink /etc/systemd/system/cloud-init.target.wants/x.service → /x.service.",
    "==> digitalocean.odoo: Error response from daemon: manifest for 10.213.0.1:5000/odoo:18.0-typo not found: "
    "manifest unknown: manifest unknown",
    "Build 'digitalocean.odoo' errored after 39 seconds 170 milliseconds: Script exited with non-zero exit "
    "status: 1.Allowed exit codes are: [0]",
    "\n==> Some builds didn't complete successfully and had errors:",
    "--> digitalocean.odoo: Script exited with non-zero exit status: 1.Allowed exit codes are: [0]",
)


def test_failure_summary_names_the_step_and_the_cause_not_the_noise():
    why = failure_summary(PackerResult(1, None, None, FAILED_PULL, "/w/packer/scripts/40-images.sh"))
    assert why == ("40-images.sh failed: Error response from daemon: manifest for 10.213.0.1:5000/odoo:18.0-typo "
                   "not found: manifest unknown: manifest unknown (Script exited with non-zero exit status: 1)")
    assert "debconf" not in why


def test_failure_summary_before_any_step_and_with_nothing_said():
    early = ("Build 'digitalocean.odoo' errored after 1 second: Error creating temporary SSH key: 401 Unable "
             "to authenticate you",)
    assert failure_summary(PackerResult(1, None, None, early)) == (
        "the build failed (Error creating temporary SSH key: 401 Unable to authenticate you)")
    assert failure_summary(PackerResult(137, None, None, ())) == "the build failed (packer exited 137)"


def test_run_packer_remembers_the_last_provisioning_step(tmp_path):
    fake = tmp_path / "packer"
    fake.write_text(textwrap.dedent(f"""\
        #!{sys.executable}
        import sys
        print("1700000000,,ui,say,==> digitalocean.odoo: Provisioning with shell script: /p/scripts/10-base.sh")
        print("1700000001,,ui,say,==> digitalocean.odoo: Provisioning with shell script: /p/scripts/40-images.sh")
        print("1700000002,,ui,error,==> digitalocean.odoo: pull failed")
        print("1700000003,,ui,error,Build 'digitalocean.odoo' errored after 2 seconds: Script exited 1")
        sys.exit(1)
    """))
    fake.chmod(0o755)
    result = run_packer(tmp_path, (1, 6, 6), env={}, on_line=lambda _: None, binary=str(fake), timeout_seconds=60)
    assert result.step == "/p/scripts/40-images.sh"
    assert failure_summary(result) == "40-images.sh failed: pull failed (Script exited 1)"
