"""deploy.yaml: the operator's settings, validated so that every problem is reported at once.

Unknown keys are errors (typos are caught), values are checked against DigitalOcean's and Odoo's rules,
and the result is converted into `firstboot.config.Deploy`, the plain data the droplet receives.
Secrets are never in this file: see builder/secrets_env.py.

One schema: the droplet-side dataclasses in firstboot/config.py hold the field names, the closed choices
and the defaults (the agent cannot use pydantic); the models here repeat the names, take every default
from there (`fc.OdooSpec.tag` is the dataclass field's default) and add the operator-facing checks.
tests/unit/test_settings_parity.py holds the two together. The file itself is read by
builder/settings_file.py, which refuses what could stall or crash the tool.
"""

from __future__ import annotations

import ipaddress
import re
import reprlib
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from builder.settings_file import Refused, load_yaml, read_text
from firstboot import config as fc
from firstboot.sizes import SIZES
from firstboot.workers import SizeTooSmall, plan_for_slug

# DigitalOcean's datacenter regions (GET /v2/regions).
REGIONS = ("nyc1", "nyc2", "nyc3", "sfo1", "sfo2", "sfo3", "ams2", "ams3", "sgp1", "lon1", "fra1", "tor1",
           "blr1", "syd1", "atl1")
SPACES_REGIONS = ("nyc3", "sfo2", "sfo3", "ams3", "sgp1", "fra1", "syd1", "blr1", "lon1", "tor1", "atl1")

_HOSTNAME = r"([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)+"
Hostname = Annotated[str, Field(pattern=rf"^{_HOSTNAME}$", max_length=253)]
ImageTag = Annotated[str, Field(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")]
# An Odoo technical module name (the folder name): lower-case letters, digits and underscores.
ModuleName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
Repository = Annotated[str, Field(pattern=r"^[a-z0-9]+([._-][a-z0-9]+)*(/[a-z0-9]+([._-][a-z0-9]+)*)*$")]
ImageRef = Annotated[str, Field(pattern=r"^[a-z0-9]+([._/-][a-z0-9]+)*(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?$")]
EnvName = Annotated[str, Field(pattern=r"^[A-Z_][A-Z0-9_]*$")]


class _Strict(BaseModel):
    # validate_default: the defaults come from firstboot/config.py, so they must pass the checks here too.
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, validate_default=True)


# Every default below is the droplet-side dataclass's own (a frozen dataclass keeps its field defaults as
# class attributes); lists are YAML's sequences, which the droplet side keeps as tuples.
class DropletSettings(_Strict):
    region: Literal[REGIONS] = fc.DropletSpec.region  # type: ignore[valid-type]  # a tuple of names unpacked into Literal: pydantic reads it, mypy cannot
    size: str = fc.DropletSpec.size
    base_image: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9.-]*$")] = fc.DropletSpec.base_image
    # SSH keys by fingerprint (aa:bb:...) or numeric id, as GET /v2/account/keys lists them.
    ssh_keys: list[Annotated[str, Field(pattern=r"^([0-9a-f]{2}(:[0-9a-f]{2}){15}|[0-9]+)$")]] = list(
        fc.DropletSpec.ssh_keys)
    # The private key `doctor`, `logs`, `exec` and backups reach the droplet with (the public key must be one of
    # `ssh_keys`, or the local cloud's own); the environment's ODL_SSH_KEY wins.
    ssh_key_file: str | None = fc.DropletSpec.ssh_key_file
    tags: list[Annotated[str, Field(pattern=r"^[A-Za-z0-9_:-]{1,255}$")]] = list(fc.DropletSpec.tags)

    @field_validator("size")
    @classmethod
    def _known_size_that_fits(cls, size: str) -> str:
        if size not in SIZES:
            near = ", ".join(s for s in SIZES if s.startswith(size.split("-")[0] + "-"))[:200]
            raise ValueError(f"unknown DigitalOcean size slug; known ones include: {near or ', '.join(SIZES)}")
        try:
            plan_for_slug(size)
        except SizeTooSmall as err:
            raise ValueError(str(err)) from None
        return size


