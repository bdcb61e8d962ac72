"""The local cloud's memory: one JSON document in the state folder (`Home.state_file`), written atomically.

It holds what DigitalOcean would remember for an account — droplets, images and snapshots, SSH keys,
reserved IPs, domains and records, actions, and the id counters — so a restart of the API server keeps
them all. Records are stored in the API's own shape (plus a few private `_` fields), keyed by their id
as a string (JSON object keys are strings).

Also here: the API token generated at `up`, kept 0600 in `credentials.json` so `env` can print it.
"""

from __future__ import annotations

import json
import os
import secrets
import threading
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from localcloud.home import Home, localcloud_home

__all__ = ["COLLECTIONS", "Credentials", "State", "empty_state", "ensure_credentials", "localcloud_home",
           "write_atomic"]
COLLECTIONS = ("droplets", "images", "keys", "reserved_ips", "domains", "records", "actions", "tags")
# Ids start high and apart so an id of the wrong kind is not silently found (as on DigitalOcean).
ID_BASES = {"droplet": 400_000_000, "image": 150_000_000, "key": 40_000_000, "action": 2_000_000_000,
            "record": 300_000_000}


def write_atomic(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Write to a temp file in the same directory, fsync, rename: readers see the old or the new file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def empty_state() -> dict[str, Any]:
    data: dict[str, Any] = {"version": 1, "account_uuid": str(uuid.uuid4()), "counters": {}}
    for c in COLLECTIONS:
        data[c] = {}
    return data


class State:
    """The state document plus the lock that guards it; `save()` after every change."""

    def __init__(self, path: Path, data: dict[str, Any]):
        self.path = path
        self.data = data
        self.lock = threading.RLock()

    @classmethod
    def load(cls, home: Home | Path) -> State:
        path = Home.of(home).state_file
        if path.exists():
            data = json.loads(path.read_text())
            for c in COLLECTIONS:
                data.setdefault(c, {})
            data.setdefault("counters", {})
        else:
            data = empty_state()
        st = cls(path, data)
        st.save()
        return st

    def save(self) -> None:
        with self.lock:
            blob = json.dumps(self.data, indent=1, sort_keys=True).encode()
            write_atomic(self.path, blob, 0o600)

    def next_id(self, kind: str) -> int:
        with self.lock:
            n = self.data["counters"].get(kind, 0) + 1
            self.data["counters"][kind] = n
            return ID_BASES.get(kind, 1_000) + n

    def coll(self, name: str) -> dict[str, Any]:
        return self.data[name]


@dataclass(frozen=True)
class Credentials:
    token: str  # the API's bearer token (Spaces keys are the services' own: services.spaces_credentials())


def ensure_credentials(home: Home | Path) -> Credentials:
    """The API token, generated once and kept 0600 in credentials.json (idempotent)."""
    path = Home.of(home).credentials_file
    if path.exists():
        return Credentials(token=json.loads(path.read_text())["token"])
    path.parent.mkdir(parents=True, exist_ok=True)
    creds = Credentials(token="dop_v1_" + secrets.token_hex(32))
    write_atomic(path, json.dumps(asdict(creds)).encode(), 0o600)
    return creds
