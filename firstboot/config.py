"""The deploy settings as the droplet sees them: plain, already-validated data.

The builder validates `deploy.yaml` (builder/settings.py) and hands the droplet `to_dict()` of this
model as JSON; the agent reads it back with `Deploy.from_dict`. Secrets travel apart (`Secrets`),
so a settings file or a proof can be written or logged without leaking one.

This module is the one schema of the settings: the operator-side model (builder/settings.py, pydantic,
which the agent cannot use) takes its field names, choices and defaults from the dataclasses here and
only adds the checks; tests/unit/test_settings_parity.py fails when the two drift apart.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, ClassVar, Literal

REDACTED = "<redacted>"

# The closed choices, named once for both sides (builder/settings.py validates against the same Literals).
WorkersSetting = Literal["auto"] | int
ReservedIpMode = Literal["auto", "address", "none"]
PostgresMode = Literal["selfhost", "managed"]
SslMode = Literal["disable", "prefer", "require", "verify-ca", "verify-full"]
TlsMode = Literal["letsencrypt", "self-signed"]


@dataclass(frozen=True)
class DropletSpec:
    region: str = "nyc3"
    size: str = "s-2vcpu-4gb"
    base_image: str = "debian-12-x64"
    ssh_keys: tuple[str, ...] = ()
    # The operator's private key for the SSH channel (builder/ssh.py); ODL_SSH_KEY in the environment wins.
    ssh_key_file: str | None = None
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class ReservedIpSpec:
    # "auto": the first deploy creates one in the region and records it in Spaces under state/;
    # "address": use `address`; "none": no reserved IP, no IP cutover.
    mode: ReservedIpMode = "none"
    address: str | None = None


@dataclass(frozen=True)
class DnsSpec:
    domain: str  # the zone managed in DigitalOcean, e.g. example.com
    record: str  # the A record's name in that zone, e.g. erp ("@" for the apex)
    ttl: int = 60


@dataclass(frozen=True)
class OdooSpec:
    image: str = "odoo"  # repository, without the registry host
    tag: str = "18.0"
    prior_tag: str | None = None  # the last known good tag, baked into the snapshot for rollback
    modules: tuple[str, ...] = ("base", "web")
    database: str = "odoo"
    workers: WorkersSetting = "auto"
    # The `admin` user's login becomes this e-mail at install (None: the login stays `admin`).
    admin_email: str | None = None


@dataclass(frozen=True)
class PostgresSpec:
    mode: PostgresMode = "selfhost"
    image: str = "postgres:16"
    user: str = "odoo"
    host: str | None = None  # managed only
    port: int = 5432
    sslmode: SslMode = "prefer"  # managed: "require" or stricter


@dataclass(frozen=True)
class RedisSpec:
    # Off by default: Odoo 18 Community does not use Redis by itself. Enable it only for an addon you bring
    # that does (a Redis session store shared by several app droplets, for one). When enabled it requires a
    # password (generated on the droplet), protected mode is on, and it sits on the internal network only.
    enabled: bool = False
    image: str = "redis:7"


@dataclass(frozen=True)
class EdgeSpec:
    domain: str | None = None  # the public host name users type; None: the droplet's IP, self-signed
    tls: TlsMode = "self-signed"
    email: str | None = None  # Let's Encrypt account e-mail
    acme_server: str | None = None  # None: Let's Encrypt production; the local cloud points at pebble


@dataclass(frozen=True)
class SpacesSpec:
    region: str
    bucket: str


@dataclass(frozen=True)
class RegistrySpec:
    host: str = "ghcr.io"  # REGISTRY in the environment overrides it
    username: str | None = None  # None: anonymous pulls
    token_env: str = "REGISTRY_TOKEN"


@dataclass(frozen=True)
class GatesSpec:
    timeout_seconds: int = 600  # whole verify phase, per attempt
    soak_seconds: int = 10  # container_up: restart count must not rise over this window
    probe_timeout_seconds: int = 10  # one HTTP probe
    install_timeout_seconds: int = 1800  # module install


@dataclass(frozen=True)
class BackupsSpec:
    """Backups of a droplet that runs its own PostgreSQL (firstboot/backups.py): a systemd timer on
    `schedule` (an OnCalendar expression, e.g. `daily` or `*-*-* 03:00:00`) takes one and uploads it to
    Spaces under backups/<database>/; retention keeps `daily`/`weekly`/`monthly` scheduled ones, manual
    ones until deleted and pre-upgrade ones `pre_upgrade_days` days (firstboot/backup/retention.py)."""

    enabled: bool = True
    schedule: str = "daily"
    daily: int = 7
    weekly: int = 4
    monthly: int = 3
    pre_upgrade_days: int = 30


# `database.source`: where a new droplet's database comes from. The one list of the words; any other value
# must be a backup id (firstboot/backup/ids.py), checked by `check_database_source` on both sides.
DATABASE_SOURCE_FRESH = "fresh"  # an empty database, `odoo -i` of the modules (the default)
DATABASE_SOURCE_LATEST = "latest"  # the newest complete backup of `odoo.database` in Spaces
DATABASE_SOURCE_WORDS = (DATABASE_SOURCE_FRESH, DATABASE_SOURCE_LATEST)


def check_database_source(value: str) -> str:
    """`fresh`, `latest` or a backup id (`20261202T030000Z-scheduled`); ValueError saying which are allowed."""
    from firstboot.backup.ids import is_backup_id  # standard library only; imported here to keep config light

    if value in DATABASE_SOURCE_WORDS or is_backup_id(value):
        return value
    raise ValueError(f"must be {' or '.join(repr(w) for w in DATABASE_SOURCE_WORDS)} or a backup id such as "
                     "20261202T030000Z-scheduled (see `odoo-droplet backups`)")


@dataclass(frozen=True)
class DatabaseSpec:
    """Where the database of a new droplet comes from (firstboot/steps/restore.py): `fresh`, `latest` (the
    newest complete backup of `odoo.database` in Spaces) or one backup's id. Honoured only when the database
    does not exist yet; a restored database keeps its database.uuid and database.secret ("move")."""

    source: str = DATABASE_SOURCE_FRESH

    def __post_init__(self) -> None:
        check_database_source(self.source)

    @property
    def restores(self) -> bool:
        return self.source != DATABASE_SOURCE_FRESH


@dataclass(frozen=True)
class Endpoints:
    """Where the droplet's clients talk to. The builder fills them from DIGITALOCEAN_API_URL and
    SPACES_ENDPOINT (the local cloud's, or DigitalOcean's when unset)."""

    api_url: str = "https://api.digitalocean.com"
    spaces_endpoint: str | None = None  # None: https://{spaces.region}.digitaloceanspaces.com

    def spaces_url(self, region: str) -> str:
        return self.spaces_endpoint or f"https://{region}.digitaloceanspaces.com"


@dataclass(frozen=True)
class BuildInfo:
    """What was deployed, for the proofs: the project's git commit and ref."""

    git_sha: str = "0" * 40
    git_ref: str = "main"


