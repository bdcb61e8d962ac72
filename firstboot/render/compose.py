"""docker-compose.yml and its env file (odoo.env) for one droplet. Pure.

Written against the official images' interfaces (odoo:18.0 from github.com/odoo/docker, postgres,
redis), never against the local cloud's stand-ins. Layout (DESIGN.md, /etc/odoo-droplet/stack/):
docker-compose.yml, odoo.conf and odoo.env side by side; relative paths below are relative to it.

Security shape: PostgreSQL and Redis sit on an `internal: true` network only (no route out, no
published port); Odoo joins that network and a normal one, so its two ports can be published, on
127.0.0.1 only, for nginx. Secrets never appear in the compose file nor in any container's environment (`docker inspect`):
the PostgreSQL password is a compose secret file, Odoo reads its own from odoo.conf.

Odoo is not PostgreSQL's superuser: the official image makes POSTGRES_USER a superuser, so that is
`postgres`, and an init script (/docker-entrypoint-initdb.d, run once on the first start) creates
Odoo's own login role (`postgres.user`, NOSUPERUSER NOCREATEROLE, CREATEDB because Odoo creates its
database at install, and again after a rollback dropped it) with DB_PASSWORD, then takes the
superuser's password away (it logs in over the container's own Unix socket only).

Redis is absent unless `redis.enabled`; then it requires a password (a compose secret file the agent
generates), protected mode is on, and its configuration (password included) reaches redis-server on
its standard input, never on a command line.
"""

from __future__ import annotations

import re
import shlex
from typing import Any

from firstboot.config import Deploy, Secrets
from firstboot.render.odoo_conf import GEVENT_PORT, HTTP_PORT, SELFHOST_DB_HOST
from firstboot.render.yaml_text import dump

ENV_FILE = "odoo.env"
CONF_FILE = "odoo.conf"
# The PostgreSQL password as a compose secret (a bind-mounted file, 0600 root on the host): the official
# postgres entrypoint reads POSTGRES_PASSWORD_FILE as root before dropping privileges. An environment
# variable would show in `docker inspect`; Odoo gets the password from odoo.conf (0600, its own uid).
DB_PASSWORD_FILE = "db_password"
DB_PASSWORD_SECRET = "db_password"
# The official image's superuser (POSTGRES_USER); Odoo's own role is `postgres.user`, never this one.
PG_SUPERUSER = "postgres"
# The init script, mounted read-only into /docker-entrypoint-initdb.d (no secret in it).
DB_INIT_DIR = "initdb"
DB_INIT_SCRIPT = "10-odoo-role.sh"
# Redis's password as a compose secret (0600 root on the host; read as root inside the container).
REDIS_PASSWORD_FILE = "redis_password"
REDIS_PASSWORD_SECRET = "redis_password"
_REDIS_AUTH = f'REDISCLI_AUTH="$(cat /run/secrets/{REDIS_PASSWORD_SECRET})"'
# The container's command: the configuration on redis-server's stdin (`redis-server -`), through the image's
# own entrypoint (which drops to the redis user). The password is read as root from the secret file into a
# here-document; `exec` keeps redis-server the container's main process (it gets docker stop's SIGTERM).
REDIS_COMMAND = (
    "exec docker-entrypoint.sh redis-server - <<EOF\n"
    f'requirepass "$(cat /run/secrets/{REDIS_PASSWORD_SECRET})"\n'
    "protected-mode yes\n"
    "EOF\n"
)
BACKEND = "backend"
FRONTEND = "frontend"
# The maintenance database: the official images' convention. Odoo creates its own database (with
# the C collation it wants) on `odoo -d DB -i base`.
POSTGRES_MAINTENANCE_DB = "postgres"

# Odoo's own health route; `db_server_status=1` makes it fail (500) when PostgreSQL is unreachable,
# which plain /web/health does not. curl is in the official odoo:18.0 image (its Dockerfile
# installs it); -f turns the 500 into a failing exit status.
ODOO_HEALTH_URL = f"http://127.0.0.1:{HTTP_PORT}/web/health?db_server_status=1"

_LOGGING = {"driver": "json-file", "options": {"max-size": "10m", "max-file": "3"}}


def project_name(deploy: Deploy) -> str:
    """Compose project names allow lowercase letters, digits, '-' and '_' only."""
    name = re.sub(r"[^a-z0-9_-]+", "-", deploy.project.lower()).strip("-_")
    return name or "odoo"


def _no_interpolation(value: Any) -> Any:
    """Compose expands $VAR in every string of the file; ours are literal, so '$' becomes '$$'."""
    if isinstance(value, str):
        return value.replace("$", "$$")
    if isinstance(value, list):
        return [_no_interpolation(v) for v in value]
    if isinstance(value, dict):
        return {k: _no_interpolation(v) for k, v in value.items()}
    return value


