"""Shared fixtures for the e2e layer (the local cloud on the real Docker engine).

Generic pieces anyone's e2e tests can use: `poll` (bounded waiting on a condition, never a bare sleep),
`localcloud_home`, `local_cloud_ready` (networks, the debian-12-x64 image, the metadata service — built
once, cached by Docker between runs), `docker_backend`, `droplets` (a factory that deletes what it made),
`ssh_keypair`, `busybox_image` (a 2 MB image to load into a droplet's inner Docker: no registry is needed),
and `timings` (durations printed in the terminal summary; the benchmark numbers the issue asks for).

A missing Docker engine fails the tests (scripts/bootstrap.sh starts one); nothing is skipped silently.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from localcloud import docker_backend as db
from localcloud import testing
from localcloud.backend import DropletRuntime, DropletSpec
from localcloud.home import Home

T = TypeVar("T")

_TIMINGS: dict[str, float] = {}


def poll(check: Callable[[], T | None], timeout: float, what: str, interval: float = 0.25) -> T:
    """Call `check` until it returns something truthy; fail after `timeout` seconds saying `what`
    (localcloud.testing.poll, paced at 0.25 s here)."""
    return testing.poll(check, timeout, what, interval)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _TIMINGS:
        terminalreporter.section("local cloud timings (this machine)")
        for name, seconds in _TIMINGS.items():
            terminalreporter.write_line(f"{name:<48} {seconds:8.1f} s")


@pytest.fixture(scope="session")
def timings() -> dict[str, float]:
    return _TIMINGS


@pytest.fixture(scope="session")
def localcloud_home() -> Path:
    home = Home.from_env().root
    home.mkdir(parents=True, exist_ok=True)
    return home


@pytest.fixture(scope="session")
def local_cloud_ready(localcloud_home: Path, timings: dict[str, float]) -> Path:
    proc = subprocess.run(["docker", "info"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, f"no Docker engine answers (run scripts/bootstrap.sh): {proc.stderr}"
    db.ensure_networks()
    cold = not db.exists("image", db.ROOTFS_IMAGE)
    start = time.monotonic()
    db.ensure_droplet_image(localcloud_home)
    timings["base image build (" + ("cold, debootstrap" if cold else "cached") + ")"] = time.monotonic() - start
    db.ensure_metadata_service(localcloud_home)
    return localcloud_home


@pytest.fixture(scope="session")
def docker_backend(local_cloud_ready: Path) -> Iterator[db.DockerBackend]:
    backend = db.DockerBackend(local_cloud_ready)
    yield backend
    backend.close()


# Droplet ids far above what the API hands out, distinct per test process.
_ids = itertools.count(9_000_000 + (os.getpid() % 10_000) * 100)


class Droplets:
    """Creates droplets through the backend and deletes them (and their snapshots) at teardown."""

    def __init__(self, backend: db.DockerBackend) -> None:
        self.backend = backend
        self.created: list[int] = []
        self.images: list[str] = []

    def create(
        self,
        name: str,
        user_data: str | None = None,
        keys: tuple[str, ...] = (),
        image: str = db.BASE_IMAGE,
        vcpus: int = 1,
        memory_mb: int = 1024,
    ) -> tuple[DropletSpec, DropletRuntime]:
        spec = DropletSpec(
            id=next(_ids), name=name, region="nyc3", size_slug="s-1vcpu-1gb", vcpus=vcpus,
            memory_mb=memory_mb, disk_gb=25, image_ref=image, user_data=user_data, ssh_public_keys=keys,
            tags=("e2e",),
        )  # fmt: skip
        self.created.append(spec.id)
        return spec, self.backend.create_droplet(spec)

    def exec(self, droplet_id: int, *argv: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return db.droplet_exec(droplet_id, argv, timeout=timeout)

    def cloud_init_done(self, droplet_id: int, timeout: float = 600) -> str:
        """`cloud-init status --wait` (bounded); returns its output."""
        return self.exec(droplet_id, "cloud-init", "status", "--wait", "--long", timeout=timeout).stdout

    def cleanup(self) -> None:
        for droplet_id in self.created:
            self.backend.delete_droplet(droplet_id)
        for ref in self.images:
            self.backend.delete_image(ref)


@pytest.fixture(scope="module")
def droplets(docker_backend: db.DockerBackend) -> Iterator[Droplets]:
    made = Droplets(docker_backend)
    yield made
    made.cleanup()


@pytest.fixture(scope="session")
def ssh_keypair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """(private key path, public key line), generated per run."""
    assert shutil.which("ssh-keygen"), "ssh-keygen missing (openssh-client; scripts/bootstrap.sh)"
    key = tmp_path_factory.mktemp("ssh") / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "odl-e2e", "-f", str(key)], check=True)
    return key, key.with_suffix(".pub").read_text().strip()


@pytest.fixture(scope="session")
def busybox_image(tmp_path_factory: pytest.TempPathFactory) -> str:
    """`odl/test-busybox:latest` from Debian's busybox-static: small enough to `docker load` into droplets."""
    ref = "odl/test-busybox:latest"
    busybox = Path("/bin/busybox")
    assert busybox.exists(), "busybox-static missing (scripts/bootstrap.sh installs it)"
    root = tmp_path_factory.mktemp("busybox")
    (root / "bin").mkdir()
    shutil.copy(busybox, root / "bin" / "busybox")
    for applet in ("sh", "nc", "cat", "echo", "printf", "ls", "httpd"):
        (root / "bin" / applet).symlink_to("busybox")
    tar = subprocess.run(["tar", "-C", str(root), "-c", "."], capture_output=True, check=True).stdout
    subprocess.run(["docker", "import", "--change", 'CMD ["/bin/sh"]', "-", ref], input=tar, check=True,
                   capture_output=True)  # fmt: skip
    return ref