class DnsSettings(_Strict):
    domain: Hostname
    record: Annotated[str, Field(pattern=r"^(@|[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)$")]
    ttl: Annotated[int, Field(ge=30, le=86400)] = fc.DnsSpec.ttl


class OdooSettings(_Strict):
    image: Repository = fc.OdooSpec.image
    tag: ImageTag = fc.OdooSpec.tag
    prior_tag: ImageTag | None = fc.OdooSpec.prior_tag
    modules: Annotated[list[ModuleName], Field(min_length=1)] = list(fc.OdooSpec.modules)
    database: Annotated[str, Field(pattern=r"^[a-z_][a-z0-9_]{0,62}$")] = fc.OdooSpec.database
    workers: str | int = fc.OdooSpec.workers
    # The `admin` user's login e-mail, set at install (unset: the login stays `admin`).
    admin_email: Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", max_length=254)] | None = (
        fc.OdooSpec.admin_email)

    @field_validator("workers")
    @classmethod
    def _workers(cls, value: str | int) -> str | int:
        # Two workers at least: with fewer, Odoo has no gevent process and /websocket has no listener.
        if value == "auto" or (isinstance(value, int) and not isinstance(value, bool) and 2 <= value <= 128):
            return value
        raise ValueError("must be 'auto' or a whole number from 2 to 128 (2+ keeps the gevent port 8072)")

    @field_validator("modules")
    @classmethod
    def _no_duplicates(cls, modules: list[str]) -> list[str]:
        # One pass (a count per name): list.count in a loop was quadratic, 23 s for 40k modules.
        dupes = sorted(m for m, n in Counter(modules).items() if n > 1)
        if dupes:
            raise ValueError(f"listed more than once: {', '.join(dupes)}")
        return modules


class PostgresSettings(_Strict):
    mode: fc.PostgresMode = fc.PostgresSpec.mode
    image: ImageRef = fc.PostgresSpec.image
    user: Annotated[str, Field(pattern=r"^[a-z_][a-z0-9_]{0,62}$")] = fc.PostgresSpec.user
    host: Hostname | None = fc.PostgresSpec.host
    port: Annotated[int, Field(ge=1, le=65535)] = fc.PostgresSpec.port
    sslmode: fc.SslMode = fc.PostgresSpec.sslmode

    @model_validator(mode="after")
    def _managed_needs_host_and_tls(self) -> PostgresSettings:
        if self.mode == "managed":
            if not self.host:
                raise ValueError("postgres.mode 'managed' needs postgres.host (the cluster's host name)")
            if self.sslmode in ("disable", "prefer"):
                raise ValueError("DigitalOcean Managed PostgreSQL requires TLS: set sslmode to require or stricter")
        elif self.host:
            raise ValueError("postgres.host is only for mode 'managed'; selfhost runs PostgreSQL on the droplet")
        return self


class RedisSettings(_Strict):
    enabled: bool = fc.RedisSpec.enabled
    image: ImageRef = fc.RedisSpec.image


class EdgeSettings(_Strict):
    domain: Hostname | None = fc.EdgeSpec.domain
    tls: fc.TlsMode = fc.EdgeSpec.tls
    email: Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")] | None = fc.EdgeSpec.email
    acme_server: Annotated[str, Field(pattern=r"^https://")] | None = fc.EdgeSpec.acme_server

    @model_validator(mode="after")
    def _letsencrypt_needs_domain_and_email(self) -> EdgeSettings:
        if self.tls == "letsencrypt" and not (self.domain and self.email):
            raise ValueError("tls 'letsencrypt' needs edge.domain and edge.email (the ACME account)")
        return self


class SpacesSettings(_Strict):
    region: Literal[SPACES_REGIONS]  # type: ignore[valid-type]  # as above: Literal over a tuple, read by pydantic
    # S3 bucket naming rules: 3-63 characters, lower case, digits, dots and dashes.
    bucket: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")]


