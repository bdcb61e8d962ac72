"""workers: auto for every DigitalOcean size that can run Odoo (issue 2, item 5). Prints the table."""

from __future__ import annotations

import pytest

from firstboot.config import Resources
from firstboot.sizes import SIZES
from firstboot.workers import RESERVED_MB, WORKER_EXPECTED_MB, SizeTooSmall, plan_for_slug, plan_workers

MB = 1024 * 1024
BASIC_FROM_2GB = ["s-1vcpu-2gb", "s-2vcpu-2gb", "s-2vcpu-4gb", "s-4vcpu-8gb", "s-8vcpu-16gb"]
GENERAL_PURPOSE = sorted(s.slug for s in SIZES.values() if s.description == "General Purpose")
# Every size with at least 2 GB (Basic, General Purpose, CPU- and Memory-Optimized), smallest first.
CHECKED = [s.slug for s in sorted(SIZES.values(), key=lambda s: (s.memory_mb, s.vcpus)) if s.memory_mb >= 2048]


def test_the_size_table_has_what_the_issue_names():
    assert set(BASIC_FROM_2GB) <= set(CHECKED)
    assert set(GENERAL_PURPOSE) <= set(CHECKED)
    assert len(GENERAL_PURPOSE) >= 3


@pytest.mark.parametrize("slug", CHECKED)
def test_plan_fits_the_droplet(slug):
    size = SIZES[slug]
    plan = plan_for_slug(slug)
    assert plan.workers >= 2, "fewer than 2 workers: no gevent process, nothing on 8072 for /websocket"
    assert plan.workers <= 2 * size.vcpus + 1
    # Odoo's rule: 80% light (150 MB) + 20% heavy (1 GB) requests per worker, plus PostgreSQL,
    # Redis and the system.
    assert plan.workers * 324.8 + 768 <= size.memory_mb
    assert WORKER_EXPECTED_MB == pytest.approx(324.8) and RESERVED_MB == 768
    assert 0 < plan.limit_memory_soft < plan.limit_memory_hard <= (size.memory_mb - 768) * MB
    assert plan.max_cron_threads >= 1


def test_auto_uses_the_cpu_rule_when_memory_allows():
    # 8 vCPU / 32 GB: memory is not the bound, 2 x 8 + 1 is.
    assert plan_for_slug("g-8vcpu-32gb").workers == 17
    # 1 vCPU / 2 GB: 3 by CPU, 3 by memory ((2048 - 768) / 324.8 = 3.9).
    assert plan_for_slug("s-1vcpu-2gb").workers == 3


def test_too_small_a_droplet_is_refused_naming_the_smallest_that_fits():
    with pytest.raises(SizeTooSmall, match="s-1vcpu-2gb"):
        plan_for_slug("s-1vcpu-1gb")
    with pytest.raises(SizeTooSmall, match="s-1vcpu-2gb"):
        plan_for_slug("s-1vcpu-512mb-10gb")
    with pytest.raises(SizeTooSmall, match="s-1vcpu-2gb"):
        plan_workers(Resources(vcpus=1, memory_mb=1024))


def test_an_explicit_worker_count_is_bounded_too():
    assert plan_for_slug("s-4vcpu-8gb", 4).workers == 4
    with pytest.raises(ValueError, match="gevent"):
        plan_for_slug("s-4vcpu-8gb", 1)
    with pytest.raises(SizeTooSmall):
        plan_for_slug("s-1vcpu-2gb", 8)


def test_print_the_table(capsys):
    rows = [("slug", "vCPU", "MB", "workers", "cpu<=", "mem<=", "expected MB", "soft MB", "hard MB", "cron")]
    for slug in CHECKED:
        size, plan = SIZES[slug], plan_for_slug(slug)
        rows.append(
            (
                slug,
                str(size.vcpus),
                str(size.memory_mb),
                str(plan.workers),
                str(plan.cpu_bound),
                str(plan.memory_bound),
                f"{plan.expected_memory_mb:.0f}",
                str(plan.limit_memory_soft // MB),
                str(plan.limit_memory_hard // MB),
                str(plan.max_cron_threads),
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    table = "\n".join("  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in rows)
    with capsys.disabled():
        print("\nworkers: auto (firstboot/workers.py)\n" + table)
    assert len(rows) == len(CHECKED) + 1
