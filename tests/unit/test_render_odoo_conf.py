"""odoo.conf: what Odoo 18 and the official image's entrypoint read back from it, over a settings matrix."""

from __future__ import annotations

import configparser
import dataclasses
import itertools
import re
import secrets as pysecrets

import pytest

from firstboot.config import REDACTED, Deploy, EdgeSpec, PostgresSpec, RedisSpec, Secrets
from firstboot.render.nginx import render_nginx_site
from firstboot.render.odoo_conf import passlib_pbkdf2_sha512, render_odoo_conf
from firstboot.workers import plan_for_slug

MANAGED = PostgresSpec(
    mode="managed", host="db-pg-nyc3-1.b.db.ondigitalocean.com", port=25060, user="doadmin", sslmode="require"
)
SIZES = ["s-1vcpu-2gb", "s-2vcpu-4gb", "s-4vcpu-8gb", "s-8vcpu-16gb"]


def _deploy(pg: str, redis: bool, domain: str | None, size: str = "s-2vcpu-4gb") -> Deploy:
    d = Deploy()
    return dataclasses.replace(
        d,
        droplet=dataclasses.replace(d.droplet, size=size),
        postgres=MANAGED if pg == "managed" else PostgresSpec(),
        redis=RedisSpec(enabled=redis),
        edge=EdgeSpec(domain=domain, tls="letsencrypt" if domain else "self-signed"),
    )


MATRIX = [
    pytest.param(pg, redis, domain, size, id=f"{pg}-redis{int(redis)}-{'domain' if domain else 'ip'}-{size}")
    for pg, redis, domain, size in itertools.product(
        ["selfhost", "managed"], [True, False], ["erp.example.com", None], SIZES
    )
]


@pytest.fixture(scope="module")  # one password for the module: its hash (600,000 rounds) is computed once
def test_secrets() -> Secrets:
    # Generated per run; the '$' and '%' check the file carries them through untouched.
    return Secrets(
        db_password="db$" + pysecrets.token_urlsafe(18) + "%x", admin_passwd="adm-" + pysecrets.token_urlsafe(18)
    )


def _options(text: str) -> dict[str, str]:
    # Odoo reads odoo.conf with RawConfigParser: no interpolation, ';' and '#' comment lines.
    parser = configparser.RawConfigParser()
    parser.read_string(text)
    return dict(parser["options"])


def _is_hash_of(stored: str, password: str) -> bool:
    """passlib's pbkdf2_sha512 verify: recompute with the stored rounds and salt."""
    import base64

    _, scheme, rounds, salt, _digest = stored.split("$")
    raw = base64.b64decode(salt.replace(".", "+") + "=" * (-len(salt) % 4))
    return scheme == "pbkdf2-sha512" and passlib_pbkdf2_sha512(password, raw, int(rounds)) == stored


def _entrypoint_reads(text: str, param: str) -> str:
    """What the official odoo image's entrypoint passes to odoo for `param` (it wins over the file):
    grep -E "^\\s*\\b${param}\\b\\s*=" "$ODOO_RC" | cut -d " " -f3 | sed 's/["\\n\\r]//g'"""
    lines = [ln for ln in text.splitlines() if re.match(rf"^\s*\b{param}\b\s*=", ln)]
    assert len(lines) == 1, f"{param} must be set exactly once, got {lines}"
    fields = lines[0].split(" ")
    return re.sub(r'["\n\r]', "", fields[2] if len(fields) > 2 else "")


@pytest.mark.parametrize("pg,redis,domain,size", MATRIX)
def test_options_over_the_matrix(pg, redis, domain, size, test_secrets):
    deploy = _deploy(pg, redis, domain, size)
    plan = plan_for_slug(size)
    text = render_odoo_conf(deploy, test_secrets, plan)
    opts = _options(text)

    if pg == "managed":
        assert opts["db_host"] == MANAGED.host
        assert opts["db_port"] == "25060"
        assert opts["db_user"] == "doadmin"
        assert opts["db_sslmode"] == "require"
    else:
        assert opts["db_host"] == "db"  # the compose service
        assert opts["db_port"] == "5432"
        assert "db_sslmode" not in opts
    assert opts["db_password"] == test_secrets.db_password
    assert _is_hash_of(opts["admin_passwd"], test_secrets.admin_passwd)
    assert test_secrets.admin_passwd not in text
    assert opts["db_name"] == "odoo"
    assert opts["list_db"] == "False"
    assert opts["proxy_mode"] == "True"
    assert opts["http_port"] == "8069"
    assert opts["gevent_port"] == "8072"
    assert "longpolling_port" not in opts  # ignored by Odoo 18: setting it would only mislead
    assert int(opts["workers"]) == plan.workers >= 2  # else no gevent process, no /websocket
    assert int(opts["max_cron_threads"]) == plan.max_cron_threads
    assert int(opts["limit_memory_soft"]) == plan.limit_memory_soft
    assert int(opts["limit_memory_hard"]) == plan.limit_memory_hard
    assert opts["data_dir"] == "/var/lib/odoo"
    assert "/mnt/extra-addons" in opts["addons_path"].split(",")

    # The official entrypoint re-reads these four with `cut -d " " -f3` and they override the file.
    assert _entrypoint_reads(text, "db_host") == opts["db_host"]
    assert _entrypoint_reads(text, "db_port") == opts["db_port"]
    assert _entrypoint_reads(text, "db_user") == opts["db_user"]
    assert _entrypoint_reads(text, "db_password") == test_secrets.db_password


