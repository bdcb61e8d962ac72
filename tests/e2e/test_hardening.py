"""Secrets out of reach and a hardened droplet (issue 9, Build 4, 5, 7), checked on a droplet made from the
baked snapshot with user-data, as an unprivileged user on it would see it: the metadata service answers root
alone (not `nobody`, not `www-data`, not any service container whatever user it runs as), no secret on any
command line and other users' processes hidden, Odoo's PostgreSQL role not a superuser, no Redis by default
and, when enabled, a Redis that refuses a client without the password; sshd's effective configuration, no
default user, unattended upgrades on.

Set ODL_E2E_SNAPSHOT_ID to an existing snapshot's id to skip the bake while working on these tests.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from firstboot.config import RedisSpec
from firstboot.render.compose import compose_spec, project_name
from firstboot.render.yaml_text import dump
from localcloud import docker_backend as db
from localcloud.testing import Api, Boot, boot, make_deploy, make_secrets, secret_values, wait_active

pytestmark = pytest.mark.e2e

FINISH_SECONDS = 900
METADATA_URL = "http://169.254.169.254/metadata/v1/id"
STACK = "/etc/odoo-droplet/stack"
REDIS_CONTEXT = Path(__file__).resolve().parents[2] / "localcloud" / "images" / "redis"


@pytest.fixture(scope="module")
def snapshot(request: pytest.FixtureRequest) -> dict[str, Any]:
    wanted = os.environ.get("ODL_E2E_SNAPSHOT_ID")
    if wanted:
        return {"snapshot_id": int(wanted), "env": request.getfixturevalue("local_cloud_env")}
    return request.getfixturevalue("baked_snapshot")


@pytest.fixture(scope="module")
def deployed(snapshot: dict[str, Any]) -> Iterator[Boot]:
    """One droplet from the snapshot with user-data (examples/deploy.yaml: no Redis), its deploy finished."""
    env = {k: v for k, v in snapshot["env"].items() if k not in ("DB_PASSWORD", "ADMIN_PASSWD")}
    api = Api(env)
    deploy = make_deploy(env, bucket=f"odl-e2e-harden-{os.getpid()}", dns=False)
    b = boot(api, "harden", deploy, make_secrets(env), int(snapshot["snapshot_id"]))
    try:
        wait_active(api, b)
        final = b.wait_finished(FINISH_SECONDS)
        assert final.get("status") == "success", final
        yield b
    finally:
        api.cloud.delete_droplet(b.droplet_id)


def _reads_metadata(b: Boot, *prefix: str) -> subprocess.CompletedProcess[str]:
    return b.exec(*prefix, "curl", "-sS", "--max-time", "5", METADATA_URL, timeout=60)


def test_root_reads_the_metadata_service_and_no_other_user_does(deployed: Boot) -> None:
    root = _reads_metadata(deployed)
    assert root.returncode == 0 and root.stdout.strip() == str(deployed.droplet_id), root.stderr
    for user in ("nobody", "www-data"):
        r = _reads_metadata(deployed, "runuser", "-u", user, "--")
        # curl's 7: refused at once by the firewall ("couldn't connect"), not 28, a timeout.
        assert r.returncode == 7 and str(deployed.droplet_id) not in r.stdout, (user, r.returncode, r.stderr)


def _containers(b: Boot) -> dict[str, str]:
    """service name -> container name, for the running stack."""
    out = b.sh("docker ps --filter label=com.docker.compose.service "
               "--format '{{.Label \"com.docker.compose.service\"}} {{.Names}}'")
    return dict(line.split() for line in out.splitlines() if line.strip())


def _connects(b: Boot, container: str, user: str, host: str, port: int) -> bool:
    """A TCP connection from inside `container`, as `user`, with bash alone (every image here has it)."""
    r = b.exec("docker", "exec", "-u", user, container, "timeout", "8", "bash", "-c",
               f"exec 3<>/dev/tcp/{host}/{port}", timeout=60)
    return r.returncode == 0


def test_no_service_container_reaches_the_metadata_service_whatever_its_user(deployed: Boot) -> None:
    containers = _containers(deployed)
    assert set(containers) == {"odoo", "db"}, containers
    # The probe itself works: each container reaches what it should.
    assert _connects(deployed, containers["odoo"], "0", "db", 5432)
    assert _connects(deployed, containers["db"], "0", "127.0.0.1", 5432)
    for service, name in containers.items():
        user = deployed.sh(f"docker inspect -f '{{{{.Config.User}}}}' {name}").strip() or "0"
        for who in sorted({"0", user, "65534"}):
            assert not _connects(deployed, name, who, "169.254.169.254", 80), (service, who)


def test_no_secret_on_any_command_line_and_other_users_processes_hidden(deployed: Boot) -> None:
    values = secret_values(deployed.secrets)
    assert set(values) >= {"DB_PASSWORD", "ADMIN_PASSWD", "SPACES_KEY", "SPACES_SECRET"}
    everything = deployed.sh("ps -eo user,args --no-headers")
    assert "postgres" in everything and "odoo" in everything  # root sees the stack's processes
    for key, value in values.items():
        assert value not in everything, f"{key} is on a command line"
    as_nobody = deployed.exec("runuser", "-u", "nobody", "--", "ps", "-eo", "user,args", "--no-headers")
    assert as_nobody.returncode == 0, as_nobody.stderr
    for key, value in values.items():
        assert value not in as_nobody.stdout, key
    # /proc is hidepid=2: nobody sees its own ps only, not root's init, dockerd or the stack.
    users = {line.split()[0] for line in as_nobody.stdout.splitlines() if line.strip()}
    assert users == {"nobody"}, as_nobody.stdout[:2000]


def _psql(b: Boot, sql: str) -> str:
    db_name = _containers(b)["db"]
    return b.sh(f"docker exec {db_name} psql -X -A -t -U postgres -d postgres -c \"{sql}\"").strip()


def test_odoo_connects_as_a_role_that_is_not_a_superuser(deployed: Boot) -> None:
    user, database = deployed.deploy.postgres.user, deployed.deploy.odoo.database
    assert _psql(deployed, f"SELECT rolsuper, rolcreaterole, rolcreatedb FROM pg_roles WHERE rolname = '{user}'") \
        == "f|f|t"
    assert _psql(deployed, f"SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = '{database}'") == user
    # The superuser has no password left: only the container's own socket lets it in.
    assert _psql(deployed, "SELECT rolpassword IS NULL FROM pg_authid WHERE rolname = 'postgres'") == "t"
    # Odoo created its database at install, so the owner above is who Odoo connected as.
    conf = deployed.read(f"{STACK}/odoo.conf") or ""
    assert f"db_user = {user}\n" in conf


def test_redis_is_absent_by_default(deployed: Boot) -> None:
    compose = deployed.read(f"{STACK}/docker-compose.yml") or ""
    assert "  odoo:\n" in compose and "  redis:\n" not in compose
    assert deployed.sh("docker ps -a --format '{{.Image}}' | grep -c redis || true").strip() == "0"


def test_sshd_forwarding_off_root_by_key_only(deployed: Boot) -> None:
    effective = dict(line.split(" ", 1) for line in deployed.sh("sshd -T").splitlines() if " " in line)
    assert effective["x11forwarding"] == "no"
    assert effective["allowtcpforwarding"] == "no"
    assert effective["allowagentforwarding"] == "no"
    assert effective["permitrootlogin"] == "without-password"  # how sshd -T spells prohibit-password
    assert effective["passwordauthentication"] == "no"


def test_no_default_user_with_sudo_and_security_updates_on(deployed: Boot) -> None:
    assert deployed.exec("getent", "passwd", "debian").returncode == 2  # no such user
    logins = deployed.sh("awk -F: '$3 >= 1000 && $3 < 65534 {print $1}' /etc/passwd").split()
    assert logins == []
    nopasswd = deployed.exec("grep", "-rlE", "^[^#]*NOPASSWD", "/etc/sudoers", "/etc/sudoers.d")
    assert nopasswd.returncode == 1 and nopasswd.stdout == ""
    assert "install ok installed" in deployed.sh("dpkg-query -W -f '${Status}' unattended-upgrades")
    periodic = deployed.sh("apt-config dump | grep '^APT::Periodic::'")
    assert 'APT::Periodic::Unattended-Upgrade "1";' in periodic


# ---------------------------------------------------------------- Redis, when enabled


@pytest.fixture(scope="module")
def redis_image() -> Iterator[str]:
    """This branch's redis stand-in (the shared registry's may predate it), built on the host for this module."""
    ref = f"odl-e2e-harden/redis:{os.getpid()}"
    build = subprocess.run(["docker", "build", "-q", "-t", ref, "--build-arg", "BASE=odl/debian-minbase:12",
                            str(REDIS_CONTEXT)], capture_output=True, text=True, timeout=900,
                           env={**os.environ, "DOCKER_BUILDKIT": "0"})
    assert build.returncode == 0, build.stderr[-2000:]
    try:
        yield ref
    finally:
        subprocess.run(["docker", "rmi", "-f", ref], capture_output=True, timeout=120)


def test_an_enabled_redis_refuses_a_client_without_the_password(deployed: Boot, redis_image: str) -> None:
    """The compose file's redis service as rendered for `redis.enabled: true`, run on the droplet beside the
    stack (a project of its own), with the stand-in loaded as `redis:7`."""
    b = deployed
    save = subprocess.Popen(["docker", "save", redis_image], stdout=subprocess.PIPE)
    load = subprocess.run(["docker", "exec", "-i", db.container_name(b.droplet_id), "docker", "load", "-q"],
                          stdin=save.stdout, capture_output=True, text=True, timeout=600)
    assert save.wait(timeout=120) == 0 and load.returncode == 0, load.stderr
    deploy = dataclasses.replace(b.deploy, project="redisprobe", redis=RedisSpec(enabled=True, image=redis_image))
    spec = compose_spec(deploy, deploy.image_ref())
    spec["services"] = {"redis": spec["services"]["redis"]}
    spec["secrets"] = {"redis_password": spec["secrets"]["redis_password"]}
    spec["volumes"] = {"redis-data": {}}
    d = "/root/redisprobe"
    b.exec("install", "-d", "-m", "0700", d, check=True)
    b.run_bytes("sh", "-c", f"cat > {d}/docker-compose.yml", stdin=dump(spec).encode())
    b.sh(f"umask 077; head -c 24 /dev/urandom | base64 | tr -d '/+=' > {d}/redis_password")
    compose = f"docker compose -p {project_name(deploy)} -f {d}/docker-compose.yml"
    try:
        up = b.exec("bash", "-c", f"{compose} up -d --wait redis", timeout=300)
        assert up.returncode == 0, up.stderr[-2000:]
        name = b.sh(f"{compose} ps -q redis").strip()
        anonymous = b.exec("docker", "exec", name, "redis-cli", "ping")
        assert "NOAUTH" in anonymous.stdout + anonymous.stderr and "PONG" not in anonymous.stdout
        authed = b.sh(f"docker exec {name} sh -c 'REDISCLI_AUTH=\"$(cat /run/secrets/redis_password)\" "
                      "redis-cli config get protected-mode'")
        assert authed.split() == ["protected-mode", "yes"]
        # The password is on no command line (the container's processes, seen from the droplet).
        password = b.sh(f"cat {d}/redis_password").strip()
        assert password and password not in b.sh("ps -eo args --no-headers")
        assert password not in b.sh(f"docker inspect {name}")
        # Internal network only, and the metadata service out of its reach too.
        assert not _connects(b, name, "0", "169.254.169.254", 80)
        assert _connects(b, name, "0", "127.0.0.1", 6379)
    finally:
        b.exec("bash", "-c", f"{compose} down -v --remove-orphans", timeout=300)
        b.exec("docker", "rmi", "-f", redis_image, timeout=120)