def compose_spec(deploy: Deploy, image_ref: str) -> dict[str, Any]:
    """The compose file as data (what `render_compose` writes), for callers and tests."""
    selfhost = deploy.postgres.mode == "selfhost"
    redis = deploy.redis.enabled
    backend = selfhost or redis
    if selfhost:
        _check_role(deploy.postgres.user)

    depends_on: dict[str, Any] = {}
    if selfhost:
        depends_on["db"] = {"condition": "service_healthy"}
    if redis:
        depends_on["redis"] = {"condition": "service_healthy"}

    odoo: dict[str, Any] = {
        "image": image_ref,
        "restart": "unless-stopped",
        "env_file": [ENV_FILE],
    }
    if depends_on:
        odoo["depends_on"] = depends_on
    odoo.update(
        {
            "volumes": [
                "odoo-data:/var/lib/odoo",
                f"./{CONF_FILE}:/etc/odoo/odoo.conf:ro",
                "odoo-addons:/mnt/extra-addons",
            ],
            # nginx on the host is the only way in.
            "ports": [f"127.0.0.1:{HTTP_PORT}:{HTTP_PORT}", f"127.0.0.1:{GEVENT_PORT}:{GEVENT_PORT}"],
            "healthcheck": {
                "test": ["CMD", "curl", "-fsS", "-o", "/dev/null", "--max-time", "4", ODOO_HEALTH_URL],
                # Docker 20.10 (Debian 12) runs the first check one interval after the start (no
                # start_interval): the agent's container_up gate waits on it, so 10s made every first boot
                # ~5 s slower than Odoo itself (seen in bench/firstboot_bench.py). Same 60 s to unhealthy.
                "interval": "5s",
                "timeout": "5s",
                "retries": 12,
                "start_period": "60s",
            },
            "networks": ([BACKEND] if backend else []) + [FRONTEND],
            "logging": _LOGGING,
        }
    )
    services: dict[str, Any] = {"odoo": odoo}
    volumes: dict[str, Any] = {"odoo-data": {}, "odoo-addons": {}}

    if selfhost:
        services["db"] = {
            "image": deploy.postgres.image,
            "restart": "unless-stopped",
            "env_file": [ENV_FILE],
            "secrets": [DB_PASSWORD_SECRET],
            "volumes": [
                "pg-data:/var/lib/postgresql/data",
                f"./{DB_INIT_DIR}/{DB_INIT_SCRIPT}:/docker-entrypoint-initdb.d/{DB_INIT_SCRIPT}:ro",
            ],
            "healthcheck": {
                # Over TCP: while the image runs its init scripts, its temporary server listens on the
                # Unix socket only, so a socket check would call it ready before the real start.
                "test": [
                    "CMD",
                    "pg_isready",
                    "-h",
                    "127.0.0.1",
                    "-p",
                    "5432",
                    "-U",
                    deploy.postgres.user,
                    "-d",
                    POSTGRES_MAINTENANCE_DB,
                ],
                "interval": "5s",
                "timeout": "5s",
                "retries": 12,
                "start_period": "30s",
            },
            "networks": [BACKEND],
            "logging": _LOGGING,
        }
        volumes["pg-data"] = {}

    if redis:
        services["redis"] = {
            "image": deploy.redis.image,
            "restart": "unless-stopped",
            "command": ["sh", "-c", REDIS_COMMAND],
            "secrets": [REDIS_PASSWORD_SECRET],
            "volumes": ["redis-data:/data"],
            "healthcheck": {
                # redis-cli exits 0 on some error replies (LOADING, NOAUTH): look for the PONG itself. The
                # password goes in redis-cli's environment (REDISCLI_AUTH), not on its command line.
                "test": ["CMD-SHELL", f"{_REDIS_AUTH} redis-cli ping | grep -q PONG"],
                "interval": "5s",
                "timeout": "5s",
                "retries": 12,
            },
            "networks": [BACKEND],
            "logging": _LOGGING,
        }
        volumes["redis-data"] = {}

    networks: dict[str, Any] = {}
    if backend:
        networks[BACKEND] = {"internal": True}
    networks[FRONTEND] = {}

    spec: dict[str, Any] = {
        "name": project_name(deploy),
        "services": services,
        "networks": networks,
        "volumes": volumes,
    }
    secrets: dict[str, Any] = {}
    if selfhost:
        secrets[DB_PASSWORD_SECRET] = {"file": f"./{DB_PASSWORD_FILE}"}
    if redis:
        secrets[REDIS_PASSWORD_SECRET] = {"file": f"./{REDIS_PASSWORD_FILE}"}
    if secrets:
        spec["secrets"] = secrets
    return _no_interpolation(spec)


