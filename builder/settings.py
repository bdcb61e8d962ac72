"""deploy.yaml: the operator's settings, validated so that every problem is reported at once.

Unknown keys are errors (typos are caught), values are checked against DigitalOcean's and Odoo's rules,
and the result is converted into `firstboot.config.Deploy`, the plain data the droplet receives.
Secrets are never in this file: see builder/secrets_env.py.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

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
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class DropletSettings(_Strict):
    region: Literal[REGIONS] = "nyc3"  # type: ignore[valid-type]
    size: str = "s-2vcpu-4gb"
    base_image: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9.-]*$")] = "debian-12-x64"
    # SSH keys by fingerprint (aa:bb:...) or numeric id, as GET /v2/account/keys lists them.
    ssh_keys: list[Annotated[str, Field(pattern=r"^([0-9a-f]{2}(:[0-9a-f]{2}){15}|[0-9]+)$")]] = []
    tags: list[Annotated[str, Field(pattern=r"^[A-Za-z0-9_:-]{1,255}$")]] = []

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
    ttl: Annotated[int, Field(ge=30, le=86400)] = 60


class OdooSettings(_Strict):
    image: Repository = "odoo"
    tag: ImageTag = "18.0"
    prior_tag: ImageTag | None = None
    modules: Annotated[list[ModuleName], Field(min_length=1)] = ["base", "web"]
    database: Annotated[str, Field(pattern=r"^[a-z_][a-z0-9_]{0,62}$")] = "odoo"
    workers: str | int = "auto"

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
        dupes = sorted({m for m in modules if modules.count(m) > 1})
        if dupes:
            raise ValueError(f"listed more than once: {', '.join(dupes)}")
        return modules


class PostgresSettings(_Strict):
    mode: Literal["selfhost", "managed"] = "selfhost"
    image: ImageRef = "postgres:16"
    user: Annotated[str, Field(pattern=r"^[a-z_][a-z0-9_]{0,62}$")] = "odoo"
    host: Hostname | None = None
    port: Annotated[int, Field(ge=1, le=65535)] = 5432
    sslmode: Literal["disable", "prefer", "require", "verify-ca", "verify-full"] = "prefer"

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
    enabled: bool = True
    image: ImageRef = "redis:7"


class EdgeSettings(_Strict):
    domain: Hostname | None = None
    tls: Literal["letsencrypt", "self-signed"] = "self-signed"
    email: Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")] | None = None
    acme_server: Annotated[str, Field(pattern=r"^https://")] | None = None

    @model_validator(mode="after")
    def _letsencrypt_needs_domain_and_email(self) -> EdgeSettings:
        if self.tls == "letsencrypt" and not (self.domain and self.email):
            raise ValueError("tls 'letsencrypt' needs edge.domain and edge.email (the ACME account)")
        return self


class SpacesSettings(_Strict):
    region: Literal[SPACES_REGIONS]  # type: ignore[valid-type]
    # S3 bucket naming rules: 3-63 characters, lower case, digits, dots and dashes.
    bucket: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")]


class RegistrySettings(_Strict):
    host: Annotated[str, Field(pattern=r"^[a-z0-9.-]+(:[0-9]{1,5})?$")] = "ghcr.io"
    username: str | None = None
    token_env: EnvName = "REGISTRY_TOKEN"


class GatesSettings(_Strict):
    timeout_seconds: Annotated[int, Field(ge=30, le=3600)] = 600
    soak_seconds: Annotated[int, Field(ge=0, le=300)] = 10
    probe_timeout_seconds: Annotated[int, Field(ge=1, le=120)] = 10
    install_timeout_seconds: Annotated[int, Field(ge=60, le=7200)] = 1800


class Settings(_Strict):
    project: Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{1,30}$")] = "odoo"
    ship_version: Annotated[str, Field(pattern=r"^[0-9]+\.[0-9]+\.[0-9]+$")] = "1.0.0"
    droplet: DropletSettings = DropletSettings()
    # "auto" (created on first deploy, recorded in Spaces), "none", or an existing reserved IPv4.
    reserved_ip: str = "none"
    dns: DnsSettings | None = None
    odoo: OdooSettings = OdooSettings()
    postgres: PostgresSettings = PostgresSettings()
    redis: RedisSettings = RedisSettings()
    edge: EdgeSettings = EdgeSettings()
    spaces: SpacesSettings | None = None
    registry: RegistrySettings = RegistrySettings()
    gates: GatesSettings = GatesSettings()

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
}


def _pattern_why(pattern: str) -> str | None:
    for annotated, why in _PATTERN_WHY.items():
        for meta in getattr(annotated, "__metadata__", ()):
            if getattr(meta, "metadata", None) and any(getattr(m, "pattern", None) == pattern for m in meta.metadata):
                return why
    return None


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _problems_from(err: ValidationError) -> list[Problem]:
    problems = []
    for e in err.errors():
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
    seen, unique = set(), []
    for p in problems:
        if (p.field, p.why) not in seen:
            seen.add((p.field, p.why))
            unique.append(p)
    return unique


def parse_settings(text: str, path: str = "deploy.yaml") -> Settings:
    """Validate YAML text; raises SettingsError listing every problem found."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "?"
        why = getattr(err, "problem", None) or str(err)
        raise SettingsError(path, [Problem("(yaml)", where, f"not valid YAML: {why}")]) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise SettingsError(path, [Problem("(top level)", _short(data), "must be a mapping of settings")])
    try:
        return Settings.model_validate(data)
    except ValidationError as err:
        raise SettingsError(path, _problems_from(err)) from None


