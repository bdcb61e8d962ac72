"""`pip install odoo-droplet` gives a working tool, the local cloud included (issue 13).

Builds the wheel from a copy of the source tree (so the build leaves nothing in the checkout), installs it
with its dependencies from the package index into a fresh virtual environment outside the checkout, and
from a working directory outside the checkout runs what an operator runs first:

    odoo-droplet local up --api-only     (the API on the in-memory backend and the Spaces stand-in: no Docker)
    eval "$(odoo-droplet local env)"
    odoo-droplet check-config deploy.yaml
    odoo-droplet render --config deploy.yaml --out out
    odoo-droplet local down

Each exits 0; the rendered files are there and not empty; Spaces (moto, a dependency) stores an object; and
no file of the installed package, nor anything rendered, names the checkout. About a minute and a half,
most of it pip installing the dependencies.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.unit.test_package_data import RUNTIME_PATHS

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("builder", "firstboot", "localcloud")
# The tool's own settings in the environment would point it elsewhere than the cloud it starts here.
FOREIGN_ENV = ("DIGITALOCEAN_", "SPACES_", "REGISTRY", "ODL_", "DROPLET_TOKEN", "DB_PASSWORD", "ADMIN_PASSWD",
               "ODOO_ADMIN_PASSWORD", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "PYTHONPATH", "VIRTUAL_ENV")
RENDERED = ("user-data.yaml", "packer/odoo-droplet.pkr.hcl", "packer/scripts/10-base.sh",
            "packer/scripts/30-agent.sh", "packer/files/deploy.json", "packer/files/baked.json",
            "droplet/docker-compose.yml", "droplet/odoo.conf", "droplet/nginx-site.conf")


def run(argv: list[str | Path], *, cwd: Path, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in argv], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


def ok(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, f"{result.args} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
    return result


def source_copy(dest: Path) -> Path:
    """The files a clone has (tracked, and new ones not ignored), copied: the build's own build/ and
    *.egg-info land in the copy, never in the checkout."""
    listed = subprocess.run(["git", "-C", str(REPO), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            capture_output=True, timeout=60)
    if listed.returncode == 0 and listed.stdout:
        for rel in filter(None, listed.stdout.decode().split("\0")):
            src = REPO / rel
            if src.is_file():
                (dest / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, dest / rel)
    else:  # an export without git metadata
        shutil.copytree(REPO, dest, dirs_exist_ok=True, ignore=shutil.ignore_patterns(
            ".git", ".venv", "build", "*.egg-info", "__pycache__", ".state", "out", ".ruff_cache", ".mypy_cache"))
    return dest


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv, outside the checkout, holding the built wheel and its dependencies: its bin/ folder."""
    root = tmp_path_factory.mktemp("wheel")
    assert not root.resolve().is_relative_to(REPO)
    env = {k: v for k, v in os.environ.items() if not k.startswith(FOREIGN_ENV)}
    src = source_copy(root / "src")
    dist = root / "dist"
    ok(run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-cache-dir", "-q", "-w", dist, src],
           cwd=root, env=env, timeout=600))
    wheels = sorted(dist.glob("odoo_droplet-*.whl"))
    assert len(wheels) == 1, wheels
    ok(run([sys.executable, "-m", "venv", root / "venv"], cwd=root, env=env))
    ok(run([root / "venv" / "bin" / "python", "-m", "pip", "install", "-q", wheels[0]], cwd=root, env=env,
           timeout=900))
    return root / "venv" / "bin"


@pytest.fixture
def operator(installed: Path, tmp_path: Path) -> Iterator[tuple[Path, dict[str, str]]]:
    """A working directory outside the checkout with the example settings, the environment of a shell
    without the checkout (its own local-cloud home), and `local down` at the end whatever happened."""
    work = tmp_path / "work"
    work.mkdir()
    shutil.copy(REPO / "examples" / "deploy.yaml", work / "deploy.yaml")
    env = {k: v for k, v in os.environ.items() if not k.startswith(FOREIGN_ENV)}
    env["ODL_LOCALCLOUD_HOME"] = str(tmp_path / "localcloud")
    env["PATH"] = f"{installed}{os.pathsep}{env.get('PATH', '')}"
    yield work, env
    run([installed / "odoo-droplet", "local", "down"], cwd=work, env=env, timeout=60)