@dataclass(frozen=True)
class Deploy:
    project: str = "odoo"
    ship_version: str = "1.0.0"
    droplet: DropletSpec = field(default_factory=DropletSpec)
    reserved_ip: ReservedIpSpec = field(default_factory=ReservedIpSpec)
    dns: DnsSpec | None = None
    odoo: OdooSpec = field(default_factory=OdooSpec)
    postgres: PostgresSpec = field(default_factory=PostgresSpec)
    redis: RedisSpec = field(default_factory=RedisSpec)
    edge: EdgeSpec = field(default_factory=EdgeSpec)
    spaces: SpacesSpec | None = None
    registry: RegistrySpec = field(default_factory=RegistrySpec)
    gates: GatesSpec = field(default_factory=GatesSpec)
    backups: BackupsSpec = field(default_factory=BackupsSpec)
    database: DatabaseSpec = field(default_factory=DatabaseSpec)
    endpoints: Endpoints = field(default_factory=Endpoints)
    build: BuildInfo = field(default_factory=BuildInfo)
    # Set by `odoo-droplet droplet` (deploy-YYYYMMDD-HHMMSS, also the droplet's tag) so the operator can follow
    # proofs/<deploy_id>/status.json in Spaces; None on a console-made droplet: the agent makes one up.
    deploy_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Deploy:
        """The one way code builds a Deploy from data (the droplet's JSON, or the operator's settings
        reshaped by builder/settings.py `to_deploy`): unknown keys are refused, lists become tuples."""
        deploy: Deploy = _build(cls, data)
        return deploy

    def image_ref(self, registry_host: str | None = None, tag: str | None = None) -> str:
        host = registry_host or self.registry.host
        return f"{host}/{self.odoo.image}:{tag or self.odoo.tag}"

    def with_tag(self, tag: str) -> Deploy:
        return replace(self, odoo=replace(self.odoo, tag=tag))