def load_settings(path: str | Path) -> Settings:
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as err:
        raise SettingsError(str(path), [Problem("(file)", str(path), err.strerror or str(err))]) from None
    return parse_settings(text, str(path))


def to_deploy(settings: Settings, env: dict[str, str], build: fc.BuildInfo | None = None) -> fc.Deploy:
    """The droplet's view of the settings, with the environment's endpoint overrides applied."""
    s = settings
    if s.reserved_ip in ("auto", "none"):
        rip = fc.ReservedIpSpec(mode=s.reserved_ip)  # type: ignore[arg-type]
    else:
        rip = fc.ReservedIpSpec(mode="address", address=s.reserved_ip)
    data = s.model_dump()
    data["reserved_ip"] = rip
    deploy = fc.Deploy(
        project=s.project,
        ship_version=s.ship_version,
        droplet=fc.DropletSpec(**{**data["droplet"], "ssh_keys": tuple(s.droplet.ssh_keys),
                                  "tags": tuple(s.droplet.tags)}),
        reserved_ip=rip,
        dns=fc.DnsSpec(**data["dns"]) if s.dns else None,
        odoo=fc.OdooSpec(**{**data["odoo"], "modules": tuple(s.odoo.modules)}),
        postgres=fc.PostgresSpec(**data["postgres"]),
        redis=fc.RedisSpec(**data["redis"]),
        edge=fc.EdgeSpec(**data["edge"]),
        spaces=fc.SpacesSpec(**data["spaces"]) if s.spaces else None,
        registry=fc.RegistrySpec(**{**data["registry"], "host": env.get("REGISTRY") or s.registry.host}),
        gates=fc.GatesSpec(**data["gates"]),
        endpoints=fc.Endpoints(
            api_url=(env.get("DIGITALOCEAN_API_URL") or "https://api.digitalocean.com").rstrip("/"),
            spaces_endpoint=env.get("SPACES_ENDPOINT") or None,
        ),
        build=build or fc.BuildInfo(),
    )
    return deploy


def with_size(settings: Settings, size: str) -> Settings:
    """The same settings on another droplet size (`render --size`), validated again."""
    data = settings.model_dump()
    data["droplet"]["size"] = size
    try:
        return Settings.model_validate(data)
    except ValidationError as err:
        raise SettingsError("--size", _problems_from(err)) from None