def test_the_installed_cli_runs_the_local_cloud_check_config_and_render(installed: Path, operator) -> None:
    work, env = operator
    cli = installed / "odoo-droplet"

    up = json.loads(ok(run([cli, "local", "up", "--api-only", "--json"], cwd=work, env=env)).stdout)
    assert up["ok"] is True and up["backend"] == "memory" and up["url"].startswith("https://127.0.0.1:")
    ok(run([cli, "local", "status"], cwd=work, env=env))  # the API answers an authenticated request
    local_env = json.loads(ok(run([cli, "local", "env", "--json"], cwd=work, env=env)).stdout)
    assert local_env["DIGITALOCEAN_API_URL"] == up["url"]
    env.update(local_env)
    env.update(DB_PASSWORD="wheel-test-db-password", ADMIN_PASSWD="wheel-test-master-password")

    # Spaces: moto's S3 server, run by the installed package's own interpreter.
    s3 = ("import boto3, os, sys\n"
          "s3 = boto3.client('s3', endpoint_url=os.environ['SPACES_ENDPOINT'], region_name='nyc3',\n"
          "                  aws_access_key_id=os.environ['SPACES_KEY'], aws_secret_access_key=os.environ['SPACES_SECRET'])\n"
          "s3.create_bucket(Bucket='wheel-test')\n"
          "s3.put_object(Bucket='wheel-test', Key='proofs/x.json', Body=b'{}')\n"
          "print(s3.get_object(Bucket='wheel-test', Key='proofs/x.json')['Body'].read().decode())\n")
    assert ok(run([installed / "python", "-c", s3], cwd=work, env=env)).stdout.strip() == "{}"

    ok(run([cli, "check-config", "deploy.yaml"], cwd=work, env=env))
    ok(run([cli, "render", "--config", "deploy.yaml", "--out", "out"], cwd=work, env=env))
    for rel in RENDERED:
        path = work / "out" / rel
        assert path.is_file() and path.stat().st_size > 0, rel
    rendered = "\n".join(p.read_text() for p in (work / "out").rglob("*") if p.is_file())
    assert str(REPO) not in rendered
    assert f'"{installed.parent}/lib/' in (work / "out" / "packer" / "odoo-droplet.pkr.hcl").read_text()

    down = ok(run([cli, "local", "down", "--json"], cwd=work, env=env))
    assert json.loads(down.stdout) == {"ok": True}
    assert run([cli, "local", "status"], cwd=work, env=env).returncode == 3  # stopped


def test_the_installed_package_reads_its_own_files_and_never_names_the_checkout(installed: Path, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(FOREIGN_ENV)}
    probe = ("import importlib, json, sys\n"
             "out = {}\n"
             "for name, attrs in json.loads(sys.argv[1]).items():\n"
             "    module = importlib.import_module(name)\n"
             "    out.update({f'{name}.{a}': str(getattr(module, a)) for a in attrs})\n"
             "out['builder'] = importlib.import_module('builder').__file__\n"
             "print(json.dumps(out))\n")
    paths = json.loads(ok(run([installed / "python", "-c", probe, json.dumps(RUNTIME_PATHS)], cwd=tmp_path,
                              env=env)).stdout)
    site = Path(paths.pop("builder")).parent.parent
    assert not site.is_relative_to(REPO) and site.is_relative_to(installed.parent)
    for name, value in paths.items():
        assert Path(value).is_relative_to(site) and Path(value).exists(), f"{name} = {value}"

    named = []
    for top in [site / pkg for pkg in PACKAGES] + sorted(site.glob("odoo_droplet-*.dist-info")):
        for path in top.rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts and str(REPO).encode() in path.read_bytes():
                named.append(str(path.relative_to(site)))
    assert named == []