_NESTED: dict[str, type] = {
    "droplet": DropletSpec,
    "reserved_ip": ReservedIpSpec,
    "dns": DnsSpec,
    "odoo": OdooSpec,
    "postgres": PostgresSpec,
    "redis": RedisSpec,
    "edge": EdgeSpec,
    "spaces": SpacesSpec,
    "registry": RegistrySpec,
    "gates": GatesSpec,
    "backups": BackupsSpec,
    "database": DatabaseSpec,
    "endpoints": Endpoints,
    "build": BuildInfo,
}


def _build(cls: type, data: dict[str, Any]) -> Any:
    names = {f.name for f in fields(cls)}
    unknown = set(data) - names
    if unknown:
        raise ValueError(f"{cls.__name__}: unknown keys {sorted(unknown)}")
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        if cls is Deploy and key in _NESTED and value is not None:
            value = _build(_NESTED[key], value)
        elif isinstance(value, list):
            value = tuple(value)
        kwargs[key] = value
    return cls(**kwargs)


@dataclass(frozen=True)
class Secrets:
    """Secret values, from the environment (operator) or a 0600 file (droplet). Never logged.

    `from_env` is the one constructor code uses (tests may still spell out the fields)."""

    db_password: str
    admin_passwd: str
    do_token: str | None = None
    spaces_key: str | None = None
    spaces_secret: str | None = None
    registry_token: str | None = None
    # The `admin` user's password, set at install (never Odoo's default `admin`). The builder generates one
    # when the operator gives none; a droplet without user-data generates its own.
    odoo_admin_password: str | None = None
    # The droplet's own token (custom scopes reserved_ip:update, domain:update, droplet:read): what the droplet
    # receives in place of the operator's DIGITALOCEAN_TOKEN (builder/userdata.py); unset: the operator's goes.
    droplet_token: str | None = None

    # The variable each value is read from and written to (secrets.env on the droplet keeps these names,
    # whatever `registry.token_env` the operator's environment uses).
    ENV_NAMES: ClassVar[dict[str, str]] = {
        "db_password": "DB_PASSWORD",
        "admin_passwd": "ADMIN_PASSWD",
        "do_token": "DIGITALOCEAN_TOKEN",
        "spaces_key": "SPACES_KEY",
        "spaces_secret": "SPACES_SECRET",
        "registry_token": "REGISTRY_TOKEN",
        "odoo_admin_password": "ODOO_ADMIN_PASSWORD",
        "droplet_token": "DROPLET_TOKEN",
    }

    def values(self) -> list[str]:
        """Every secret value set, for redaction and for tests that search output for leaks."""
        return [v for v in asdict(self).values() if v]

    def redacted(self) -> Secrets:
        # Every field is a str; an unset optional one stays None (dataclasses.replace keeps the types).
        return replace(self, **{k: (REDACTED if v else None) for k, v in asdict(self).items() if k not in ("db_password", "admin_passwd")},
                       db_password=REDACTED if self.db_password else "", admin_passwd=REDACTED if self.admin_passwd else "")

    def to_env(self) -> dict[str, str]:
        return {self.ENV_NAMES[k]: v for k, v in asdict(self).items() if v}

    @classmethod
    def from_env(cls, env: Mapping[str, str], *, registry_token_env: str = "REGISTRY_TOKEN") -> Secrets:
        """The secrets in `env` (the operator's environment, or the droplet's secrets.env). An unset or empty
        value is None; the two passwords, which every deploy has, are "" when unset (the builder refuses that
        before anything is made). `registry_token_env`: where the operator keeps the registry token
        (`registry.token_env` in the settings)."""
        names = {**cls.ENV_NAMES, "registry_token": registry_token_env}
        value = {key: env.get(name) or None for key, name in names.items()}
        return cls(
            db_password=value["db_password"] or "",
            admin_passwd=value["admin_passwd"] or "",
            do_token=value["do_token"],
            spaces_key=value["spaces_key"],
            spaces_secret=value["spaces_secret"],
            registry_token=value["registry_token"],
            odoo_admin_password=value["odoo_admin_password"],
            droplet_token=value["droplet_token"],
        )

    def redact(self, text: str) -> str:
        """Replace every secret value in `text` (longest first, so no partial value survives)."""
        for value in sorted(self.values(), key=len, reverse=True):
            text = text.replace(value, REDACTED)
        return text


@dataclass(frozen=True)
class Resources:
    """What the droplet really has (or, for previews, what its size slug promises)."""

    vcpus: int
    memory_mb: int
    disk_gb: int = 25
