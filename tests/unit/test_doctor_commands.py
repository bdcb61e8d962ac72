"""doctor's droplet commands, as data: every one only reads (the rule as code, and the rule itself tested),
each has a name parse_all knows and a bounded timeout, and none carries or fetches a secret."""

from __future__ import annotations

import shlex

import pytest

from builder.doctor import commands as c
from builder.doctor.commands import Command, commands_for, write_risks
from builder.doctor.target import DoctorTarget
from tests.unit.doctor_droplet import SECRETS, grep_conf, healthy_outputs, rendered_odoo_conf

MANAGED = DoctorTarget(project="shop-prod", postgres_selfhost=False, db_host="db-pg-nyc3-1.b.db.ondigitalocean.com",
                       db_port=25060, db_user="doadmin", services=("odoo", "redis"))
TARGETS = [
    pytest.param(DoctorTarget(), id="selfhost"),
    pytest.param(MANAGED, id="managed"),
    pytest.param(DoctorTarget(services=("odoo", "db"), log_lines=50, nginx_site="/srv/site.conf"), id="no-redis"),
]


@pytest.mark.parametrize("target", TARGETS)
def test_every_command_only_reads(target: DoctorTarget):
    for cmd in commands_for(target):
        assert write_risks(cmd) == [], (cmd.name, cmd.argv)


@pytest.mark.parametrize("target", TARGETS)
def test_names_are_unique_and_timeouts_bounded(target: DoctorTarget):
    cmds = commands_for(target)
    names = [cmd.name for cmd in cmds]
    assert len(names) == len(set(names))
    assert all(0 < cmd.timeout <= 60 for cmd in cmds)
    assert all(isinstance(a, str) for cmd in cmds for a in cmd.argv)


def test_the_selfhost_commands_are_what_parse_all_reads():
    assert {cmd.name for cmd in commands_for(DoctorTarget())} == set(healthy_outputs())


def test_managed_postgres_has_no_db_service_commands():
    cmds = {cmd.name: cmd for cmd in commands_for(MANAGED)}
    assert c.DB_LOG not in cmds
    assert cmds[c.PG_READY].argv[-6:] == ("-h", "db-pg-nyc3-1.b.db.ondigitalocean.com", "-p", "25060", "-U",
                                          "doadmin")
    script = cmds[c.PG_MODULES].argv[-1]
    # The password is read from odoo.conf inside the container: never on a command line.
    assert "PGPASSWORD=\"$(sed -n" in script and "db_password" in script
    assert "docker inspect" not in script
    assert cmds[c.DOCKER_INSPECT].argv == ("docker", "inspect", "shop-prod-odoo-1", "shop-prod-redis-1")


def test_sql_runs_in_a_read_only_transaction():
    for cmd in commands_for(DoctorTarget()):
        if "psql" in cmd.argv:
            i = cmd.argv.index("-c")
            assert cmd.argv[i + 1] == c.READ_ONLY_SQL
            assert cmd.argv[i + 2] == "-c" and cmd.argv[i + 3].startswith("SELECT ")


def test_compose_and_inspect_name_the_project_and_its_containers():
    cmds = {cmd.name: cmd for cmd in commands_for(DoctorTarget(project="acme"))}
    assert cmds[c.COMPOSE_PS].argv == ("docker", "compose", "-p", "acme", "-f",
                                       "/etc/odoo-droplet/stack/docker-compose.yml", "ps", "-a", "--format", "json")
    assert cmds[c.DOCKER_INSPECT].argv == ("docker", "inspect", "acme-odoo-1", "acme-db-1", "acme-redis-1")
    assert "--timestamps" in cmds[c.ODOO_LOG].argv and cmds[c.ODOO_LOG].argv[-1] == "odoo"


def test_odoo_conf_is_grepped_for_its_options_and_never_its_secrets():
    cmd = next(cmd for cmd in commands_for(DoctorTarget()) if cmd.name == c.ODOO_CONF)
    assert cmd.argv[0] == "grep" and cmd.argv[-1] == "/etc/odoo-droplet/stack/odoo.conf"
    assert "db_password" not in cmd.argv[2] and "admin_passwd" not in cmd.argv[2]
    out = grep_conf(rendered_odoo_conf())
    assert SECRETS.db_password not in out and SECRETS.admin_passwd not in out
    assert "proxy_mode = True" in out and "limit_time_real = 720" in out


def test_shell_form_round_trips():
    cmd = next(cmd for cmd in commands_for(DoctorTarget()) if cmd.name == c.DEPLOY_STATUS)
    assert tuple(shlex.split(cmd.shell())) == cmd.argv


@pytest.mark.parametrize(
    "argv, why",
    [
        (("docker", "compose", "-p", "odoo", "-f", "x.yml", "restart", "odoo"), "restart"),
        (("docker", "compose", "-p", "odoo", "-f", "x.yml", "up", "-d"), "up"),
        (("docker", "system", "prune", "-af"), "prune"),
        (("docker", "rm", "-f", "odoo-odoo-1"), "rm"),
        (("docker", "kill", "odoo-odoo-1"), "kill"),
        (("docker", "compose", "-p", "odoo", "-f", "x.yml", "exec", "-T", "odoo", "kill", "1"), "kill"),
        (("systemctl", "restart", "nginx"), "systemctl"),
        (("nginx", "-s", "reload"), "nginx"),
        (("sh", "-c", "tail -n 50 /var/log/nginx/error.log > /tmp/copy"), "redirection"),
        (("sh", "-c", "echo x >> /etc/odoo-droplet/stack/odoo.conf"), "redirection"),
        (("sed", "-i", "s/a/b/", "/etc/nginx/sites-enabled/odoo.conf"), "sed"),
        (("docker", "compose", "-p", "odoo", "-f", "x.yml", "exec", "-T", "db", "psql", "-U", "odoo", "-c",
          "SET default_transaction_read_only = on", "-c", "UPDATE ir_module_module SET state = 'installed'"), "SQL"),
        (("docker", "compose", "-p", "odoo", "-f", "x.yml", "exec", "-T", "db", "psql", "-U", "odoo", "-c",
          "SELECT 1"), "read-only transaction"),
        (("docker", "compose", "-p", "odoo", "-f", "x.yml", "exec", "-T", "odoo", "sh", "-c",
          "psql -c 'SET default_transaction_read_only = on' -c 'DELETE FROM res_users'"), "SQL"),
        (("tee", "/etc/nginx/sites-enabled/odoo.conf"), "tee"),
    ],
)
def test_the_rule_catches_what_writes(argv: tuple[str, ...], why: str):
    risks = write_risks(Command("x", argv))
    assert risks, argv
    assert any(why in r for r in risks), risks


def test_the_rule_allows_what_reads():
    for argv in [("cat", "/etc/nginx/sites-enabled/odoo.conf"), ("tail", "-n", "5", "/var/log/nginx/error.log"),
                 ("docker", "inspect", "a"), ("nginx", "-t"), ("sh", "-c", 'cat "$1" 2>/dev/null >&2', "x", "f")]:
        assert write_risks(Command("x", argv)) == [], argv
