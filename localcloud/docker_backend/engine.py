"""The one way the Docker backing runs `docker`: a bounded subprocess whose failure is a `BackendError`."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from localcloud.backend import BackendError


def docker(
    *args: str, input: bytes | None = None, timeout: float = 300, check: bool = True
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        ["docker", *args],
        input=input.decode() if input else None,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check and proc.returncode != 0:
        raise BackendError(f"docker {args[0]} failed: {proc.stderr.strip() or proc.stdout.strip()}")
    return proc


def exists(kind: str, name: str) -> bool:
    """Whether the engine knows `name` as a `kind` (image, container, volume, network)."""
    return docker(kind, "inspect", name, check=False, timeout=30).returncode == 0


def image_labels(ref: str) -> dict[str, str]:
    proc = docker("image", "inspect", "-f", "{{json .Config.Labels}}", ref, check=False, timeout=30)
    if proc.returncode != 0:
        return {}
    labels: dict[str, str] = json.loads(proc.stdout or "null") or {}
    return labels


def image_id(ref: str) -> str:
    return docker("image", "inspect", "-f", "{{.Id}}", ref, timeout=30).stdout.strip()


def read_text(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def write_private(path: Path, text: str) -> None:
    """Write a 0600 file through a rename (seeds and metadata records hold user-data and keys)."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def private_dir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, 0o700)
    return path
