"""Secrets out of reach and a hardened droplet (issue 9, Build 4, 5, 7), as far as rendering and the image
scripts can show it without Docker: Redis off by default and password-protected when on, Odoo's PostgreSQL
role made by an init script that is not a superuser and keeps the password off every command line, the
droplet's own token, the metadata rules the agent checks, the firewall's before.rules block and sshd's
drop-in. What only a running droplet shows is in tests/e2e/test_hardening.py."""

from __future__ import annotations

import dataclasses
import os
import re
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from builder.cli import main
from builder.secrets_env import secret_warnings
from builder.settings import load_settings, to_deploy
from builder.userdata import render_user_data
from firstboot.config import Deploy, PostgresSpec, RedisSpec, Secrets
from firstboot.gates import CommandResult
from firstboot.records import SecurityRecord
from firstboot.render import compose as C
from firstboot.security import block_metadata
from firstboot.stack import all_services, data_images

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
SCRIPTS = REPO / "builder" / "assets" / "images" / "scripts"
SECRETS = Secrets(db_password="db-pass'with\"quotes$HOME`x`", admin_passwd="admin-secret-value-0002",
                  do_token="operator-token-value-0003", droplet_token="droplet-token-value-0007")


def _redis(on: bool) -> Deploy:
    return Deploy(redis=RedisSpec(enabled=on))


# ---------------------------------------------------------------- Redis


@pytest.mark.parametrize("example", ["deploy.yaml", "deploy.digitalocean.yaml"])
def test_redis_is_off_by_default_and_absent_from_the_stack(example):
    assert Deploy().redis.enabled is False
    deploy = to_deploy(load_settings(EXAMPLES / example), {})
    assert deploy.redis.enabled is False
    spec = C.compose_spec(deploy, "r/odoo:18.0")
    assert set(spec["services"]) == {"odoo", "db"} and "redis-data" not in spec["volumes"]
    assert "redis_password" not in spec.get("secrets", {})
    assert "redis" not in spec["services"]["odoo"].get("depends_on", {})
    # The agent's lists (container_up gate, start-data, pre-pulled images) follow the same setting.
    assert all_services(deploy) == ("odoo", "db") and data_images(deploy) == ("postgres:16",)
    # And the examples say why (Odoo 18 Community has no Redis code).
    assert "Odoo 18 Community does not use Redis" in (EXAMPLES / example).read_text()


def test_redis_when_enabled_requires_a_password_kept_off_every_command_line():
    spec = C.compose_spec(_redis(True), "r/odoo:18.0")
    redis = spec["services"]["redis"]
    assert redis["networks"] == ["backend"] and spec["networks"]["backend"] == {"internal": True}
    assert "ports" not in redis and "environment" not in redis and "env_file" not in redis
    assert redis["secrets"] == ["redis_password"]
    assert spec["secrets"]["redis_password"] == {"file": "./redis_password"}
    # The command holds no value, only where to read it; the configuration goes to redis-server's stdin.
    command = " ".join(redis["command"])
    assert "requirepass" in command and "/run/secrets/redis_password" in command
    assert "exec docker-entrypoint.sh redis-server - <<EOF" in command
    health = " ".join(redis["healthcheck"]["test"])
    assert "REDISCLI_AUTH=" in health and " -a " not in health and "--pass" not in health
    assert spec["services"]["odoo"]["depends_on"]["redis"] == {"condition": "service_healthy"}


def test_the_redis_configuration_on_stdin_sets_the_password_and_protected_mode(tmp_path):
    """The container's shell command itself, run here with the secret file and redis-server replaced:
    what redis-server would read on stdin."""
    password = "s3cret-redis-pass-0008"
    secret = tmp_path / "redis_password"
    secret.write_text(password)
    script = C.REDIS_COMMAND.replace("/run/secrets/redis_password", str(secret))
    script = script.replace("exec docker-entrypoint.sh redis-server -", "exec cat")
    out = subprocess.run(["sh", "-c", script], capture_output=True, text=True, timeout=10, check=True).stdout
    assert out.splitlines() == [f'requirepass "{password}"', "protected-mode yes"]
    assert password not in C.REDIS_COMMAND and password not in " ".join(C.redis_ping_command())


# ---------------------------------------------------------------- PostgreSQL: Odoo's role is not a superuser