class RegistrySettings(_Strict):
    host: Annotated[str, Field(pattern=r"^[a-z0-9.-]+(:[0-9]{1,5})?$")] = fc.RegistrySpec.host
    username: str | None = fc.RegistrySpec.username
    token_env: EnvName = fc.RegistrySpec.token_env


class GatesSettings(_Strict):
    timeout_seconds: Annotated[int, Field(ge=30, le=3600)] = fc.GatesSpec.timeout_seconds
    soak_seconds: Annotated[int, Field(ge=0, le=300)] = fc.GatesSpec.soak_seconds
    probe_timeout_seconds: Annotated[int, Field(ge=1, le=120)] = fc.GatesSpec.probe_timeout_seconds
    install_timeout_seconds: Annotated[int, Field(ge=60, le=7200)] = fc.GatesSpec.install_timeout_seconds


# A systemd OnCalendar expression (`daily`, `Mon *-*-* 02:00:00`, `*-*-* 03,15:00:00`): the characters such
# an expression uses and nothing that could end the unit file's line. systemd itself has the last word.
OnCalendar = Annotated[str, Field(pattern=r"^[A-Za-z0-9*:,./~+ -]{1,100}$")]


class BackupsSettings(_Strict):
    enabled: bool = fc.BackupsSpec.enabled
    schedule: OnCalendar = fc.BackupsSpec.schedule
    daily: Annotated[int, Field(ge=0, le=366)] = fc.BackupsSpec.daily
    weekly: Annotated[int, Field(ge=0, le=520)] = fc.BackupsSpec.weekly
    monthly: Annotated[int, Field(ge=0, le=1200)] = fc.BackupsSpec.monthly
    pre_upgrade_days: Annotated[int, Field(ge=0, le=3660)] = fc.BackupsSpec.pre_upgrade_days

    @model_validator(mode="after")
    def _keeps_something(self) -> BackupsSettings:
        if self.enabled and self.daily + self.weekly + self.monthly == 0:
            raise ValueError("backups.daily, weekly and monthly are all 0: no scheduled backup would be kept "
                             "(set enabled: false to take none)")
        return self


class DatabaseSettings(_Strict):
    # `fresh`, `latest` or a backup id: the words and the check are firstboot/config.py's (one source).
    source: str = fc.DatabaseSpec.source

    @field_validator("source")
    @classmethod
    def _source(cls, value: str) -> str:
        return fc.check_database_source(value)


