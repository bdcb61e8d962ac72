"""Typed facts doctor reasons about: what the droplet's commands printed, parsed, and what the outside
probes saw. Plain frozen dataclasses; `None` means "not gathered" (the command failed or was not run),
which the checks report as such instead of guessing."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import StrEnum

from builder.doctor.target import DoctorTarget


@dataclass(frozen=True)
class CommandOutput:
    """What one command printed (the SSH channel fills these; `returncode` 255 is ssh's own failure)."""

    returncode: int
    stdout: str = ""
    stderr: str = ""


# --- inside the droplet -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ServiceState:
    """One compose service's container: `docker compose ps` joined with `docker inspect`."""

    service: str
    name: str
    state: str  # running, restarting, exited, created, paused, dead, "" (no container)
    health: str = ""  # healthy, unhealthy, starting, "" (no healthcheck)
    restart_count: int = 0
    exit_code: int | None = None
    oom_killed: bool = False
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None
    status_text: str = ""  # compose's "Up 3 minutes (healthy)" / "Restarting (1) 4 seconds ago"
    health_log: str = ""  # the last healthcheck output, first line


@dataclass(frozen=True)
class Socket:
    address: str  # 127.0.0.1, 0.0.0.0, ::, *
    port: int
    process: str = ""  # ss -p: the first process name, e.g. docker-proxy


@dataclass(frozen=True)
class NginxTest:
    ok: bool
    lines: tuple[str, ...]  # nginx -t's own lines ("... syntax is ok", "[emerg] ...")


@dataclass(frozen=True)
class Upstream:
    name: str
    servers: tuple[tuple[str, int], ...]  # (host, port)


@dataclass(frozen=True)
class Location:
    path: str  # as written after `location` (modifier included: "^~ /.well-known/acme-challenge/")
    proxy_pass: str | None  # "http://odoo_gevent" or "http://127.0.0.1:8072"
    proxy_read_timeout: int | None  # seconds, when set in the location itself
    headers: tuple[str, ...]  # proxy_set_header names (lower case)
    has_upgrade: bool  # proxy_set_header Upgrade ... (websocket)


@dataclass(frozen=True)
class NginxSite:
    upstreams: tuple[Upstream, ...]
    locations: tuple[Location, ...]  # of the server blocks that proxy (the TLS server)
    server_read_timeout: int | None  # proxy_read_timeout at server (or http) level
    server_headers: tuple[str, ...]  # proxy_set_header names at server level

    def upstream(self, name: str) -> Upstream | None:
        return next((u for u in self.upstreams if u.name == name), None)

    def location(self, path: str) -> Location | None:
        return next((loc for loc in self.locations if loc.path.split()[-1] == path), None)

    def proxied(self) -> tuple[Location, ...]:
        return tuple(loc for loc in self.locations if loc.proxy_pass)

    def backend_ports(self, loc: Location) -> tuple[int, ...]:
        """The ports a location proxies to: through a named upstream or directly."""
        target = (loc.proxy_pass or "").split("://", 1)[-1].split("/", 1)[0]
        up = self.upstream(target)
        if up:
            return tuple(p for _, p in up.servers)
        host, _, port = target.rpartition(":")
        return (int(port),) if host and port.isdigit() else ()

    def read_timeout(self, loc: Location) -> int:
        """The proxy_read_timeout that applies to a location (nginx's default is 60 s)."""
        if loc.proxy_read_timeout is not None:
            return loc.proxy_read_timeout
        return self.server_read_timeout if self.server_read_timeout is not None else 60

    def sets_header(self, loc: Location, header: str) -> bool:
        """Whether requests through `loc` carry `header`: one proxy_set_header in a location drops every
        server-level one, so the server's count only when the location sets none."""
        own = loc.headers
        return header.lower() in (own if own else self.server_headers)


@dataclass(frozen=True)
class OdooConf:
    """The odoo.conf options doctor reads (Odoo's own defaults where the file is silent)."""

    proxy_mode: bool = False
    workers: int = 0
    http_port: int = 8069
    gevent_port: int = 8072
    limit_time_real: int = 120
    limit_time_cpu: int = 60
    limit_memory_soft: int = 2048 * 1024 * 1024
    limit_memory_hard: int = 2560 * 1024 * 1024
    db_name: str = ""
    db_maxconn: int = 64


@dataclass(frozen=True)
class Disk:
    mount: str
    size: int  # bytes
    used: int
    available: int
    use_percent: int


@dataclass(frozen=True)
class Memory:
    total: int  # bytes
    available: int
    swap_total: int = 0
    swap_used: int = 0


@dataclass(frozen=True)
class PgConnections:
    used: int
    max_connections: int
    reserved: int = 3  # superuser_reserved_connections: not for Odoo's role

    @property
    def available(self) -> int:
        return self.max_connections - self.reserved - self.used


@dataclass(frozen=True)
class ModuleState:
    name: str
    state: str  # to install, to upgrade, to remove


@dataclass(frozen=True)
class DeployStatus:
    """The agent's last deploy_status.json, the parts doctor shows."""

    path: str
    deploy_id: str
    status: str  # success, failed, rolled_back, ...
    failing_gates: tuple[tuple[str, str], ...]  # (gate, detail) of the deciding attempt
    previous_tag: str = ""  # the rollback target the agent knew
    odoo_tag: str = ""
    error_message: str = ""


class LogKind(StrEnum):
    # nginx error log (ngx_http_upstream.c, ngx_event_connect.c)
    UPSTREAM_REFUSED = "upstream_refused"  # connect() failed (111: Connection refused)
    UPSTREAM_TIMEOUT = "upstream_timeout"  # upstream timed out (110: Connection timed out)
    UPSTREAM_CLOSED = "upstream_closed"  # upstream prematurely closed connection / reset by peer
    NO_LIVE_UPSTREAMS = "no_live_upstreams"
    # Odoo's log (odoo/sql_db.py, odoo/service/server.py, odoo/modules/loading.py, odoo/modules/registry.py)
    DB_CONNECTION = "db_connection"
    DB_POOL_FULL = "db_pool_full"
    WORKER_MEMORY = "worker_memory"  # soft limit reached (recycled) or MemoryError (hard limit)
    WORKER_CPU = "worker_cpu"  # CPU time limit reached
    WORKER_TIMEOUT = "worker_timeout"  # killed by the master after limit_time_real
    MODULES_NOT_LOADED = "modules_not_loaded"
    MODULES_INCONSISTENT = "modules_inconsistent"
    REGISTRY_FAILED = "registry_failed"
    WEBSOCKET_WRONG_PORT = "websocket_wrong_port"  # /websocket reached the HTTP port with workers > 0
    # any log on the droplet
    NO_SPACE = "no_space"  # ENOSPC: "No space left on device"


@dataclass(frozen=True)
class LogEvent:
    kind: LogKind
    line: str  # the line itself, trimmed
    upstream: str = ""  # nginx: "127.0.0.1:8070" (host:port the request went to)
    at: dt.datetime | None = None  # when it was written (UTC), when the line says


# --- outside the droplet (probed by the shell through the edge; here as facts) -------------------------


@dataclass(frozen=True)
class HttpProbe:
    url: str
    status: int  # 0: no HTTP answer
    location: str = ""  # the Location header of a redirect
    body: str = ""  # the first few hundred characters
    error: str = ""  # refused, timed out, TLS error


@dataclass(frozen=True)
class HealthProbe(HttpProbe):
    db_server_status: bool | None = None  # /web/health?db_server_status=1's JSON field


@dataclass(frozen=True)
class LoginProbe(HttpProbe):
    has_login_form: bool = False


@dataclass(frozen=True)
class CertificateFacts:
    not_after: dt.datetime
    names: tuple[str, ...]  # subjectAltName DNS names
    issuer: str = ""


@dataclass(frozen=True)
class ReservedIpFacts:
    ip: str
    holder_id: int | None  # the droplet the reserved IP is assigned to, None when unassigned


@dataclass(frozen=True)
class DnsFacts:
    name: str
    targets: tuple[str, ...]  # A records


@dataclass(frozen=True)
class EdgeFacts:
    """What the shell saw from outside: through the reserved IP, or the droplet's own address."""

    health: HealthProbe | None = None
    login: LoginProbe | None = None
    websocket: HttpProbe | None = None  # the /websocket handshake with Origin: 101 expected
    http_redirect: HttpProbe | None = None  # http://DOMAIN/ : 301 to https://
    odoo_redirect: HttpProbe | None = None  # a redirect Odoo itself made through the edge (its scheme)
    certificate: CertificateFacts | None = None
    reserved_ip: ReservedIpFacts | None = None
    dns: DnsFacts | None = None


# --- all of it -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DoctorFacts:
    target: DoctorTarget
    now: dt.datetime  # when the facts were gathered (UTC): certificate expiry and uptimes are against it
    services: tuple[ServiceState, ...] | None = None
    odoo_sockets: tuple[Socket, ...] | None = None  # listening, inside the odoo container
    host_sockets: tuple[Socket, ...] | None = None  # listening, on the droplet
    nginx_test: NginxTest | None = None
    nginx_site: NginxSite | None = None
    nginx_events: tuple[LogEvent, ...] | None = None
    odoo_events: tuple[LogEvent, ...] | None = None
    db_events: tuple[LogEvent, ...] | None = None
    odoo_conf: OdooConf | None = None
    pg_ready: bool | None = None
    pg_ready_text: str = ""
    pg_connections: PgConnections | None = None
    pending_modules: tuple[ModuleState, ...] | None = None
    disks: tuple[Disk, ...] | None = None
    memory: Memory | None = None
    deploy_status: DeployStatus | None = None
    edge: EdgeFacts = field(default_factory=EdgeFacts)
    # command name -> why its output could not be used (failed, unparsable): shown beside the checks
    errors: tuple[tuple[str, str], ...] = ()

    def service(self, name: str) -> ServiceState | None:
        return next((s for s in self.services or () if s.service == name), None)

    def error(self, command: str) -> str:
        return next((why for name, why in self.errors if name == command), "")
