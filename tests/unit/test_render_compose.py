"""docker-compose.yml and odoo.env: the shape a user relies on (nothing published but Odoo on 127.0.0.1,
secrets only in the env file), over a settings matrix; and the YAML emitter it is written with."""

from __future__ import annotations

import dataclasses
import itertools
import secrets as pysecrets

import pytest
import yaml

from firstboot.config import Deploy, EdgeSpec, PostgresSpec, RedisSpec, Secrets
from firstboot.render.compose import (
    compose_spec,
    env_value,
    render_compose,
    render_compose_env,
    render_db_password_file,
)
from firstboot.render.yaml_text import dump

MANAGED = PostgresSpec(
    mode="managed", host="db-pg-nyc3-1.b.db.ondigitalocean.com", port=25060, user="doadmin", sslmode="require"
)
IMAGE = "10.213.0.1:5000/odoo:18.0-20250101"


def _deploy(pg: str, redis: bool, domain: str | None) -> Deploy:
    return dataclasses.replace(
        Deploy(),
        postgres=MANAGED if pg == "managed" else PostgresSpec(),
        redis=RedisSpec(enabled=redis),
        edge=EdgeSpec(domain=domain),
    )


MATRIX = [
    pytest.param(pg, redis, domain, id=f"{pg}-redis{int(redis)}-{'domain' if domain else 'ip'}")
    for pg, redis, domain in itertools.product(["selfhost", "managed"], [True, False], ["erp.example.com", None])
]


@pytest.fixture
def test_secrets() -> Secrets:
    return Secrets(
        db_password="db$" + pysecrets.token_urlsafe(18) + "'\"",
        admin_passwd="adm-" + pysecrets.token_urlsafe(18),
        do_token="dop_v1_" + pysecrets.token_hex(32),
        spaces_key="SPK" + pysecrets.token_hex(8),
        spaces_secret=pysecrets.token_urlsafe(30),
        registry_token="ghp_" + pysecrets.token_hex(16),
    )


def _parse_env(text: str) -> dict[str, str]:
    """KEY=VALUE lines; bare or double-quoted with \\\\ \\" \\$ escapes (what env_value writes)."""
    env = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        key, _, raw = line.partition("=")
        if raw.startswith('"'):
            assert raw.endswith('"')
            out, chars = [], iter(raw[1:-1])
            for ch in chars:
                out.append(next(chars) if ch == "\\" else ch)
            raw = "".join(out)
        env[key] = raw
    return env


@pytest.mark.parametrize("pg,redis,domain", MATRIX)
def test_services_networks_and_ports(pg, redis, domain, test_secrets):
    deploy = _deploy(pg, redis, domain)
    text = render_compose(deploy, IMAGE)
    spec = yaml.safe_load(text)

    assert "version" not in spec  # obsolete in the Compose Specification; v2 warns about it
    expected = {"odoo"} | ({"db"} if pg == "selfhost" else set()) | ({"redis"} if redis else set())
    assert set(spec["services"]) == expected
    odoo = spec["services"]["odoo"]
    assert odoo["image"] == IMAGE
    assert odoo["restart"] == "unless-stopped"
    assert odoo["ports"] == ["127.0.0.1:8069:8069", "127.0.0.1:8072:8072"]
    assert "odoo.env" in odoo["env_file"]
    assert "environment" not in odoo
    assert "odoo-data:/var/lib/odoo" in odoo["volumes"]
    assert "./odoo.conf:/etc/odoo/odoo.conf:ro" in odoo["volumes"]
    assert any(v.endswith(":/mnt/extra-addons") for v in odoo["volumes"])
    test = odoo["healthcheck"]["test"]
    assert test[0] == "CMD" and test[1] == "curl" and "-f" in test[2]
    assert test[-1] == "http://127.0.0.1:8069/web/health?db_server_status=1"
    assert spec["volumes"]["odoo-data"] == {}

    depends = odoo.get("depends_on", {})
    assert set(depends) == expected - {"odoo"}
    assert all(dep == {"condition": "service_healthy"} for dep in depends.values())

    networks = spec["networks"]
    for name in expected - {"odoo"}:
        service = spec["services"][name]
        assert "ports" not in service and "expose" not in service, f"{name} must not be published"
        assert service["networks"] == ["backend"]
        assert networks["backend"] == {"internal": True}
        assert "backend" in odoo["networks"]
    # A normal network too, or its 127.0.0.1 ports would not publish (and a managed DB be unreachable).
    assert any(not (networks[n] or {}).get("internal") for n in odoo["networks"])

    if pg == "selfhost":
        db = spec["services"]["db"]
        assert db["image"] == "postgres:16"
        assert "odoo.env" in db["env_file"] and "environment" not in db
        assert "pg-data:/var/lib/postgresql/data" in db["volumes"]
        assert db["healthcheck"]["test"][:2] == ["CMD", "pg_isready"]
    if redis:
        assert "redis-cli ping" in " ".join(spec["services"]["redis"]["healthcheck"]["test"])


