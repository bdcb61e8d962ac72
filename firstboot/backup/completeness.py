"""Is a backup set complete? Only when its manifest exists and every part it names is present with the
same size and SHA-256. A set killed mid-way has no manifest (it is written last), so it never looks
complete; objects the manifest does not name (a verification record, leftovers) do not matter.

The listing is what the shell saw: a local folder (sizes and digests of the files) or a Spaces listing
(sizes, and the SHA-256 the uploader stored beside each object or the digest of its bytes).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from firstboot.backup.manifest import Manifest, ManifestError, parse_manifest


@dataclass(frozen=True)
class StoredObject:
    size: int
    sha256: str  # lowercase hex


class SetProblemKind(StrEnum):
    NO_MANIFEST = "no manifest"
    INVALID_MANIFEST = "invalid manifest"
    MISSING_PART = "missing part"
    SIZE_MISMATCH = "size mismatch"
    CHECKSUM_MISMATCH = "checksum mismatch"


@dataclass(frozen=True)
class SetProblem:
    kind: SetProblemKind
    part: str | None  # the part's stored name; None for the manifest itself
    detail: str

    def __str__(self) -> str:
        return self.detail


@dataclass(frozen=True)
class Completeness:
    manifest: Manifest | None
    problems: tuple[SetProblem, ...]

    @property
    def complete(self) -> bool:
        return self.manifest is not None and not self.problems

    @property
    def reasons(self) -> list[str]:
        return [p.detail for p in self.problems]


def check_set(manifest: Manifest | None, listing: Mapping[str, StoredObject]) -> Completeness:
    """Complete or not, with every reason (not only the first: the operator fixes them all at once)."""
    if manifest is None:
        return Completeness(None, (SetProblem(SetProblemKind.NO_MANIFEST, None,
                                              "no manifest.json: the backup never finished, or is still running"),))
    problems: list[SetProblem] = []
    for part in manifest.parts:
        found = listing.get(part.name)
        if found is None:
            problems.append(SetProblem(SetProblemKind.MISSING_PART, part.name, f"part {part.name} is missing"))
        elif found.size != part.size:
            problems.append(SetProblem(SetProblemKind.SIZE_MISMATCH, part.name,
                                       f"part {part.name} is {found.size} bytes, the manifest says {part.size}"))
        elif found.sha256.lower() != part.sha256:
            problems.append(SetProblem(SetProblemKind.CHECKSUM_MISMATCH, part.name,
                                       f"part {part.name} has SHA-256 {found.sha256.lower()}, the manifest says "
                                       f"{part.sha256}: it is corrupt"))
    return Completeness(manifest, tuple(problems))


def check_set_bytes(manifest_bytes: bytes | None, listing: Mapping[str, StoredObject]) -> Completeness:
    """`check_set` from the manifest's bytes as read: an unreadable manifest makes the set incomplete."""
    if manifest_bytes is None:
        return check_set(None, listing)
    try:
        manifest = parse_manifest(manifest_bytes)
    except ManifestError as e:
        return Completeness(None, (SetProblem(SetProblemKind.INVALID_MANIFEST, None, f"manifest.json: {e}"),))
    return check_set(manifest, listing)
