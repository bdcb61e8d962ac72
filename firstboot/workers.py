"""How many Odoo workers a droplet runs, and the per-worker memory limits.

The formula (also in README.md):
- CPU bound: Odoo's rule of thumb, at most 2 x vCPU + 1 workers.
- Memory bound: each worker is expected to use 0.8 x 150 MB + 0.2 x 1024 MB = 324.8 MB (Odoo's
  80/20 mix of light and heavy requests); PostgreSQL, Redis, nginx and the system keep 768 MB.
  workers <= (memory - 768 MB) / 324.8 MB.
- At least 2 workers: with workers = 0 Odoo runs threaded and nothing listens on the gevent port
  (8072), so /websocket has nowhere to go. A droplet that cannot fit 2 is refused, naming the
  smallest size that fits.
- limit_memory_soft < limit_memory_hard <= memory - 768 MB: Odoo recycles a worker past soft and
  kills it past hard, so one runaway worker dies before the kernel's OOM killer picks PostgreSQL.
  Odoo's own defaults (2048 / 2560 MB) are kept where the droplet has room for them.
"""

from __future__ import annotations

from dataclasses import dataclass

from firstboot.config import Resources, WorkersSetting
from firstboot.sizes import SIZES, Size, smallest_fitting

RESERVED_MB = 768
LIGHT_MB, HEAVY_MB, HEAVY_SHARE = 150, 1024, 0.2
WORKER_EXPECTED_MB = (1 - HEAVY_SHARE) * LIGHT_MB + HEAVY_SHARE * HEAVY_MB  # 324.8
MIN_WORKERS = 2
ODOO_DEFAULT_SOFT_MB, ODOO_DEFAULT_HARD_MB = 2048, 2560
MB = 1024 * 1024


class SizeTooSmall(ValueError):
    pass


@dataclass(frozen=True)
class WorkerPlan:
    workers: int
    max_cron_threads: int
    limit_memory_soft: int  # bytes, as odoo.conf wants them
    limit_memory_hard: int
    cpu_bound: int
    memory_bound: int

    @property
    def expected_memory_mb(self) -> float:
        return self.workers * WORKER_EXPECTED_MB + RESERVED_MB


def cpu_bound(vcpus: int) -> int:
    return 2 * vcpus + 1


def memory_bound(memory_mb: int) -> int:
    return max(0, int((memory_mb - RESERVED_MB) // WORKER_EXPECTED_MB))


def fits(size: Size) -> bool:
    return min(cpu_bound(size.vcpus), memory_bound(size.memory_mb)) >= MIN_WORKERS


def plan_workers(resources: Resources, requested: WorkersSetting = "auto") -> WorkerPlan:
    """Workers and memory limits for a droplet with `resources`; raises SizeTooSmall."""
    by_cpu, by_mem = cpu_bound(resources.vcpus), memory_bound(resources.memory_mb)
    ceiling = min(by_cpu, by_mem)
    if ceiling < MIN_WORKERS:
        smallest = smallest_fitting(fits)
        hint = f"; the smallest size that fits is {smallest.slug}" if smallest else ""
        raise SizeTooSmall(
            f"{resources.vcpus} vCPU / {resources.memory_mb} MB cannot run {MIN_WORKERS} Odoo workers "
            f"({WORKER_EXPECTED_MB:.0f} MB each) beside PostgreSQL, Redis and the system "
            f"({RESERVED_MB} MB){hint}"
        )
    if requested == "auto":
        workers = ceiling
    else:
        if requested < MIN_WORKERS:
            raise ValueError(
                f"workers: {requested} leaves no gevent process for /websocket; use at least {MIN_WORKERS}"
            )
        if requested > by_mem:
            raise SizeTooSmall(
                f"workers: {requested} needs about {requested * WORKER_EXPECTED_MB + RESERVED_MB:.0f} MB; "
                f"this droplet has {resources.memory_mb} MB (at most {by_mem} workers fit)"
            )
        workers = requested
    budget_mb = resources.memory_mb - RESERVED_MB
    hard_mb = min(ODOO_DEFAULT_HARD_MB, budget_mb)
    soft_mb = min(ODOO_DEFAULT_SOFT_MB, int(hard_mb * 0.8))
    return WorkerPlan(
        workers=workers,
        max_cron_threads=1 if workers <= 3 else 2,
        limit_memory_soft=soft_mb * MB,
        limit_memory_hard=hard_mb * MB,
        cpu_bound=by_cpu,
        memory_bound=by_mem,
    )


def plan_for_slug(slug: str, requested: WorkersSetting = "auto") -> WorkerPlan:
    size = SIZES[slug]
    return plan_workers(Resources(size.vcpus, size.memory_mb, size.disk_gb), requested)
