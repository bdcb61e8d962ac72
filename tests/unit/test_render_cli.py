"""`odoo-droplet render`: what an operator reviews before anything is deployed."""

from __future__ import annotations

from pathlib import Path

import pytest

from builder.cli import main

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SECRETS = {
    "DB_PASSWORD": "render-db-secret-0001",
    "ADMIN_PASSWD": "render-admin-secret-0002",
    "DIGITALOCEAN_TOKEN": "render-do-token-0003",
    "SPACES_KEY": "render-spaces-key-0004",
    "SPACES_SECRET": "render-spaces-secret-0005",
}


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("REGISTRY", "DIGITALOCEAN_API_URL", "SPACES_ENDPOINT", "REGISTRY_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)


def test_render_writes_every_file_with_secrets_redacted(env, tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    assert main(["render", "--config", str(EXAMPLES / "deploy.yaml"), "--out", str(out)]) == 0
    files = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    for expected in ("user-data.yaml", "droplet/docker-compose.yml", "droplet/odoo.conf", "droplet/nginx-site.conf"):
        assert expected in files
    assert any(f.startswith("packer/") and f.endswith(".pkr.hcl") for f in files)
    assert (out / "user-data.yaml").read_text().startswith("#cloud-config")
    everything = "".join((out / f).read_text(errors="replace") for f in files)
    for value in SECRETS.values():
        assert value not in everything
    assert "<redacted>" in (out / "droplet/odoo.conf").read_text()
    assert "<redacted>" in (out / "user-data.yaml").read_text()


def test_render_size_changes_the_workers(env, tmp_path: Path) -> None:
    def workers(size: str) -> int:
        out = tmp_path / size
        assert main(["render", "--config", str(EXAMPLES / "deploy.yaml"), "--size", size, "--out", str(out)]) == 0
        line = next(x for x in (out / "droplet/odoo.conf").read_text().splitlines() if x.startswith("workers"))
        return int(line.split("=")[1])

    assert (workers("s-1vcpu-2gb"), workers("s-4vcpu-8gb")) == (3, 9)


def test_render_refuses_a_size_too_small_and_writes_nothing(env, tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    code = main(["render", "--config", str(EXAMPLES / "deploy.yaml"), "--size", "s-1vcpu-1gb", "--out", str(out)])
    assert code == 2
    assert "s-1vcpu-2gb" in capsys.readouterr().err
    assert not out.exists()
