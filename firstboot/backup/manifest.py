"""The manifest: what a backup set holds and where it came from, written last.

Built from facts the backup gathered (pure), serialized canonically (same manifest, same bytes: its
own checksum means something), parsed strictly (unknown or missing fields, wrong types and
inconsistencies are refused with the field named). The parts are described as stored: an encrypted
part's size and SHA-256 are those of its `.age` file, so a set is checked without the identity.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from firstboot.backup.ids import BackupKind, parse_backup_id
from firstboot.backup.keys import DUMP_PART, ENCRYPTED_SUFFIX, check_database_name, part_name
from firstboot.backup.versions import odoo_series, postgres_major
from firstboot.contract.ids import is_deploy_id

FORMAT_VERSION = 1

_SHA256 = re.compile(r"[0-9a-f]{64}")
_IMAGE_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
_AGE_RECIPIENT = re.compile(r"age1[0-9a-z]{58}")  # bech32 X25519 recipient, as `age-keygen` prints
_TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


class ManifestError(ValueError):
    """A manifest that cannot be trusted, naming the field."""

    def __init__(self, field_name: str, why: str) -> None:
        super().__init__(f"manifest field {field_name!r}: {why}")
        self.field = field_name
        self.why = why


@dataclass(frozen=True)
class Part:
    name: str  # as stored: `database.dump`, `filestore.tar.age`, ...
    size: int
    sha256: str  # lowercase hex of the stored bytes


@dataclass(frozen=True)
class Image:
    tag: str  # the odoo image tag that served the database
    digest: str | None  # `sha256:...`; None for an image that never went through a registry


@dataclass(frozen=True)
class BackupFacts:
    """What the backup learnt from the running stack (see `queries`), before the parts exist."""

    database: str
    database_uuid: str | None  # ir_config_parameter database.uuid: a "move" restore keeps it
    odoo_version: str
    postgres_version: str
    modules: Mapping[str, str]  # installed module -> its installed version
    row_counts: Mapping[str, int]  # table -> rows (absent tables left out)
    image: Image
    droplet_id: int
    deploy_id: str


@dataclass(frozen=True)
class Manifest:
    backup_id: str
    database: str
    database_uuid: str | None
    odoo_version: str
    postgres_version: str
    modules: Mapping[str, str]
    row_counts: Mapping[str, int]
    parts: tuple[Part, ...]
    image: Image
    droplet_id: int
    deploy_id: str
    started_at: dt.datetime
    finished_at: dt.datetime
    age_recipient: str | None  # the public key the parts are encrypted to; None: not encrypted
    format_version: int = FORMAT_VERSION
    kind: BackupKind = field(init=False)

    def __post_init__(self) -> None:
        # The kind is the id's: one source, so the two can never disagree.
        object.__setattr__(self, "kind", parse_backup_id(self.backup_id).kind)

    @property
    def encrypted(self) -> bool:
        return self.age_recipient is not None

    @property
    def size_bytes(self) -> int:
        return sum(p.size for p in self.parts)

    def part(self, plain_name: str) -> Part | None:
        """The part stored for `database.dump` etc., encrypted or not."""
        wanted = part_name(plain_name, self.encrypted)
        return next((p for p in self.parts if p.name == wanted), None)


def check_age_recipient(recipient: str) -> str:
    """An age X25519 recipient (a public key): never an identity pasted by mistake."""
    if not _AGE_RECIPIENT.fullmatch(recipient):
        raise ValueError(f"not an age X25519 recipient (age1...): {recipient[:8]!r}...")
    return recipient


def build_manifest(backup_id: str, facts: BackupFacts, parts: list[Part] | tuple[Part, ...],
                   started_at: dt.datetime, finished_at: dt.datetime, age_recipient: str | None) -> Manifest:
    """The manifest of a finished backup; ManifestError when the facts cannot make a valid one."""
    manifest = Manifest(
        backup_id=backup_id,
        database=facts.database,
        database_uuid=facts.database_uuid,
        odoo_version=facts.odoo_version,
        postgres_version=facts.postgres_version,
        modules=dict(sorted(facts.modules.items())),
        row_counts=dict(sorted(facts.row_counts.items())),
        parts=tuple(sorted(parts, key=lambda p: p.name)),
        image=facts.image,
        droplet_id=facts.droplet_id,
        deploy_id=facts.deploy_id,
        started_at=_utc(started_at),
        finished_at=_utc(finished_at),
        age_recipient=age_recipient,
    )
    validate_manifest(manifest)
    return manifest


def _utc(when: dt.datetime) -> dt.datetime:
    if when.tzinfo is None:
        return when.replace(tzinfo=dt.UTC)
    return when.astimezone(dt.UTC)


def _time(when: dt.datetime) -> str:
    return _utc(when).strftime(_TIME_FORMAT)


def manifest_to_dict(m: Manifest) -> dict[str, object]:
    return {
        "format_version": m.format_version,
        "backup_id": m.backup_id,
        "kind": m.kind.value,
        "database": m.database,
        "database_uuid": m.database_uuid,
        "odoo_version": m.odoo_version,
        "postgres_version": m.postgres_version,
        "modules": dict(sorted(m.modules.items())),
        "row_counts": dict(sorted(m.row_counts.items())),
        "parts": [{"name": p.name, "size": p.size, "sha256": p.sha256} for p in sorted(m.parts, key=lambda p: p.name)],
        "image": {"tag": m.image.tag, "digest": m.image.digest},
        "droplet_id": m.droplet_id,
        "deploy_id": m.deploy_id,
        "started_at": _time(m.started_at),
        "finished_at": _time(m.finished_at),
        "encrypted": m.encrypted,
        "age_recipient": m.age_recipient,
    }


def serialize_manifest(m: Manifest) -> bytes:
    """Canonical bytes: sorted keys and parts, fixed indentation, UTC times to the second, final newline."""
    validate_manifest(m)
    return (json.dumps(manifest_to_dict(m), sort_keys=True, indent=2, ensure_ascii=False) + "\n").encode()


# --- strict parsing ----------------------------------------------------------------------------------

_FIELDS = frozenset({
    "format_version", "backup_id", "kind", "database", "database_uuid", "odoo_version", "postgres_version",
    "modules", "row_counts", "parts", "image", "droplet_id", "deploy_id", "started_at", "finished_at",
    "encrypted", "age_recipient",
})


def _int(value: object, name: str, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int):  # JSON true is a Python int: refuse it
        raise ManifestError(name, f"expected an integer, got {value!r}")
    if value < minimum:
        raise ManifestError(name, f"expected at least {minimum}, got {value}")
    return value


def _str(value: object, name: str) -> str:
    if not isinstance(value, str) or not value:
        raise ManifestError(name, f"expected a non-empty string, got {value!r}")
    return value


def _opt_str(value: object, name: str) -> str | None:
    return None if value is None else _str(value, name)


def _obj(value: object, name: str, keys: frozenset[str] | None = None) -> dict[str, object]:
    if not isinstance(value, dict):
        raise ManifestError(name, f"expected an object, got {type(value).__name__}")
    if keys is not None:
        missing, unknown = sorted(keys - value.keys()), sorted(value.keys() - keys)
        if missing:
            raise ManifestError(f"{name}.{missing[0]}" if name else missing[0], "missing")
        if unknown:
            raise ManifestError(f"{name}.{unknown[0]}" if name else unknown[0], "unknown field")
    return value


def _parse_time(value: object, name: str) -> dt.datetime:
    text = _str(value, name)
    try:
        return dt.datetime.strptime(text, _TIME_FORMAT).replace(tzinfo=dt.UTC)
    except ValueError:
        raise ManifestError(name, f"expected a UTC time like 2026-12-02T12:00:00Z, got {text!r}") from None


def parse_manifest(data: bytes | str) -> Manifest:
    """The manifest in these bytes, or ManifestError naming the first field that is wrong."""
    try:
        raw = json.loads(data)
    except (ValueError, UnicodeDecodeError) as e:  # JSONDecodeError is a ValueError
        raise ManifestError("(document)", f"not JSON: {e}") from None
    if isinstance(raw, dict) and "format_version" in raw:
        version = _int(raw["format_version"], "format_version", 1)
        if version != FORMAT_VERSION:
            raise ManifestError("format_version", f"{version} is not a format this agent reads ({FORMAT_VERSION})")
    doc = _obj(raw, "", _FIELDS)

    parts = doc["parts"]
    if not isinstance(parts, list):
        raise ManifestError("parts", f"expected a list, got {type(parts).__name__}")
    parsed_parts = []
    for i, p in enumerate(parts):
        po = _obj(p, f"parts[{i}]", frozenset({"name", "size", "sha256"}))
        parsed_parts.append(Part(_str(po["name"], f"parts[{i}].name"), _int(po["size"], f"parts[{i}].size"),
                                 _str(po["sha256"], f"parts[{i}].sha256")))

    modules = {name: _str(v, f"modules.{name}") for name, v in _obj(doc["modules"], "modules").items()}
    counts = {table: _int(n, f"row_counts.{table}") for table, n in _obj(doc["row_counts"], "row_counts").items()}
    image = _obj(doc["image"], "image", frozenset({"tag", "digest"}))

    backup_id = _str(doc["backup_id"], "backup_id")
    try:
        kind = parse_backup_id(backup_id).kind
    except ValueError as e:
        raise ManifestError("backup_id", str(e)) from None
    if doc["kind"] != kind.value:
        raise ManifestError("kind", f"{doc['kind']!r} disagrees with the backup id {backup_id!r}")
    encrypted = doc["encrypted"]
    if not isinstance(encrypted, bool):
        raise ManifestError("encrypted", f"expected true or false, got {encrypted!r}")
    recipient = _opt_str(doc["age_recipient"], "age_recipient")
    if encrypted != (recipient is not None):
        raise ManifestError("encrypted", f"{str(encrypted).lower()} but age_recipient is {recipient!r}")

    manifest = Manifest(
        backup_id=backup_id,
        database=_str(doc["database"], "database"),
        database_uuid=_opt_str(doc["database_uuid"], "database_uuid"),
        odoo_version=_str(doc["odoo_version"], "odoo_version"),
        postgres_version=_str(doc["postgres_version"], "postgres_version"),
        modules=modules,
        row_counts=counts,
        parts=tuple(parsed_parts),
        image=Image(_str(image["tag"], "image.tag"), _opt_str(image["digest"], "image.digest")),
        droplet_id=_int(doc["droplet_id"], "droplet_id", 1),
        deploy_id=_str(doc["deploy_id"], "deploy_id"),
        started_at=_parse_time(doc["started_at"], "started_at"),
        finished_at=_parse_time(doc["finished_at"], "finished_at"),
        age_recipient=recipient,
    )
    validate_manifest(manifest)
    return manifest


def validate_manifest(m: Manifest) -> None:
    """The rules both a built and a parsed manifest obey (types are the parser's job)."""
    try:
        check_database_name(m.database)
    except ValueError as e:
        raise ManifestError("database", str(e)) from None
    for name, check in (("odoo_version", odoo_series), ("postgres_version", postgres_major)):
        try:
            check(getattr(m, name))
        except ValueError as e:
            raise ManifestError(name, str(e)) from None
    if not is_deploy_id(m.deploy_id):
        raise ManifestError("deploy_id", f"not a deploy id: {m.deploy_id!r}")
    if m.droplet_id < 1:
        raise ManifestError("droplet_id", f"expected a droplet id, got {m.droplet_id}")
    if m.finished_at < m.started_at:
        raise ManifestError("finished_at", f"{_time(m.finished_at)} is before started_at {_time(m.started_at)}")
    if m.image.digest is not None and not _IMAGE_DIGEST.fullmatch(m.image.digest):
        raise ManifestError("image.digest", f"expected sha256:<64 hex>, got {m.image.digest!r}")
    if m.age_recipient is not None:
        try:
            check_age_recipient(m.age_recipient)
        except ValueError as e:
            raise ManifestError("age_recipient", str(e)) from None
    for table, n in m.row_counts.items():
        if n < 0:
            raise ManifestError(f"row_counts.{table}", f"expected at least 0, got {n}")
    if not m.parts:
        raise ManifestError("parts", "empty: a backup holds at least the database dump")
    seen: set[str] = set()
    for i, p in enumerate(m.parts):
        if not p.name or "/" in p.name or p.name.startswith("."):
            raise ManifestError(f"parts[{i}].name", f"not a part name: {p.name!r}")
        if p.name in seen:
            raise ManifestError(f"parts[{i}].name", f"{p.name!r} named twice")
        seen.add(p.name)
        if p.size < 0:
            raise ManifestError(f"parts[{i}].size", f"expected at least 0, got {p.size}")
        if not _SHA256.fullmatch(p.sha256):
            raise ManifestError(f"parts[{i}].sha256", f"expected 64 lowercase hex digits, got {p.sha256!r}")
        if p.name.endswith(ENCRYPTED_SUFFIX) != m.encrypted:
            state = "encrypted" if m.encrypted else "not encrypted"
            raise ManifestError(f"parts[{i}].name", f"{p.name!r} in a backup that is {state}")
    if m.part(DUMP_PART) is None:
        raise ManifestError("parts", f"no {part_name(DUMP_PART, m.encrypted)!r}: a backup holds the database dump")
