"""The read-only commands doctor runs inside a droplet, as data (built here, run by the SSH channel).

Each `Command` is a name (the key its output is parsed under: `gather.parse_all`), an argv tuple and a
timeout. Nothing here writes, restarts, prunes or kills: the seed's `diagnose_502.sh --fix` restarted and
pruned things and so destroyed the evidence an operator needed. `write_risks` states that rule as code
and the unit tests hold every command to it.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass

from builder.doctor.target import DB_SERVICE, ODOO_SERVICE, DoctorTarget

# Command names: the keys of the outputs `parse_all` reads.
COMPOSE_PS = "compose_ps"
DOCKER_INSPECT = "docker_inspect"
ODOO_SOCKETS = "odoo_sockets"
HOST_SOCKETS = "host_sockets"
NGINX_TEST = "nginx_test"
NGINX_SITE = "nginx_site"
NGINX_ERROR_LOG = "nginx_error_log"
ODOO_LOG = "odoo_log"
DB_LOG = "db_log"
ODOO_CONF = "odoo_conf"
PG_READY = "pg_ready"
PG_CONNECTIONS = "pg_connections"
PG_MODULES = "pg_modules"
DISK = "disk"
MEMORY = "memory"
DEPLOY_STATUS = "deploy_status"

# Only the odoo.conf keys doctor reasons about: grep them rather than `cat` the file, so db_password and
# admin_passwd never leave the droplet (the report goes to the proofs in Spaces).
ODOO_CONF_KEYS = (
    "proxy_mode", "workers", "http_port", "gevent_port", "limit_time_real", "limit_time_cpu",
    "limit_memory_soft", "limit_memory_hard", "db_name", "dbfilter", "db_maxconn", "list_db",
)

# psql runs every statement inside a read-only transaction: PostgreSQL itself refuses a write.
READ_ONLY_SQL = "SET default_transaction_read_only = on"
CONNECTIONS_SQL = (
    "SELECT count(*), current_setting('max_connections'), current_setting('superuser_reserved_connections') "
    "FROM pg_stat_activity WHERE backend_type = 'client backend'"
)
# A module row Odoo leaves in one of these states means an install or upgrade did not finish.
PENDING_MODULES_SQL = (
    "SELECT name, state FROM ir_module_module WHERE state IN ('to install', 'to upgrade', 'to remove') "
    "ORDER BY name"
)
_PSQL_OPTS = ("-X", "-q", "-A", "-t", "-F", "|", "-v", "ON_ERROR_STOP=1")

# The newest deploy_status.json under the proofs folder: deploy ids (deploy-YYYYMMDD-HHMMSS) sort by time and
# the shell's glob is sorted, so the last match is the newest. `$1` is the folder (an argument, not spliced).
_LAST_STATUS_SCRIPT = (
    'last=""; for f in "$1"/deploy-*/deploy_status.json; do [ -f "$f" ] && last="$f"; done; '
    '[ -n "$last" ] && echo "$last" && cat "$last"'
)


@dataclass(frozen=True)
class Command:
    name: str
    argv: tuple[str, ...]
    timeout: float = 20.0

    def shell(self) -> str:
        """The one-line form an SSH channel sends (the remote shell splits it back into argv)."""
        return shlex.join(self.argv)


def _psql(target: DoctorTarget, sql: str) -> tuple[str, ...]:
    statements = ("-c", READ_ONLY_SQL, "-c", sql)
    if target.postgres_selfhost:
        return (*target.compose_base, "exec", "-T", DB_SERVICE, "psql", *_PSQL_OPTS,
                "-U", target.db_user, "-d", target.database, *statements)
    # Managed PostgreSQL: no db container. psql runs in the odoo container (the official image has the client)
    # with the password read there from odoo.conf, so it is on no command line (as firstboot's probes do).
    psql = shlex.join(("psql", *_PSQL_OPTS, "-d", target.database, *statements))
    script = (
        'PGPASSWORD="$(sed -n "s/^db_password *= *//p" /etc/odoo/odoo.conf)"; export PGPASSWORD; '
        f'exec {psql} -h "$HOST" -p "$PORT" -U "$USER"'
    )
    return (*target.compose_base, "exec", "-T", ODOO_SERVICE, "sh", "-c", script)


def _pg_isready(target: DoctorTarget) -> tuple[str, ...]:
    if target.postgres_selfhost:
        # Over TCP, as the compose healthcheck does (the socket answers during the image's init scripts).
        return (*target.compose_base, "exec", "-T", DB_SERVICE, "pg_isready", "-h", "127.0.0.1", "-p", "5432",
                "-U", target.db_user, "-d", target.database)
    return (*target.compose_base, "exec", "-T", ODOO_SERVICE, "pg_isready", "-h", target.db_host,
            "-p", str(target.db_port), "-U", target.db_user)


def commands_for(target: DoctorTarget) -> tuple[Command, ...]:
    """Every command doctor runs on the droplet, in the order they are worth running."""
    base = target.compose_base
    n = str(target.log_lines)
    conf_pattern = r"^[[:space:]]*(" + "|".join(ODOO_CONF_KEYS) + r")[[:space:]]*="
    return (
        Command(COMPOSE_PS, (*base, "ps", "-a", "--format", "json")),
        Command(DOCKER_INSPECT, ("docker", "inspect", *(target.container_name(s) for s in target.services))),
        # What Odoo itself listens on, inside its container: on the host, docker-proxy keeps 8069 open even
        # when nothing answers behind it. /proc/net/tcp needs no tool the official image may lack.
        Command(ODOO_SOCKETS, (*base, "exec", "-T", ODOO_SERVICE, "cat", "/proc/net/tcp", "/proc/net/tcp6")),
        Command(HOST_SOCKETS, ("ss", "-ltnp"), 10.0),
        Command(NGINX_TEST, ("nginx", "-t"), 15.0),
        Command(NGINX_SITE, ("cat", target.nginx_site), 10.0),
        Command(NGINX_ERROR_LOG, ("tail", "-n", n, target.nginx_error_log), 10.0),
        # --timestamps: Docker's own time on every line, traceback lines included (Odoo's are on the first).
        Command(ODOO_LOG, (*base, "logs", "--no-color", "--timestamps", "--tail", n, ODOO_SERVICE), 30.0),
        # PostgreSQL's own log, when it runs here: a PANIC on a full disk, a shutdown.
        *([Command(DB_LOG, (*base, "logs", "--no-color", "--timestamps", "--tail", n, DB_SERVICE), 30.0)]
          if target.postgres_selfhost else []),
        Command(ODOO_CONF, ("grep", "-E", conf_pattern, target.odoo_conf), 10.0),
        Command(PG_READY, _pg_isready(target), 15.0),
        Command(PG_CONNECTIONS, _psql(target, CONNECTIONS_SQL), 20.0),
        Command(PG_MODULES, _psql(target, PENDING_MODULES_SQL), 20.0),
        Command(DISK, ("df", "-P", "-B1", *target.disk_paths), 10.0),
        Command(MEMORY, ("free", "-b"), 10.0),
        Command(DEPLOY_STATUS, ("sh", "-c", _LAST_STATUS_SCRIPT, "doctor", target.proofs_dir), 10.0),
    )


# --- the read-only rule, as code -----------------------------------------------------------------------

# A word that changes something when it appears as a command or subcommand (docker, compose, systemctl,
# nginx -s, coreutils). Matched against whole argv tokens and against the words of any `sh -c` script.
WRITE_WORDS = frozenset({
    "restart", "rm", "rmi", "prune", "kill", "pkill", "killall", "stop", "start", "up", "down", "run",
    "create", "pause", "unpause", "reload", "rename", "update", "cp", "mv", "tee", "dd", "truncate",
    "fallocate", "chmod", "chown", "ln", "mkdir", "rmdir", "touch", "install", "systemctl", "service",
    "reboot", "shutdown", "certbot", "apt-get", "apt", "pip",
})
_SQL_READ = re.compile(r"^\s*(SELECT\b|SET default_transaction_read_only = on\s*$)", re.IGNORECASE)
# `>` or `>>` that writes a file: a redirection not into another descriptor (`>&2`) nor /dev/null.
_REDIRECT = re.compile(r"(?<![<>])>{1,2}(?!\s*(&|/dev/null))")
_ALLOWED_COMPOSE = frozenset({"ps", "logs", "exec"})
_ALLOWED_PROGRAMS = frozenset({"cat", "tail", "grep", "ss", "df", "free", "pg_isready", "psql", "nginx",
                               "docker", "sh"})


def _script_words(script: str) -> list[str]:
    try:
        return shlex.split(script.replace(";", " ; "))
    except ValueError:
        return script.split()


def _sh_scripts(argv: tuple[str, ...]) -> list[str]:
    return [argv[i + 1] for i in range(1, len(argv) - 1) if argv[i] == "-c" and argv[i - 1] == "sh"]


def _sql_statements(words: list[str]) -> list[str]:
    """The `-c` arguments given to psql (in argv or inside a script)."""
    if "psql" not in words:
        return []
    rest = words[words.index("psql") + 1:]
    return [rest[i + 1] for i in range(len(rest) - 1) if rest[i] == "-c"]


def _compose_subcommand(argv: tuple[str, ...]) -> tuple[str, tuple[str, ...]]:
    """(`ps`/`logs`/`exec`/..., what follows it) of a `docker compose -p P -f F SUB ...` argv."""
    i = 2
    while i < len(argv) and argv[i] in ("-p", "-f", "--project-name", "--file"):
        i += 2
    return (argv[i], argv[i + 1:]) if i < len(argv) else ("", ())


def write_risks(cmd: Command) -> list[str]:
    """Why this command might change something on the droplet; empty when it only reads."""
    argv = cmd.argv
    if not argv:
        return ["empty command"]
    risks: list[str] = []
    scripts = _sh_scripts(argv)
    words = list(argv)
    for script in scripts:
        words += _script_words(script)
        if _REDIRECT.search(script):
            risks.append(f"a shell redirection writes a file: {script!r}")
    risks += [f"{w!r} changes state" for w in words if w.lower() in WRITE_WORDS]
    if "sed" in words and any(w.startswith("-i") or w == "--in-place" for w in words):
        risks.append("sed -i edits a file")

    program, inner = argv[0], argv[1:]
    if program == "docker" and argv[1:2] == ("compose",):
        sub, rest = _compose_subcommand(argv)
        if sub not in _ALLOWED_COMPOSE:
            risks.append(f"docker compose {sub or '(nothing)'} is not a read")
        if sub == "exec":
            inner = tuple(a for a in rest if a != "-T")[1:]  # past the service name
            program, inner = (inner[0], inner[1:]) if inner else ("", ())
    elif program == "docker" and argv[1:2] != ("inspect",):
        risks.append("docker is only run as `docker inspect`")
    if program not in _ALLOWED_PROGRAMS:
        risks.append(f"{program!r} is not a program doctor reads with")
    if program == "nginx" and inner != ("-t",):
        risks.append("nginx is only run as `nginx -t`")

    sql = _sql_statements(words)
    if sql and sql[0] != READ_ONLY_SQL:
        risks.append("psql without a read-only transaction first")
    risks += [f"SQL that is not a read: {s!r}" for s in sql if not _SQL_READ.match(s)]
    return risks
