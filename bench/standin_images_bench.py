"""Benchmark (not a test): how long the local cloud's stand-in images take to build on this machine.

Cold, without disturbing the images other work uses: debootstrap of the minbase into a scratch directory
(what `ensure_minbase_image` does before `docker import`), then `docker build --no-cache` of each Dockerfile under
a scratch tag (removed afterwards). Cached: `ensure_standin_images()` as `odoo-droplet local up` calls it when
everything exists (cache hits and "layer already exists" pushes).

    .venv/bin/python bench/standin_images_bench.py [--json] [--skip-cold]
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from localcloud.home import Home  # noqa: E402
from localcloud.services import standins  # noqa: E402


def timed(fn) -> tuple[float, object]:  # noqa: ANN001
    t0 = time.monotonic()
    out = fn()
    return time.monotonic() - t0, out


def cold_debootstrap() -> float:
    work = Path(tempfile.mkdtemp(prefix="odl-bench-minbase.", dir="/var/tmp"))
    try:
        secs, _ = timed(
            lambda: subprocess.run(
                ["debootstrap", "--variant=minbase", "bookworm", str(work / "root"), standins.DEBIAN_MIRROR],
                check=True,
                capture_output=True,
            )
        )
        return secs
    finally:
        shutil.rmtree(work, ignore_errors=True)


def cold_build(name: str, args: dict[str, str]) -> float:
    tag = f"odl-bench/{name}:cold"
    argv = standins.docker_build_argv(tag, standins.IMAGES_DIR / name, args)
    argv.insert(2, "--no-cache")
    env = {**os.environ, "DOCKER_BUILDKIT": "0"}
    try:
        secs, _ = timed(lambda: subprocess.run(argv, check=True, capture_output=True, env=env))
        return secs
    finally:
        subprocess.run(["docker", "rmi", "-f", tag], capture_output=True, check=False)


def main(argv: list[str]) -> int:
    results: dict[str, float] = {}
    home = Home.from_env()
    standins.ensure_minbase_image(home)
    if "--skip-cold" not in argv:
        results["cold: debootstrap minbase"] = cold_debootstrap()
        results["cold: build postgres"] = cold_build("postgres", {})
        results["cold: build redis"] = cold_build("redis", {})
        results["cold: build odoo (first tag)"] = cold_build("odoo", {"ODL_STANDIN_BEHAVIOUR": "good"})
    results["cached: ensure_standin_images (10 refs, push)"], _ = timed(lambda: standins.ensure_standin_images(home))
    results["cached: build_standin_images (10 refs, no push)"], _ = timed(lambda: standins.build_standin_images(home))
    if "--json" in argv:
        print(json.dumps({k: round(v, 1) for k, v in results.items()}, indent=2))
    else:
        width = max(len(k) for k in results)
        for k, v in results.items():
            print(f"{k:<{width}}  {v:7.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