def test_the_db_container_superuser_is_postgres_and_odoo_connects_as_its_own_role():
    deploy = Deploy()
    env = dict(line.split("=", 1) for line in C.render_compose_env(deploy, SECRETS).splitlines()
               if not line.startswith("#"))
    assert env["POSTGRES_USER"] == "postgres" and env["USER"] == deploy.postgres.user == "odoo"
    db = C.compose_spec(deploy, "r/odoo:18.0")["services"]["db"]
    assert "./initdb/10-odoo-role.sh:/docker-entrypoint-initdb.d/10-odoo-role.sh:ro" in db["volumes"]


def _run_init_script(tmp_path: Path, deploy: Deploy, password: str) -> tuple[list[str], str]:
    """The rendered init script, sourced by bash as the image's entrypoint does, with a psql that records
    its arguments and standard input."""
    (tmp_path / "bin").mkdir()
    psql = tmp_path / "bin" / "psql"
    psql.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > {tmp_path}/argv\ncat > {tmp_path}/stdin\n')
    psql.chmod(0o755)
    script = tmp_path / "10-odoo-role.sh"
    script.write_text(C.render_db_init_script(deploy))
    env = {"PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}", "POSTGRES_USER": "postgres",
           "POSTGRES_PASSWORD": password}
    subprocess.run(["bash", "-c", f"set -Eeo pipefail; . {script}"], env=env, check=True, timeout=10)
    return (tmp_path / "argv").read_text().splitlines(), (tmp_path / "stdin").read_text()


def test_the_init_script_creates_a_non_superuser_role_with_the_password_on_stdin_only(tmp_path):
    argv, sql = _run_init_script(tmp_path, Deploy(), SECRETS.db_password)
    assert not any(SECRETS.db_password in a for a in argv)  # never on psql's command line
    assert argv[argv.index("--username") + 1] == "postgres"
    quoted = SECRETS.db_password.replace("'", "''")
    assert sql.splitlines() == [
        f"CREATE ROLE \"odoo\" LOGIN NOSUPERUSER NOCREATEROLE CREATEDB NOREPLICATION PASSWORD '{quoted}';",
        'ALTER ROLE "postgres" PASSWORD NULL;',
    ]
    assert SECRETS.db_password not in C.render_db_init_script(Deploy())  # the file itself holds no secret


def test_a_hostile_role_name_stays_one_quoted_identifier(tmp_path):
    deploy = dataclasses.replace(Deploy(), postgres=PostgresSpec(user='od"$(touch x)\'o'))
    _, sql = _run_init_script(tmp_path, deploy, "pw-value-0009")
    assert sql.splitlines()[0].startswith('CREATE ROLE "od""$(touch x)\'o" LOGIN NOSUPERUSER')
    assert not (tmp_path / "x").exists()


def test_odoo_may_not_be_given_the_superuser():
    deploy = dataclasses.replace(Deploy(), postgres=PostgresSpec(user="postgres"))
    with pytest.raises(ValueError, match="superuser"):
        C.compose_spec(deploy, "r/odoo:18.0")
    with pytest.raises(ValueError, match="superuser"):
        C.render_db_init_script(deploy)


# ---------------------------------------------------------------- the droplet's own token


def _secrets_env_in(user_data: str) -> str:
    files = yaml.safe_load(user_data)["write_files"]
    return next(f["content"] for f in files if f["path"].endswith("secrets.env"))


def test_the_droplet_receives_the_droplet_token_never_the_operators():
    text = render_user_data(Deploy(), SECRETS)
    assert SECRETS.do_token not in text
    assert f"DIGITALOCEAN_TOKEN={SECRETS.droplet_token}" in _secrets_env_in(text).splitlines()
    assert "DROPLET_TOKEN" not in text  # the agent reads one name, whatever the operator called it


def test_without_a_droplet_token_the_operators_goes_as_before():
    text = render_user_data(Deploy(), dataclasses.replace(SECRETS, droplet_token=None))
    assert f"DIGITALOCEAN_TOKEN={SECRETS.do_token}" in _secrets_env_in(text).splitlines()


def test_a_redacted_preview_shows_neither_token():
    text = render_user_data(Deploy(), SECRETS.redacted())
    assert SECRETS.do_token not in text and SECRETS.droplet_token not in text


CUTOVER = dataclasses.replace(Deploy(), reserved_ip=dataclasses.replace(Deploy().reserved_ip, mode="auto"))


@pytest.mark.parametrize(
    "env,warned",
    [
        ({"DIGITALOCEAN_TOKEN": "t" * 20, "DROPLET_TOKEN": "t" * 20}, "same value"),
        ({"DIGITALOCEAN_TOKEN": "t" * 20}, "is not set"),
        ({"DIGITALOCEAN_TOKEN": "t" * 20, "DROPLET_TOKEN": "d" * 20}, None),
    ],
)
def test_the_droplet_token_warnings(env, warned):
    got = secret_warnings(CUTOVER, env)
    if warned is None:
        assert got == []
    else:
        assert len(got) == 1 and warned in got[0] and "reserved_ip:update" in got[0]
        assert "t" * 20 not in got[0]  # a value is never echoed


