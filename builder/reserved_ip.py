"""Where the deploy's reserved IP is and which droplet holds it: status, destroy and the droplet command ask
the same way."""

from __future__ import annotations

from builder.doclient import ApiError, Cloud
from builder.spaces import Spaces
from firstboot.config import Deploy
from firstboot.contract.keys import RESERVED_IP_KEY


def known_reserved_ip(deploy: Deploy, spaces: Spaces | None) -> str | None:
    """The configured address, or (mode auto) the one recorded in Spaces; None when there is none yet."""
    if deploy.reserved_ip.mode == "address":
        return deploy.reserved_ip.address
    if deploy.reserved_ip.mode == "auto" and spaces is not None:
        recorded = spaces.get_json(RESERVED_IP_KEY) or {}
        ip = recorded.get("ip")
        return str(ip) if ip else None
    return None


def reserved_ip_holder(cloud: Cloud, ip: str | None) -> int | None:
    """The id of the droplet the reserved IP points at; None when unassigned, unknown or not configured.
    Other API errors propagate: the caller decides whether they matter."""
    if not ip:
        return None
    try:
        holder = (cloud.reserved_ip(ip).get("droplet") or {}).get("id")
    except ApiError as err:
        if err.status != 404:
            raise
        return None
    return int(holder) if holder is not None else None
