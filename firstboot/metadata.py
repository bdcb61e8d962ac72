"""DigitalOcean's metadata service as seen from inside a droplet (plain text under /metadata/v1/).

The base URL is injectable: the unit tests serve it on loopback; the local cloud serves it at the real
address, 169.254.169.254, on its odl-metadata network.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

DEFAULT_BASE = "http://169.254.169.254/metadata/v1"


class MetadataError(RuntimeError):
    pass


class Metadata:
    def __init__(self, base_url: str = DEFAULT_BASE, timeout: float = 5.0, attempts: int = 3) -> None:
        self.base = base_url.rstrip("/")
        self.timeout = timeout
        self.attempts = attempts

    def get(self, path: str) -> str:
        url = f"{self.base}/{path.lstrip('/')}"
        last: Exception | None = None
        for _ in range(self.attempts):
            try:
                with urllib.request.urlopen(url, timeout=self.timeout) as r:  # noqa: S310 (fixed base)
                    return r.read().decode().strip()
            except urllib.error.HTTPError as e:
                if e.code == 404:
                    raise MetadataError(f"{url}: 404") from e
                last = e
            except (urllib.error.URLError, OSError) as e:
                last = e
        raise MetadataError(f"{url}: {last}")

    def all(self) -> dict[str, Any]:
        """Everything at once: /metadata/v1.json."""
        url = self.base + ".json"
        try:
            with urllib.request.urlopen(url, timeout=self.timeout) as r:  # noqa: S310
                return json.loads(r.read())
        except (urllib.error.URLError, OSError, ValueError) as e:
            raise MetadataError(f"{url}: {e}") from e

    def droplet_id(self) -> int:
        return int(self.get("id"))

    def region(self) -> str:
        return self.get("region")

    def public_ipv4(self) -> str:
        return self.get("interfaces/public/0/ipv4/address")

    def user_data(self) -> str:
        try:
            return self.get("user-data")
        except MetadataError:
            return ""
