"""The rendered files accepted by the real tools that will read them: `nginx -t` and
`docker compose config`, over a matrix of settings (issue 2, "Show")."""

from __future__ import annotations

import dataclasses
import itertools
import json
import secrets as pysecrets
import subprocess
from pathlib import Path

import pytest

from firstboot.config import Deploy, EdgeSpec, PostgresSpec, RedisSpec, Secrets
from firstboot.render.compose import render_compose, render_compose_env, render_db_password_file
from firstboot.render.nginx import render_nginx_site
from firstboot.render.odoo_conf import render_odoo_conf
from firstboot.workers import plan_for_slug

from .conftest import require_tool

pytestmark = pytest.mark.integration

MANAGED = PostgresSpec(
    mode="managed", host="db-pg-nyc3-1.b.db.ondigitalocean.com", port=25060, user="doadmin", sslmode="require"
)
IMAGE = "10.213.0.1:5000/odoo:18.0"


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
    for (pg, redis, domain), size in zip(
        itertools.product(["selfhost", "managed"], [True, False], ["erp.example.com", None]),
        itertools.cycle(["s-1vcpu-2gb", "s-2vcpu-4gb", "s-4vcpu-8gb", "s-8vcpu-16gb"]),
    )
]


def _test_secrets() -> Secrets:
    # Characters that Compose's env_file reader would otherwise interpolate, unquote or cut.
    return Secrets(
        db_password="db$HOME'\\x#" + pysecrets.token_urlsafe(12), admin_passwd="adm-" + pysecrets.token_urlsafe(18)
    )


@pytest.mark.parametrize("pg,redis,domain,size", MATRIX)
def test_nginx_accepts_the_site(pg, redis, domain, size, nginx, tls_cert):
    deploy = _deploy(pg, redis, domain, size)
    site = render_nginx_site(
        deploy, domain or "203.0.113.10", str(tls_cert.cert), str(tls_cert.key), acme_webroot=str(nginx.prefix / "acme")
    )
    nginx.write(site)
    result = nginx.check()
    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr


def test_nginx_rejects_a_broken_site(nginx, tls_cert):
    """The check above can fail: a site whose location lost its closing brace is refused."""
    site = render_nginx_site(Deploy(), "odoo.test", str(tls_cert.cert), str(tls_cert.key))
    nginx.write(site.replace("    location /web/static/ {", "    location /web/static/ {{", 1))
    assert nginx.check().returncode != 0


def _write_stack(directory: Path, deploy: Deploy, secrets: Secrets) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "docker-compose.yml").write_text(render_compose(deploy, IMAGE))
    (directory / "odoo.env").write_text(render_compose_env(deploy, secrets))
    (directory / "db_password").write_text(render_db_password_file(secrets))
    (directory / "odoo.conf").write_text(render_odoo_conf(deploy, secrets, plan_for_slug(deploy.droplet.size)))
    return directory / "docker-compose.yml"


