"""DigitalOcean droplet sizes: vCPUs, memory and disk by slug (from GET /v2/sizes).

The builder uses it to preview and validate a size before anything is created; the agent on the droplet
reads the real CPU count and memory instead (firstboot/host.py). The local cloud serves the same table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Size:
    slug: str
    vcpus: int
    memory_mb: int
    disk_gb: int
    price_monthly: float
    description: str


SIZES: dict[str, Size] = {
    s.slug: s
    for s in (
        Size("s-1vcpu-512mb-10gb", 1, 512, 10, 4.0, "Basic"),
        Size("s-1vcpu-1gb", 1, 1024, 25, 6.0, "Basic"),
        Size("s-1vcpu-2gb", 1, 2048, 50, 12.0, "Basic"),
        Size("s-2vcpu-2gb", 2, 2048, 60, 18.0, "Basic"),
        Size("s-2vcpu-4gb", 2, 4096, 80, 24.0, "Basic"),
        Size("s-4vcpu-8gb", 4, 8192, 160, 48.0, "Basic"),
        Size("s-8vcpu-16gb", 8, 16384, 320, 96.0, "Basic"),
        Size("g-2vcpu-8gb", 2, 8192, 25, 63.0, "General Purpose"),
        Size("g-4vcpu-16gb", 4, 16384, 50, 126.0, "General Purpose"),
        Size("g-8vcpu-32gb", 8, 32768, 100, 252.0, "General Purpose"),
        Size("g-16vcpu-64gb", 16, 65536, 200, 504.0, "General Purpose"),
        Size("g-32vcpu-128gb", 32, 131072, 400, 1008.0, "General Purpose"),
        Size("c-2", 2, 4096, 25, 42.0, "CPU-Optimized"),
        Size("c-4", 4, 8192, 50, 84.0, "CPU-Optimized"),
        Size("c-8", 8, 16384, 100, 168.0, "CPU-Optimized"),
        Size("m-2vcpu-16gb", 2, 16384, 50, 84.0, "Memory-Optimized"),
        Size("m-4vcpu-32gb", 4, 32768, 100, 168.0, "Memory-Optimized"),
    )
}


def smallest_fitting(predicate: Callable[[Size], bool]) -> Size | None:
    """The cheapest size for which `predicate(size)` holds."""
    fitting = sorted((s for s in SIZES.values() if predicate(s)), key=lambda s: (s.price_monthly, s.memory_mb))
    return fitting[0] if fitting else None
