"""Debian's Packer 1.6.6 (its real digitalocean builder, `api_url` set) drives the local API end to end:
temporary key, droplet, wait for active, shutdown, snapshot, look the snapshot up, clean up. The
droplets are MemoryBackend ones (no SSH: communicator none); every exchange Packer has is validated
against DigitalOcean's spec on the server side (spec_observer)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.localcloud_support import ValidatingSession

pytestmark = pytest.mark.integration
pytest_plugins = ["tests.localcloud_fixtures"]


def test_packer_builds_a_snapshot_through_the_local_api(memory_cloud, spec_observer, do_openapi_spec,
                                                       tmp_path: Path):
    packer = shutil.which("packer")
    assert packer, "packer is installed by scripts/bootstrap.sh"
    template = {"builders": [{
        "type": "digitalocean", "api_token": memory_cloud.token, "api_url": memory_cloud.url,
        "image": "debian-12-x64", "region": "nyc3", "size": "s-1vcpu-1gb", "snapshot_name": "packer-local",
        "communicator": "none",
    }]}
    (tmp_path / "t.json").write_text(json.dumps(template))
    env = {**os.environ, "SSL_CERT_FILE": memory_cloud.cafile, "CHECKPOINT_DISABLE": "1",
           "HOME": str(tmp_path), "PACKER_CACHE_DIR": str(tmp_path / "cache")}
    proc = subprocess.run([packer, "build", "-machine-readable", "t.json"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "A snapshot was created: 'packer-local'" in proc.stdout

    s = ValidatingSession(do_openapi_spec, memory_cloud.cafile, memory_cloud.token)
    images = s.get(f"{memory_cloud.url}/v2/images", params={"private": "true"}).json()["images"]
    assert [i["name"] for i in images] == ["packer-local"]
    # Packer cleaned up after itself: its droplet and temporary key are gone.
    assert s.get(f"{memory_cloud.url}/v2/droplets").json()["meta"]["total"] == 0
    assert s.get(f"{memory_cloud.url}/v2/account/keys").json()["meta"]["total"] == 0
    assert memory_cloud.backend.droplets == {}
    assert spec_observer.exchanges > 8 and not s.errors