def _compose(args: list[str], compose_file: Path) -> subprocess.CompletedProcess[str]:
    docker = require_tool("docker")
    return subprocess.run(
        [docker, "compose", "-f", str(compose_file), *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=compose_file.parent,
    )


@pytest.mark.parametrize("pg,redis,domain,size", MATRIX)
def test_docker_compose_accepts_the_stack(pg, redis, domain, size, tmp_path):
    deploy = _deploy(pg, redis, domain, size)
    secrets = _test_secrets()
    compose_file = _write_stack(tmp_path / "stack", deploy, secrets)

    quiet = _compose(["config", "-q"], compose_file)
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stderr == "", quiet.stderr  # no warning either (e.g. an obsolete `version:`)

    # What Compose itself understood from the file (its normalised model).
    result = _compose(["config", "--format", "json"], compose_file)
    assert result.returncode == 0, result.stderr
    model = json.loads(result.stdout)
    services = model["services"]
    odoo = services["odoo"]
    assert {(p["host_ip"], p["published"], p["target"]) for p in odoo["ports"]} == {
        ("127.0.0.1", "8069", 8069),
        ("127.0.0.1", "8072", 8072),
    }
    for name in ("db", "redis"):
        if name in services:
            assert not services[name].get("ports"), f"{name} is published"
            assert set(services[name]["networks"]) == {"backend"}
            assert model["networks"]["backend"]["internal"] is True
    assert any(not model["networks"][n].get("internal") for n in odoo["networks"])
    mounts = {(v["type"], v["target"]): v for v in odoo["volumes"]}
    assert mounts[("bind", "/etc/odoo/odoo.conf")]["read_only"] is True
    assert mounts[("bind", "/etc/odoo/odoo.conf")]["source"] == str(compose_file.parent / "odoo.conf")
    assert ("volume", "/var/lib/odoo") in mounts
    assert set(odoo.get("depends_on", {})) == set(services) - {"odoo"}
    assert all(dep["condition"] == "service_healthy" for dep in odoo.get("depends_on", {}).values())

    # No secret in any container's environment (what `docker inspect` would show): PostgreSQL reads its
    # password from the compose secret file, Odoo from odoo.conf.
    for name, service in services.items():
        for value in secrets.values():
            assert value not in json.dumps(service.get("environment", {})), name
    if pg == "selfhost":
        db = services["db"]
        assert db["environment"]["POSTGRES_PASSWORD_FILE"] == "/run/secrets/db_password"
        # The image's superuser; Odoo's own role (USER, in odoo's environment) is made by the init script.
        assert db["environment"]["POSTGRES_USER"] == "postgres" and odoo["environment"]["USER"] == "odoo"
        assert ("bind", "/docker-entrypoint-initdb.d/10-odoo-role.sh") in {
            (m["type"], m["target"]) for m in db["volumes"]}
        assert [s["source"] for s in db["secrets"]] == ["db_password"]
        assert model["secrets"]["db_password"]["file"] == str(compose_file.parent / "db_password")
    else:
        assert odoo["environment"]["HOST"] == MANAGED.host
    if redis:
        # The password from a secret file, on no command line: compose keeps the command as written.
        r = services["redis"]
        assert [s["source"] for s in r["secrets"]] == ["redis_password"]
        assert r["networks"].keys() == {"backend"} and "ports" not in r
        assert not any(value in json.dumps(r) for value in secrets.values())


def test_docker_compose_rejects_a_broken_stack(tmp_path):
    """The check above can fail: a stack whose env file is missing is refused."""
    compose_file = _write_stack(tmp_path / "stack", Deploy(), _test_secrets())
    (compose_file.parent / "odoo.env").unlink()
    assert _compose(["config", "-q"], compose_file).returncode != 0


@pytest.mark.parametrize("domain", ["erp.example.com", None])
def test_nginx_accepts_the_site_inside_debians_own_nginx_conf(domain, tmp_path, tls_cert):
    """As on the droplet: Debian's nginx.conf (its http-level gzip, ssl_protocols, mime types) with
    the site in sites-enabled. Debian's default site is not there: the image removes it
    (builder/assets/images/scripts/10-base.sh) and so does the agent (firstboot/plans/nginx.py), since the site is
    the default server on 80 and 443 itself (or has one that refuses other names)."""
    nginx_bin = require_tool("nginx")
    debian_conf = Path("/etc/nginx/nginx.conf").read_text()
    sites = tmp_path / "sites-enabled"
    sites.mkdir()
    deploy = _deploy("selfhost", True, domain)
    site = render_nginx_site(deploy, domain or "_", str(tls_cert.cert), str(tls_cert.key))
    (sites / "odoo.conf").write_text(site)
    include = "include /etc/nginx/sites-enabled/*;"
    assert include in debian_conf, "Debian's nginx.conf no longer includes sites-enabled: update the droplet layout"
    conf = tmp_path / "nginx.conf"
    conf.write_text(
        debian_conf.replace(include, f"include {sites}/*;").replace("pid /run/nginx.pid;", f"pid {tmp_path}/nginx.pid;")
    )
    result = subprocess.run([nginx_bin, "-t", "-c", str(conf)], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert "[emerg]" not in result.stderr