class Settings(_Strict):
    """deploy.yaml. The same sections as `fc.Deploy`, except what the builder adds itself (endpoints,
    build, deploy_id) and `reserved_ip`, which the operator writes as one word or address."""

    project: Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{1,30}$")] = fc.Deploy.project
    ship_version: Annotated[str, Field(pattern=r"^[0-9]+\.[0-9]+\.[0-9]+$")] = fc.Deploy.ship_version
    droplet: DropletSettings = DropletSettings()
    # "auto" (created on first deploy, recorded in Spaces), "none", or an existing reserved IPv4.
    reserved_ip: str = fc.ReservedIpSpec.mode
    dns: DnsSettings | None = None  # fc.Deploy.dns: no DNS record unless the settings ask (parity-tested)
    odoo: OdooSettings = OdooSettings()
    postgres: PostgresSettings = PostgresSettings()
    redis: RedisSettings = RedisSettings()
    edge: EdgeSettings = EdgeSettings()
    spaces: SpacesSettings | None = None  # fc.Deploy.spaces: no Spaces unless the settings ask (parity-tested)
    registry: RegistrySettings = RegistrySettings()
    gates: GatesSettings = GatesSettings()
    backups: BackupsSettings = BackupsSettings()
    database: DatabaseSettings = DatabaseSettings()

    @field_validator("reserved_ip")
    @classmethod
    def _reserved_ip(cls, value: str) -> str:
        if value in ("auto", "none"):
            return value
        try:
            ip = ipaddress.IPv4Address(value)
        except ValueError:
            raise ValueError("must be 'auto', 'none' or an IPv4 address") from None
        if ip.is_private and not ip.is_loopback or ip.is_multicast or ip.is_unspecified:
            raise ValueError("a reserved IP is a public IPv4 address (the local cloud's are 127.0.0.x)")
        return value

    @model_validator(mode="after")
    def _cross_checks(self) -> Settings:
        if self.reserved_ip == "auto" and self.spaces is None:
            raise ValueError("reserved_ip 'auto' records the address in Spaces: configure spaces too")
        if self.dns and self.edge.domain and not (
            self.edge.domain == self.dns.domain or self.edge.domain.endswith("." + self.dns.domain)
        ):
            raise ValueError(f"edge.domain {self.edge.domain} is not inside the DNS zone {self.dns.domain}")
        if self.database.source != fc.DATABASE_SOURCE_FRESH:
            if self.spaces is None:
                raise ValueError(f"database.source {self.database.source!r} restores a backup from Spaces: "
                                 "configure spaces too")
            if self.postgres.mode != "selfhost":
                raise ValueError(f"database.source {self.database.source!r} restores into the droplet's own "
                                 "PostgreSQL: with postgres.mode 'managed', restore the cluster from "
                                 "DigitalOcean's backups instead")
        if self.odoo.prior_tag and self.odoo.prior_tag == self.odoo.tag:
            raise ValueError("odoo.prior_tag must differ from odoo.tag (it is what a failed deploy rolls back to)")
        return self


@dataclass(frozen=True)
class Problem:
    field: str
    value: str
    why: str

    def __str__(self) -> str:
        return f"{self.field}: {self.value} — {self.why}"


class SettingsError(Exception):
    def __init__(self, path: str, problems: list[Problem]):
        self.path, self.problems = path, problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"{path}: {len(problems)} problem(s)\n{lines}")


# What each pattern means, in words an operator can act on.
_PATTERN_WHY = {
    ModuleName: "not an Odoo module name (lower-case letters, digits and _, e.g. sale_management)",
    ImageTag: "not a valid image tag (letters, digits, _ . -; at most 128)",
    Repository: "not a valid image repository (lower-case, e.g. acme/odoo)",
    ImageRef: "not a valid image reference (e.g. postgres:16)",
    Hostname: "not a valid host name (lower-case labels separated by dots, e.g. erp.example.com)",
    EnvName: "not an environment variable name (upper-case letters, digits and _)",
    OnCalendar: "not a systemd calendar expression (e.g. daily, or *-*-* 03:00:00)",
}


def _pattern_why(pattern: str) -> str | None:
    for annotated, why in _PATTERN_WHY.items():
        for meta in getattr(annotated, "__metadata__", ()):
            if getattr(meta, "metadata", None) and any(getattr(m, "pattern", None) == pattern for m in meta.metadata):
                return why
    return None


# repr() of a settings value could be megabytes (a huge list) or take long (deep nesting): reprlib bounds both.
_REPR = reprlib.Repr()
_REPR.maxlist = _REPR.maxtuple = _REPR.maxset = _REPR.maxdict = 6
_REPR.maxstring = _REPR.maxother = 100


def _short(value: Any) -> str:
    text = _REPR.repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# A list of a million bad module names is a million errors: the operator sees the first ones and a count.
MAX_PROBLEMS_LISTED = 50


