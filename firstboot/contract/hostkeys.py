"""A droplet's SSH host keys as the agent publishes them and the operator's CLI pins them (no trust on first
use): the document at `state/hostkeys/<droplet_id>.json` (firstboot/contract/keys.py `host_keys_key`), its
fingerprints, and the known_hosts lines made from it. Pure; the standard library only.

    {"droplet_id": 123, "published_at": "2026-...Z",
     "keys": [{"type": "ssh-ed25519", "key": "AAAAC3...", "fingerprint": "SHA256:..."}, ...]}
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

# What sshd offers a client by default (Debian 12): no DSA.
HOST_KEY_TYPES = ("ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521", "ssh-rsa")


class HostKeyError(ValueError):
    """A host key line or document that does not parse."""


@dataclass(frozen=True)
class HostKey:
    type: str
    key: str  # the base64 blob, as in a .pub file

    @property
    def fingerprint(self) -> str:
        return sha256_fingerprint(self.key)

    def as_dict(self) -> dict[str, str]:
        return {"type": self.type, "key": self.key, "fingerprint": self.fingerprint}


def _blob(b64: str) -> bytes:
    try:
        return base64.b64decode(b64, validate=True)
    except ValueError as e:
        raise HostKeyError(f"not base64: {b64[:16]}...") from e


def sha256_fingerprint(b64: str) -> str:
    """`SHA256:<base64, no padding>`, as `ssh-keygen -lf` and ssh's own prompts print it."""
    digest = hashlib.sha256(_blob(b64)).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


def parse_public_key(line: str) -> HostKey:
    """One `.pub` line (`type base64 [comment]`); the blob must name the same type (a file cannot lie)."""
    parts = line.strip().split()
    if len(parts) < 2 or parts[0] not in HOST_KEY_TYPES:
        raise HostKeyError(f"not a host public key: {line.strip()[:40]!r}")
    blob = _blob(parts[1])
    if not blob.startswith(len(parts[0]).to_bytes(4, "big") + parts[0].encode()):
        raise HostKeyError(f"the key's blob is not of type {parts[0]}")
    return HostKey(parts[0], parts[1])


def host_keys_document(droplet_id: int, public_key_lines: Iterable[str], published_at: str) -> dict[str, Any]:
    # cloud-init also makes a DSA key, which OpenSSH no longer offers or accepts: not published.
    lines = [line for line in public_key_lines if line.split()[:1] and line.split()[0] in HOST_KEY_TYPES]
    keys = sorted({parse_public_key(line) for line in lines},
                  key=lambda k: (HOST_KEY_TYPES.index(k.type), k.key))
    return {"droplet_id": droplet_id, "published_at": published_at, "keys": [k.as_dict() for k in keys]}


def parse_host_keys_document(doc: Mapping[str, Any], droplet_id: int) -> list[HostKey]:
    """The keys of a published document, checked: it is this droplet's, each key parses and matches the
    fingerprint recorded beside it, and there is at least one."""
    if not isinstance(doc, Mapping) or doc.get("droplet_id") != droplet_id:
        raise HostKeyError(f"the document is not droplet {droplet_id}'s (droplet_id {doc.get('droplet_id')!r})"
                           if isinstance(doc, Mapping) else "the document is not a JSON object")
    raw = doc.get("keys")
    if not isinstance(raw, list) or not raw:
        raise HostKeyError("the document lists no keys")
    keys = []
    for item in raw:
        if not isinstance(item, Mapping):
            raise HostKeyError("a key entry is not an object")
        key = parse_public_key(f"{item.get('type')} {item.get('key')}")
        if not hmac.compare_digest(str(item.get("fingerprint", "")), key.fingerprint):
            raise HostKeyError(f"the {key.type} key does not match its recorded fingerprint")
        keys.append(key)
    return keys


def known_hosts_host(address: str, port: int = 22) -> str:
    """How known_hosts names a host: `addr`, or `[addr]:port` off port 22."""
    return address if port == 22 else f"[{address}]:{port}"


def known_hosts_text(address: str, keys: Iterable[HostKey], port: int = 22) -> str:
    host = known_hosts_host(address, port)
    return "".join(f"{host} {k.type} {k.key}\n" for k in keys)