def render_compose(deploy: Deploy, image_ref: str) -> str:
    """docker-compose.yml (Compose Specification; no `version:` key, which Compose v2 ignores)."""
    header = (
        f"# docker-compose.yml for {deploy.project} {deploy.ship_version}, rendered by odoo-droplet.\n"
        "# Secrets are in odoo.env (0600), never here. Odoo's ports bind 127.0.0.1 (nginx is the way in);\n"
        "# db and redis are on an internal network with no published port.\n"
    )
    return header + dump(compose_spec(deploy, image_ref))


# --- odoo.env -------------------------------------------------------------------------------------

_BARE = re.compile(r"^[A-Za-z0-9_./:@+,=%-]*$")


def env_value(value: str) -> str:
    """A value Compose's env_file reader gives back unchanged (checked against `docker compose config`).

    Bare when it holds only harmless characters; otherwise double-quoted with \\, " and $ escaped
    (Compose expands ${VAR} in bare and double-quoted values, and in single quotes \\' is an escape
    too, so single quotes are not the literal form they are in a shell).
    """
    if "\n" in value or "\r" in value or "\0" in value:
        raise ValueError("odoo.env: values must be one line")
    if _BARE.match(value):
        return value
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$")
    return f'"{escaped}"'


def redis_ping_command() -> tuple[str, ...]:
    """`redis-cli ping` inside the redis container, authenticated without the password on a command line."""
    return ("sh", "-c", f"{_REDIS_AUTH} exec redis-cli ping")


def _check_role(user: str) -> None:
    if user == PG_SUPERUSER:
        raise ValueError(f"postgres.user may not be {PG_SUPERUSER!r}: that is PostgreSQL's superuser, and Odoo "
                         "connects as a role of its own that is not one")
    if not user or "\0" in user or "\n" in user or "\r" in user:
        raise ValueError("postgres.user must be one line of text")


def render_db_init_script(deploy: Deploy) -> str:
    """/docker-entrypoint-initdb.d/10-odoo-role.sh: run once, by the image's entrypoint on the first start
    (empty data directory), against its socket-only temporary server. Holds no secret: the password is the
    entrypoint's own POSTGRES_PASSWORD (read as root from the secret file), spliced into psql's standard
    input (never its command line). Mounted 0644 so the entrypoint sources it with bash, as the official
    image does with a non-executable .sh."""
    user = deploy.postgres.user
    _check_role(user)
    # The role as an SQL identifier, then as a shell literal: the heredoc below expands variables only, and
    # an expanded value is never expanded again, so no character of the name can change the script.
    role = shlex.quote('"' + user.replace('"', '""') + '"')
    return f"""#!/usr/bin/env bash
# Rendered by odoo-droplet: Odoo's own PostgreSQL role, not a superuser. Runs once, at the first start.
# CREATEDB: Odoo creates its database at install (and again after a rollback dropped it).
# The superuser ({PG_SUPERUSER}) then loses its password: it logs in over the container's Unix socket only.
odl_role={role}
odl_pw=${{POSTGRES_PASSWORD//\\'/\\'\\'}}
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --no-password --no-psqlrc --dbname postgres <<SQL
CREATE ROLE $odl_role LOGIN NOSUPERUSER NOCREATEROLE CREATEDB NOREPLICATION PASSWORD '$odl_pw';
ALTER ROLE "$POSTGRES_USER" PASSWORD NULL;
SQL
unset odl_pw odl_role
"""


def render_db_password_file(secrets: Secrets) -> str:
    """The compose secret file for PostgreSQL (no trailing newline: the entrypoint reads it whole)."""
    return secrets.db_password


def render_compose_env(deploy: Deploy, secrets: Secrets) -> str:
    """odoo.env: the db container's POSTGRES_* (its superuser; Odoo's role is made by the init script) and the
    odoo entrypoint's HOST/PORT/USER; no secret."""
    pg = deploy.postgres
    env: list[tuple[str, str]] = []
    if pg.mode == "selfhost":
        env += [
            ("POSTGRES_USER", PG_SUPERUSER),
            ("POSTGRES_PASSWORD_FILE", f"/run/secrets/{DB_PASSWORD_SECRET}"),
            ("POSTGRES_DB", POSTGRES_MAINTENANCE_DB),
        ]
        host = SELFHOST_DB_HOST
    else:
        if not pg.host:
            raise ValueError("odoo.env: postgres.host is required when postgres.mode is managed")
        host = pg.host
    # No PASSWORD: the entrypoint takes db_password from odoo.conf, where the value wins anyway.
    env += [("HOST", host), ("PORT", str(pg.port)), ("USER", pg.user)]
    if pg.mode == "managed":
        # libpq reads it: the entrypoint's wait-for-psql.py then connects the way Odoo will (TLS).
        env.append(("PGSSLMODE", pg.sslmode))
    lines = [
        "# odoo.env, rendered by odoo-droplet: read by docker compose (env_file). 0600, root only.",
        *(f"{key}={env_value(value)}" for key, value in env),
    ]
    return "\n".join(lines) + "\n"