@pytest.mark.parametrize("pg,redis,domain", MATRIX)
def test_no_secret_inline_even_with_real_secrets(pg, redis, domain, test_secrets):
    text = render_compose(_deploy(pg, redis, domain), IMAGE)
    for value in test_secrets.values():
        assert value not in text


@pytest.mark.parametrize("pg", ["selfhost", "managed"])
def test_env_file_carries_what_the_official_images_read(pg, test_secrets):
    env = _parse_env(render_compose_env(_deploy(pg, True, None), test_secrets))
    if pg == "selfhost":
        # The image's superuser is `postgres`; Odoo's own role (USER) is made by the init script.
        assert env["POSTGRES_USER"] == "postgres"
        assert env["POSTGRES_PASSWORD_FILE"] == "/run/secrets/db_password"
        assert "POSTGRES_PASSWORD" not in env
        assert env["POSTGRES_DB"]
        assert (env["HOST"], env["PORT"], env["USER"]) == ("db", "5432", "odoo")
    else:
        assert not any(k.startswith("POSTGRES_") for k in env)  # no db container to configure
        assert (env["HOST"], env["PORT"], env["USER"]) == (MANAGED.host, "25060", "doadmin")
        assert env["PGSSLMODE"] == "require"
    # No secret at all: an env_file lands in every container's environment, which `docker inspect` shows.
    # Odoo reads db_password from odoo.conf; PostgreSQL from the compose secret file.
    assert "PASSWORD" not in env
    text = render_compose_env(_deploy(pg, True, None), test_secrets)
    for value in test_secrets.values():
        assert value not in text


@pytest.mark.parametrize("pg", ["selfhost", "managed"])
def test_redacted_env_file_holds_no_secret(pg, test_secrets):
    text = render_compose_env(_deploy(pg, True, None), test_secrets.redacted())
    for value in test_secrets.values():
        assert value not in text


def test_db_password_reaches_postgres_as_a_secret_file_only(test_secrets):
    spec = compose_spec(_deploy("selfhost", True, None), "registry.example/odoo:18.0")
    assert spec["secrets"] == {"db_password": {"file": "./db_password"}, "redis_password": {"file": "./redis_password"}}
    assert spec["services"]["db"]["secrets"] == ["db_password"]
    assert "secrets" not in spec["services"]["odoo"]
    assert render_db_password_file(test_secrets) == test_secrets.db_password
    managed = compose_spec(_deploy("managed", True, None), "registry.example/odoo:18.0")
    assert managed["secrets"] == {"redis_password": {"file": "./redis_password"}}  # no db container, no db secret
    assert "secrets" not in compose_spec(_deploy("managed", False, None), "registry.example/odoo:18.0")


def test_env_values_refuse_line_breaks():
    with pytest.raises(ValueError):
        env_value("a\nb")


def test_dollar_signs_are_never_interpolated_by_compose():
    d = Deploy()
    deploy = dataclasses.replace(d, postgres=dataclasses.replace(d.postgres, user="od$oo"))
    spec = yaml.safe_load(render_compose(deploy, IMAGE))
    assert "od$$oo" in spec["services"]["db"]["healthcheck"]["test"]


# --- the YAML emitter ------------------------------------------------------------------------------

TRICKY = [
    "yes",
    "no",
    "on",
    "off",
    "true",
    "null",
    "~",
    "0755",
    "1e3",
    "0x1f",
    ".inf",
    "-",
    "#x",
    "a: b",
    "- a",
    "[a]",
    "{a}",
    "&anchor",
    "*alias",
    "!tag",
    "%dir",
    "@at",
    "`bt",
    "|",
    ">",
    "'",
    '"',
    "\\",
    "",
    " lead",
    "trail ",
    "multi\nline",
    "tab\there",
    "emoji \U0001f600",
    "del\x7f",
    "nel\x85",
    "ls\u2028",
    "bom\ufeff",
    "é ☃",
    "$HOME ${X}",
]


def test_yaml_emitter_round_trips_through_a_real_parser():
    value = {
        "strings": TRICKY,
        "ints": [0, -1, 10**12],
        "bools": [True, False],
        "none": None,
        "empty_map": {},
        "empty_list": [],
        "nested": {"list_of_maps": [{"a": 1, "b": [1, {"c": "d"}]}, {}], "list_of_lists": [[1, 2], []]},
        **{key: key for key in TRICKY if key},
    }
    assert yaml.safe_load(dump(value)) == value


def test_yaml_emitter_is_deterministic_and_keeps_key_order():
    value = {"z": 1, "a": {"y": [1], "b": "x"}}
    assert dump(value) == dump(dict(value)) == 'z: 1\na:\n  "y":\n  - 1\n  b: "x"\n'


def test_yaml_emitter_refuses_what_it_cannot_write_faithfully():
    with pytest.raises(TypeError):
        dump({"a": 1.5})
    with pytest.raises(TypeError):
        dump({1: "a"})