# ---------------------------------------------------------------- the running local cloud and a baked snapshot

REPO = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "builder"]


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """`odoo-droplet ARGS` as a user runs it (a subprocess from the repo root)."""
    return subprocess.run([*CLI, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="session")
def local_cloud_env(timings: dict[str, float]) -> dict[str, str]:
    """`odoo-droplet local up` (idempotent), then the environment `eval "$(odoo-droplet local env)"` gives a
    shell: what every command pointed at the local cloud runs with. Secrets are not in it."""
    start = time.monotonic()
    up = run_cli("local", "up", timeout=3600)
    assert up.returncode == 0, f"local up failed:\n{up.stdout}\n{up.stderr}"
    timings["local up (as found)"] = time.monotonic() - start
    env = run_cli("local", "env", "--json", timeout=120)
    assert env.returncode == 0, env.stderr
    return {**os.environ, **json.loads(env.stdout)}


def generated_secrets() -> dict[str, str]:
    """Fresh random DB_PASSWORD / ADMIN_PASSWD for one run (never the same twice, never in the repo)."""
    from firstboot.contract.passwords import generate_password

    return {"DB_PASSWORD": generate_password(), "ADMIN_PASSWD": generate_password()}


@pytest.fixture(scope="session")
def baked_snapshot(
    local_cloud_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory, timings: dict[str, float]
) -> Iterator[dict[str, Any]]:
    """`odoo-droplet image --config examples/deploy.yaml --json` run ONCE per session against the local
    cloud with generated secrets, as a user runs it. Yields {snapshot_id, snapshot_name, env (the whole
    environment it ran with, secrets included), output (its JSON), log (its progress on stderr)}.
    The snapshot is deleted at the end of the session."""
    env = {**local_cloud_env, **generated_secrets()}
    workdir = tmp_path_factory.mktemp("packer")
    start = time.monotonic()
    proc = run_cli(
        "image", "--config", "examples/deploy.yaml", "--json", "--workdir", str(workdir), env=env, timeout=3600
    )
    timings["odoo-droplet image (snapshot bake)"] = time.monotonic() - start
    assert proc.returncode == 0, f"odoo-droplet image exited {proc.returncode}:\n{proc.stderr[-6000:]}"
    output = json.loads(proc.stdout)
    baked = {
        "snapshot_id": output["snapshot_id"],
        "snapshot_name": output["snapshot_name"],
        "env": env,
        "output": output,
        "log": proc.stderr,
    }
    yield baked
    import requests  # noqa: PLC0415 - only the teardown needs it

    requests.delete(
        f"{env['DIGITALOCEAN_API_URL']}/v2/images/{baked['snapshot_id']}",
        timeout=120,
        verify=env["SSL_CERT_FILE"],
        headers={"Authorization": f"Bearer {env['DIGITALOCEAN_TOKEN']}"},
    )
