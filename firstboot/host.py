"""What this machine really has: CPUs usable by this process, memory (the smaller of the RAM and a cgroup
limit, so a local-cloud droplet container reports its limit), and disk."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from firstboot.config import Resources


def cpu_count() -> int:
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        n = os.cpu_count() or 1
    quota = _cgroup_cpu_quota(Path("/sys/fs/cgroup/cpu.max"))
    return max(1, min(n, quota)) if quota else max(1, n)


def _cgroup_cpu_quota(path: Path) -> int | None:
    try:
        quota, period = path.read_text().split()
    except (OSError, ValueError):
        return None
    if quota == "max":
        return None
    return max(1, -(-int(quota) // int(period)))  # ceil


def memory_mb(meminfo: Path = Path("/proc/meminfo"), cgroup: Path = Path("/sys/fs/cgroup/memory.max")) -> int:
    total_kb = 0
    for line in meminfo.read_text().splitlines():
        if line.startswith("MemTotal:"):
            total_kb = int(line.split()[1])
            break
    mb = total_kb // 1024
    try:
        limit = cgroup.read_text().strip()
        if limit != "max":
            mb = min(mb, int(limit) // (1024 * 1024))
    except (OSError, ValueError):
        pass
    return mb


def disk_gb(path: str = "/") -> int:
    return shutil.disk_usage(path).total // (1024**3)


def disk_free_gb(path: str = "/") -> float:
    return shutil.disk_usage(path).free / (1024**3)


def resources() -> Resources:
    return Resources(vcpus=cpu_count(), memory_mb=memory_mb(), disk_gb=disk_gb())