def _problems_from(err: ValidationError) -> list[Problem]:
    problems = []
    for e in err.errors(include_url=False):
        # pydantic adds the union member or validator name to loc; keep the user's field path only.
        loc = [str(p) for p in e["loc"] if not re.match(r"^(literal\[|function-|int$|str$|constrained-)", str(p))]
        field = ".".join(loc) or "(top level)"
        why = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            why = "unknown key (check the spelling; see examples/deploy.yaml)"
        elif e["type"] == "missing":
            why = "required"
        elif e["type"] == "string_pattern_mismatch":
            why = _pattern_why(e.get("ctx", {}).get("pattern", "")) or why
        problems.append(Problem(field, "(missing)" if e["type"] == "missing" else _short(e.get("input")), why))
    # A union reports one error per member; keep one line per field and reason.
    seen: set[tuple[str, str]] = set()
    unique: list[Problem] = []
    for p in problems:
        if (p.field, p.why) not in seen:
            seen.add((p.field, p.why))
            unique.append(p)
    if len(unique) > MAX_PROBLEMS_LISTED:
        more = len(unique) - MAX_PROBLEMS_LISTED
        unique = [*unique[:MAX_PROBLEMS_LISTED], Problem("(more)", f"{more} more", "not listed; fix the ones above first")]
    return unique


def parse_settings(text: str, path: str = "deploy.yaml") -> Settings:
    """Validate YAML text; raises SettingsError listing every problem found. The size of `text` is the
    caller's business (load_settings bounds what it reads from a file)."""
    try:
        data = load_yaml(text)
    except Refused as err:
        raise SettingsError(path, [Problem(err.subject, err.where, err.why)]) from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "?"
        why = getattr(err, "problem", None) or str(err)
        raise SettingsError(path, [Problem("(yaml)", where, f"not valid YAML: {why}")]) from None
    if data is None:  # an empty file, or comments only: YAML reads nothing, which is not "all defaults"
        raise SettingsError(path, [Problem("(file)", path, "holds no settings (empty, or only comments); "
                                                           "start from examples/deploy.yaml")])
    if not isinstance(data, dict):
        raise SettingsError(path, [Problem("(top level)", _short(data), "must be a mapping of settings")])
    try:
        return Settings.model_validate(data)
    except ValidationError as err:
        raise SettingsError(path, _problems_from(err)) from None


def load_settings(path: str | Path) -> Settings:
    try:
        text = read_text(Path(path))
    except Refused as err:
        raise SettingsError(str(path), [Problem(err.subject, err.where, err.why)]) from None
    except OSError as err:
        raise SettingsError(str(path), [Problem("(file)", str(path), err.strerror or str(err))]) from None
    return parse_settings(text, str(path))


def _reserved_ip(value: str) -> fc.ReservedIpSpec:
    if value == "auto":
        return fc.ReservedIpSpec(mode="auto")
    if value == "none":
        return fc.ReservedIpSpec(mode="none")
    return fc.ReservedIpSpec(mode="address", address=value)


def to_deploy(settings: Settings, env: dict[str, str], build: fc.BuildInfo | None = None) -> fc.Deploy:
    """The droplet's view of the settings: the same sections, plus what the builder adds. The only
    reshaping: `reserved_ip` (one word or address) becomes a ReservedIpSpec, and the environment's
    endpoints (REGISTRY, DIGITALOCEAN_API_URL, SPACES_ENDPOINT) and the build's git facts are filled in."""
    data = settings.model_dump()
    data["reserved_ip"] = asdict(_reserved_ip(settings.reserved_ip))
    data["registry"]["host"] = env.get("REGISTRY") or settings.registry.host
    data["endpoints"] = asdict(fc.Endpoints(
        api_url=(env.get("DIGITALOCEAN_API_URL") or fc.Endpoints.api_url).rstrip("/"),
        spaces_endpoint=env.get("SPACES_ENDPOINT") or None,
    ))
    data["build"] = asdict(build or fc.BuildInfo())
    return fc.Deploy.from_dict(data)


def with_size(settings: Settings, size: str) -> Settings:
    """The same settings on another droplet size (`render --size`), validated again."""
    data = settings.model_dump()
    data["droplet"]["size"] = size
    try:
        return Settings.model_validate(data)
    except ValidationError as err:
        raise SettingsError("--size", _problems_from(err)) from None
