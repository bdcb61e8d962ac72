"""Object keys in the Spaces bucket: the project's shared state between the operator and droplets."""

from __future__ import annotations

PROOFS_PREFIX = "proofs/"
LAST_GOOD_KEY = "state/last_good.json"  # the last successful cutover: droplet, tag, reserved IP
RESERVED_IP_KEY = "state/reserved_ip.json"  # the reserved IP the builder created (mode auto)


def proofs_dir_key(deploy_id: str) -> str:
    """`proofs/<deploy_id>/`: the folder of one deploy's (or verify's) proofs."""
    return f"{PROOFS_PREFIX}{deploy_id}/"


def proof_key(deploy_id: str, name: str) -> str:
    """`proofs/<deploy_id>/<name>`; `name` may hold subfolders (`diagnostics/compose.log`)."""
    return proofs_dir_key(deploy_id) + name.lstrip("/")


def proof_ids(keys: list[str]) -> list[str]:
    """The deploy ids that have proofs among these object keys, sorted (oldest first)."""
    return sorted({k.split("/")[1] for k in keys if k.startswith(PROOFS_PREFIX) and k.count("/") >= 2})


# Backup sets live under `backups/<database>/<backup id>/`; firstboot/backup/keys.py builds the keys below it.
BACKUPS_PREFIX = "backups/"

HOST_KEYS_PREFIX = "state/hostkeys/"


def host_keys_key(droplet_id: int) -> str:
    """`state/hostkeys/<droplet_id>.json`: the droplet's SSH host keys, published at first boot and pinned by
    the operator's CLI (firstboot/contract/hostkeys.py)."""
    return f"{HOST_KEYS_PREFIX}{droplet_id}.json"
