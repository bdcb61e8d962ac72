"""`make demo` itself, as a newcomer runs it: the whole flow on the local cloud, checked by what it prints
and by asking the API afterwards (not by trusting its own words).

The demo reuses this commit's snapshot when one exists (`image --if-missing`): here the session's
`baked_snapshot` (same settings file, same commit, so the same name), so the suite bakes once; the bake
itself is shown by test_image.py. The demo leaves its two droplets running for the operator; this test
destroys them at teardown so the rest of the suite has the memory back.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.e2e.conftest import REPO, run_cli

pytestmark = pytest.mark.e2e

DEMO_DROPLETS = REPO / ".state" / "demo" / "droplets"


@pytest.fixture
def demo_cleanup(local_cloud_env: dict[str, str]) -> Iterator[None]:
    yield
    lists = [DEMO_DROPLETS, DEMO_DROPLETS.with_name("droplets.pending")]  # a failed run leaves the pending list
    ids = sorted({i for f in lists if f.exists() for i in f.read_text().split() if i.isdigit()})
    existing = {str(d["id"]) for d in api_get(local_cloud_env, "/v2/droplets?tag_name=odoo-demo&per_page=200")["droplets"]}
    if set(ids) & existing:
        run_cli("destroy", "--config", "examples/deploy.yaml", "--force", *sorted(set(ids) & existing),
                env=local_cloud_env, timeout=300)
    for f in lists:
        f.unlink(missing_ok=True)


def api_get(env: dict[str, str], path: str) -> Any:
    r = requests.get(env["DIGITALOCEAN_API_URL"] + path, timeout=60, verify=env["SSL_CERT_FILE"],
                     headers={"Authorization": f"Bearer {env['DIGITALOCEAN_TOKEN']}"})
    r.raise_for_status()
    return r.json()


def test_make_demo_deploys_rolls_back_a_broken_tag_and_verifies(baked_snapshot, local_cloud_env, demo_cleanup,
                                                                timings):
    start = time.monotonic()
    proc = subprocess.run(["make", "demo"], cwd=REPO, capture_output=True, text=True, timeout=1800)
    timings["make demo"] = time.monotonic() - start
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-8000:]

    snap = re.search(r"snapshot (\S+) \((\d+)\): (reused|baked)", out)
    assert snap, out[-8000:]
    if snap.group(1) == baked_snapshot["snapshot_name"]:  # same commit as the session's bake: not baked twice
        assert snap.group(2, 3) == (str(baked_snapshot["snapshot_id"]), "reused")
    healthy = re.search(r"healthy deploy (deploy-\d{8}-\d{6}): success on droplet (\d+), cutover True, "
                        r"reserved IP (127\.0\.0\.\d+) -> droplet (\d+)", out)
    assert healthy, out[-8000:]
    deploy_id, droplet, ip, holder = healthy.groups()
    assert holder == droplet
    broken = re.search(r"broken deploy (deploy-\d{8}-\d{6}) \(18\.0-crashloop\): rolled_back on droplet (\d+), exit 1",
                       out)
    assert broken, out[-8000:]
    assert broken.group(2) != droplet
    assert f"reserved IP {ip} untouched: still droplet {droplet}" in out
    assert f"verify https://erp.odoo-demo.test via {ip}: PASS" in out
    assert f"s3://odoo-demo-proofs/proofs/{deploy_id}/" in out and f"s3://odoo-demo-proofs/proofs/{broken.group(1)}/" in out
    summary = out[out.index("demo summary"):]
    for label in ("local cloud", "image", "healthy deploy", "broken deploy", "verify", "total"):
        assert re.search(rf"^  {label}\s+\d+s", summary, re.M), summary

    # What the API says afterwards: the reserved IP on the healthy droplet, both droplets still there.
    assert api_get(local_cloud_env, f"/v2/reserved_ips/{ip}")["reserved_ip"]["droplet"]["id"] == int(droplet)
    for d in (droplet, broken.group(2)):
        assert api_get(local_cloud_env, f"/v2/droplets/{d}")["droplet"]["status"] == "active"
    assert sorted(Path(DEMO_DROPLETS).read_text().split()) == sorted([droplet, broken.group(2)])
    status = run_cli("status", "--config", "examples/deploy.yaml", "--json", env=local_cloud_env)
    assert json.loads(status.stdout)["reserved_ip_droplet"] == int(droplet)
