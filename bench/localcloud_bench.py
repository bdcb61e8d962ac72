"""Benchmark (not a test): how long the local cloud takes on this machine, through its public interfaces.

Prints: `local up` (cold when nothing was built yet, else warm), droplet create → active → cloud-init done,
power off + snapshot, droplet from the snapshot → active → cloud-init done. Uses the standard state dir
($ODL_LOCALCLOUD_HOME) and pydo as the builder does; deletes what it created.

    .venv/bin/python bench/localcloud_bench.py [--json]
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from localcloud import control  # noqa: E402
from localcloud.docker_backend import droplet_exec  # noqa: E402
from localcloud.home import Home  # noqa: E402


def until(check: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.25)
    raise SystemExit(f"benchmark: timed out after {timeout:.0f}s waiting for {what}")


def cloud_init_done(droplet_id: int) -> None:
    proc = droplet_exec(droplet_id, ["cloud-init", "status", "--wait"], timeout=900)
    if "done" not in proc.stdout:
        raise SystemExit(f"benchmark: cloud-init on {droplet_id} ended: {proc.stdout} {proc.stderr}")


def main() -> int:
    import pydo

    home = Home.from_env()
    rows: list[tuple[str, float]] = []
    was_running = control.server_pid(home) is not None
    t = time.monotonic()
    cfg = control.up(home)
    rows.append((f"local up ({'already running' if was_running else 'started'})", time.monotonic() - t))
    env = control.env_values(home)
    client = pydo.Client(token=env["DIGITALOCEAN_TOKEN"], endpoint=cfg.url, retry_total=0,
                         connection_verify=env["SSL_CERT_FILE"])
    user_data = "#cloud-config\nruncmd: [[touch, /root/bench]]\n"
    made: list[int] = []
    try:
        t = time.monotonic()
        d = client.droplets.create({"name": "bench-1", "region": "nyc3", "size": "s-1vcpu-1gb",
                                    "image": "debian-12-x64", "user_data": user_data, "tags": ["bench"]})["droplet"]
        made.append(d["id"])
        until(lambda: client.droplets.get(d["id"])["droplet"]["status"] == "active", 600, "active")
        rows.append(("droplet create -> active", time.monotonic() - t))
        cloud_init_done(d["id"])
        rows.append(("droplet create -> cloud-init done", time.monotonic() - t))

        def action_done(action: dict[str, Any]) -> None:
            until(lambda: client.actions.get(action["id"])["action"]["status"] != "in-progress", 1800, action["type"])

        t = time.monotonic()
        action_done(client.droplet_actions.post(d["id"], {"type": "shutdown"})["action"])
        rows.append(("shutdown", time.monotonic() - t))
        t = time.monotonic()
        action_done(client.droplet_actions.post(d["id"], {"type": "snapshot", "name": "bench-snap"})["action"])
        rows.append(("snapshot", time.monotonic() - t))
        snap = next(i for i in client.images.list(private=True)["images"] if i["name"] == "bench-snap")

        t = time.monotonic()
        child = client.droplets.create({"name": "bench-2", "region": "nyc3", "size": "s-1vcpu-1gb",
                                        "image": snap["id"], "user_data": user_data, "tags": ["bench"]})["droplet"]
        made.append(child["id"])
        until(lambda: client.droplets.get(child["id"])["droplet"]["status"] == "active", 600, "active")
        cloud_init_done(child["id"])
        rows.append(("droplet from snapshot -> cloud-init done", time.monotonic() - t))
        client.images.delete(snap["id"])
    finally:
        for droplet_id in made:
            client.droplets.destroy(droplet_id)
    if "--json" in sys.argv:
        print(json.dumps({name: round(sec, 1) for name, sec in rows}))
    else:
        print(f"local cloud on this machine ({os.cpu_count()} CPUs)")
        for name, sec in rows:
            print(f"  {name:<44} {sec:7.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