def test_dbfilter_selects_exactly_the_one_database(test_secrets):
    for database in ("odoo", "acme_prod", "a.b-c"):
        d = Deploy()
        deploy = dataclasses.replace(d, odoo=dataclasses.replace(d.odoo, database=database))
        opts = _options(render_odoo_conf(deploy, test_secrets, plan_for_slug("s-2vcpu-4gb")))
        assert opts["db_name"] == database
        # Odoo applies dbfilter with re.match against each database name.
        pattern = opts["dbfilter"]
        assert re.match(pattern, database)
        for other in (database + "2", "x" + database, database.replace(".", "x") if "." in database else "zz"):
            assert not re.match(pattern, other), (pattern, other)


def test_odoo_does_not_kill_what_nginx_still_waits_for(test_secrets):
    conf = _options(render_odoo_conf(Deploy(), test_secrets, plan_for_slug("s-2vcpu-4gb")))
    site = render_nginx_site(Deploy(), "erp.example.com", "/c.pem", "/k.pem")
    read_timeout = int(re.search(r"proxy_read_timeout (\d+)s;", site).group(1))
    assert read_timeout == 720
    assert int(conf["limit_time_real"]) >= read_timeout
    assert 0 < int(conf["limit_time_cpu"]) <= int(conf["limit_time_real"])


@pytest.mark.parametrize("pg", ["selfhost", "managed"])
def test_redacted_preview_holds_no_secret(pg, test_secrets):
    deploy = _deploy(pg, True, "erp.example.com")
    text = render_odoo_conf(deploy, test_secrets.redacted(), plan_for_slug("s-2vcpu-4gb"))
    for value in test_secrets.values():
        assert value not in text
    opts = _options(text)
    assert opts["db_password"] == REDACTED
    assert opts["admin_passwd"] == REDACTED


@pytest.mark.parametrize(
    "secrets_,message",
    [
        (Secrets(db_password="has space", admin_passwd="a"), "db_password"),
        (Secrets(db_password='has"quote', admin_passwd="a"), "db_password"),
        (Secrets(db_password="ok", admin_passwd="two\nlines"), "admin_passwd"),
        (Secrets(db_password="ok", admin_passwd=" padded"), "admin_passwd"),
        (Secrets(db_password="ok\rworkers = 0", admin_passwd="a"), "db_password"),
    ],
)
def test_values_the_file_or_entrypoint_would_mangle_are_refused(secrets_, message):
    with pytest.raises(ValueError, match=message):
        render_odoo_conf(Deploy(), secrets_, plan_for_slug("s-2vcpu-4gb"))


def test_managed_without_host_is_refused(test_secrets):
    deploy = dataclasses.replace(Deploy(), postgres=PostgresSpec(mode="managed", host=None))
    with pytest.raises(ValueError, match="postgres.host"):
        render_odoo_conf(deploy, test_secrets, plan_for_slug("s-2vcpu-4gb"))


# passlib 1.7.4, `pbkdf2_sha512.using(rounds=1000, salt=b"0123456789abcdef").hash("admin")`: Odoo verifies
# admin_passwd with passlib, so the hash must be passlib's byte for byte.
PASSLIB_ADMIN = (
    "$pbkdf2-sha512$1000$MDEyMzQ1Njc4OWFiY2RlZg$VYpayuGgwzZdp432P4BiDOsz2R32OckUD4cZP0OnU/dRJDzvbA9NzD4JRchh6MOV7dGmpArYbu"
    "wTJVUOgj66DA"
)


def test_master_password_hash_is_passlibs_pbkdf2_sha512():
    assert passlib_pbkdf2_sha512("admin", b"0123456789abcdef", 1000) == PASSLIB_ADMIN
    assert passlib_pbkdf2_sha512("admin", b"0123456789abcdef", 1001) != PASSLIB_ADMIN


def test_master_password_is_stored_hashed_with_odoos_rounds_and_a_fresh_salt(test_secrets):
    plan = plan_for_slug("s-2vcpu-4gb")
    salt = b"fixed-salt-16byt"
    one = render_odoo_conf(Deploy(), test_secrets, plan, salt=salt)
    assert one == render_odoo_conf(Deploy(), test_secrets, plan, salt=salt)  # pure, given the salt
    stored = _options(one)["admin_passwd"]
    assert stored.startswith("$pbkdf2-sha512$600000$") and _is_hash_of(stored, test_secrets.admin_passwd)
    assert not _is_hash_of(stored, test_secrets.admin_passwd + "x")
    other = _options(render_odoo_conf(Deploy(), test_secrets, plan, salt=b"another-salt-16b"))["admin_passwd"]
    assert other != stored and _is_hash_of(other, test_secrets.admin_passwd)
    # No salt given: a random one, so two droplets with the same password do not share the hash.
    assert _options(render_odoo_conf(Deploy(), test_secrets, plan))["admin_passwd"] not in (stored, other)