def test_a_deploy_that_gives_the_droplet_no_token_gets_no_warning():
    assert secret_warnings(Deploy(), {"DIGITALOCEAN_TOKEN": "t" * 20}) == []


def test_check_config_warns_and_still_succeeds_when_the_tokens_are_the_same(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    for name, value in {"DB_PASSWORD": "db-secret-value-0001", "ADMIN_PASSWD": "admin-secret-value-0002",
                        "DIGITALOCEAN_TOKEN": "same-token-value-0003", "DROPLET_TOKEN": "same-token-value-0003",
                        "SPACES_KEY": "spaces-key-value-0004", "SPACES_SECRET": "spaces-secret-value-0005"}.items():
        monkeypatch.setenv(name, value)
    for name in ("REGISTRY_TOKEN", "REGISTRY", "DIGITALOCEAN_API_URL", "SPACES_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    config = tmp_path / "deploy.yaml"
    text = (EXAMPLES / "deploy.yaml").read_text()
    config.write_text(re.sub(r"(?m)^reserved_ip:.*$", "reserved_ip: auto", text))
    assert main(["check-config", str(config)]) == 0
    out = capsys.readouterr()
    warning = [line for line in (out.out + out.err).splitlines() if line.startswith("warning: ")]
    assert len(warning) == 1 and "DROPLET_TOKEN is the same value as DIGITALOCEAN_TOKEN" in warning[0]
    assert "same-token-value-0003" not in out.out + out.err


def test_a_short_droplet_token_is_refused_by_name(tmp_path, monkeypatch, capsys):
    from builder.secrets_env import secret_problems

    problems = secret_problems(CUTOVER, {"DB_PASSWORD": "x" * 20, "ADMIN_PASSWD": "y" * 20,
                                         "DIGITALOCEAN_TOKEN": "t" * 20, "DROPLET_TOKEN": "short"})
    assert [p.field for p in problems] == ["secrets.DROPLET_TOKEN"]


# ---------------------------------------------------------------- the metadata rules the agent checks


class _Iptables:
    def __init__(self, present: set[tuple[str, ...]], insert_fails: bool = False) -> None:
        self.present, self.insert_fails, self.calls = set(present), insert_fails, []

    def run(self, args: tuple[str, ...], timeout: float = 60, stdin: str | None = None) -> CommandResult:
        self.calls.append(args)
        if args[1] == "-C":
            ok = args[2:] in self.present
            return CommandResult(args, 0 if ok else 1, "", "" if ok else "iptables: Bad rule")
        if self.insert_fails:
            return CommandResult(args, 4, "", "iptables: No chain/target/match by that name.")
        self.present.add((args[2], *args[4:]))
        return CommandResult(args, 0, "", "")


def _job(agent: _Iptables) -> SimpleNamespace:
    return SimpleNamespace(agent=agent, state=SimpleNamespace(security=SecurityRecord()))


MD = "169.254.169.254/32"
SNAPSHOT_RULES = {
    ("DOCKER-USER", "-d", MD, "-j", "REJECT"),
    ("ufw-before-output", "-d", MD, "-m", "owner", "!", "--uid-owner", "0", "-j", "REJECT"),
}


def test_the_snapshots_rules_are_found_and_nothing_is_added():
    fw = _Iptables(SNAPSHOT_RULES)
    job = _job(fw)
    block_metadata(job)  # type: ignore[arg-type]
    assert job.state.security.metadata_blocked is True
    assert [c for c in fw.calls if c[1] != "-C"] == []


def test_missing_rules_are_added_at_the_top_of_their_chains():
    fw = _Iptables(set())
    job = _job(fw)
    block_metadata(job)  # type: ignore[arg-type]
    assert job.state.security.metadata_blocked is True
    assert [c for c in fw.calls if c[1] == "-I"] == [
        ("iptables", "-I", "DOCKER-USER", "1", "-d", MD, "-j", "REJECT"),
        ("iptables", "-I", "OUTPUT", "1", "-d", MD, "-m", "owner", "!", "--uid-owner", "0", "-j", "REJECT"),
    ]


def test_a_rule_that_cannot_be_added_is_recorded_not_fatal():
    job = _job(_Iptables({("DOCKER-USER", "-d", MD, "-j", "DROP")}, insert_fails=True))  # an older agent's rule
    block_metadata(job)  # type: ignore[arg-type]
    sec = job.state.security
    assert sec.metadata_blocked is False and "local users" in sec.metadata_block_error
    assert "containers" not in sec.metadata_block_error


# ---------------------------------------------------------------- the image scripts

DEBIAN_BEFORE_RULES = """#
# rules.before
#
# Don't delete these required lines, otherwise there will be errors
*filter
:ufw-before-input - [0:0]
:ufw-before-output - [0:0]
:ufw-before-forward - [0:0]
:ufw-not-local - [0:0]
# End required lines


# allow all on loopback
-A ufw-before-input -i lo -j ACCEPT
-A ufw-before-output -o lo -j ACCEPT

# don't delete the 'COMMIT' line or these rules won't be processed
COMMIT
"""


def _run_firewall(tmp_path: Path, rules: Path) -> subprocess.CompletedProcess[str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for tool, body in {"ufw": 'case "$1" in status) echo "Status: active";; esac', "systemctl": ":",
                       "iptables": ":"}.items():
        (bin_dir / tool).write_text(f"#!/bin/sh\n{body}\n")
        (bin_dir / tool).chmod(0o755)
    env = {"PATH": f"{bin_dir}:{os.environ['PATH']}", "ODL_UFW_BEFORE_RULES": str(rules)}
    return subprocess.run(["bash", str(SCRIPTS / "50-firewall.sh")], env=env, capture_output=True, text=True,
                          timeout=30)


def test_the_firewall_keeps_the_metadata_rules_in_ufws_before_rules_once(tmp_path):
    rules = tmp_path / "before.rules"
    rules.write_text(DEBIAN_BEFORE_RULES)
    for _ in range(2):  # idempotent: a second run adds nothing
        r = _run_firewall(tmp_path, rules)
        assert r.returncode == 0, r.stderr
    lines = rules.read_text().splitlines()
    end = lines.index("# End required lines")
    # Right after the declarations, before any other rule; DOCKER-USER declared before it is used.
    assert lines[end + 2:end + 5] == [
        ":DOCKER-USER - [0:0]",
        f"-A ufw-before-output -d {MD} -m owner ! --uid-owner 0 -j REJECT",
        f"-A DOCKER-USER -d {MD} -j REJECT",
    ]
    assert sum(line == ":DOCKER-USER - [0:0]" for line in lines) == 1
    assert lines.index("-A ufw-before-output -o lo -j ACCEPT") > end + 5
    assert lines[-1] == "COMMIT"


def test_the_firewall_refuses_a_before_rules_it_does_not_recognise(tmp_path):
    rules = tmp_path / "before.rules"
    rules.write_text("*filter\nCOMMIT\n")
    r = _run_firewall(tmp_path, rules)
    assert r.returncode != 0 and "End required lines" in r.stderr


def _heredoc(script: str, target: str) -> str:
    text = (SCRIPTS / script).read_text()
    m = re.search(rf"cat >{re.escape(target)} <<'(\w+)'\n(.*?)\n\1\n", text, re.S)
    assert m, f"{script} writes no {target}"
    return m.group(2)


def test_the_sshd_drop_in_turns_forwarding_off_and_root_to_keys_only():
    conf = _heredoc("55-hardening.sh", "/etc/ssh/sshd_config.d/50-odoo-droplet.conf")
    settings = dict(line.split(None, 1) for line in conf.splitlines() if line and not line.startswith("#"))
    assert {k: settings.get(k) for k in ("X11Forwarding", "AllowTcpForwarding", "AllowAgentForwarding",
                                         "PermitRootLogin", "PasswordAuthentication")} == {
        "X11Forwarding": "no", "AllowTcpForwarding": "no", "AllowAgentForwarding": "no",
        "PermitRootLogin": "prohibit-password", "PasswordAuthentication": "no"}


def test_cloud_init_makes_no_default_user_and_root_keeps_its_keys():
    cfg = yaml.safe_load(_heredoc("55-hardening.sh", "/etc/cloud/cloud.cfg.d/80-odoo-droplet-users.cfg"))
    assert cfg == {"users": [], "disable_root": False, "ssh_pwauth": False}


def test_unattended_upgrades_are_on():
    conf = _heredoc("55-hardening.sh", "/etc/apt/apt.conf.d/20auto-upgrades")
    assert 'APT::Periodic::Unattended-Upgrade "1";' in conf
    assert 'APT::Periodic::Update-Package-Lists "1";' in conf
