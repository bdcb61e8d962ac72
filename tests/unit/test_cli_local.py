"""`odoo-droplet local up|down|status|env` calls localcloud.control's functions and prints what
`python -m localcloud` prints (text and --json): control's functions are stood in for here, nothing starts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from builder.cli import main
from localcloud import control

URL = "https://10.213.0.1:8443"
EXPORTS = [
    f"export DIGITALOCEAN_API_URL={URL}",
    "export DIGITALOCEAN_TOKEN=tok-123",
    "export SSL_CERT_FILE='/var/lib/a dir/bundle.pem'",
]
VALUES = {"DIGITALOCEAN_API_URL": URL, "DIGITALOCEAN_TOKEN": "tok-123", "SSL_CERT_FILE": "/var/lib/a dir/bundle.pem"}


@pytest.fixture
def home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.setenv("ODL_LOCALCLOUD_HOME", str(tmp_path))
    calls: list[tuple[str, Any]] = []

    def up(home: Path | None = None, *, api_only: bool = False, **kwargs: Any) -> control.ServerConfig:
        calls.append(("up", (home, api_only)))
        return control.ServerConfig("10.213.0.1", 8443, "docker")

    def status(home: Path | None = None) -> dict[str, Any]:
        return {"home": str(home), "api": {"running": False, "pid": None, "url": None, "backend": None}, "state": {}}

    monkeypatch.setattr(control, "up", up)
    monkeypatch.setattr(control, "down", lambda home=None: calls.append(("down", home)))
    monkeypatch.setattr(control, "status", status)
    monkeypatch.setattr(control, "env_lines", lambda home=None: list(EXPORTS))
    monkeypatch.setattr(control, "env_values", lambda home=None: dict(VALUES))
    monkeypatch.setattr(control, "main", lambda argv=None: pytest.fail("control.main is not the way in"))
    return tmp_path


def test_up_prints_the_api_url_in_text_and_json(home: Path, capsys) -> None:
    assert main(["local", "up"]) == 0
    assert capsys.readouterr().out == (f"local cloud API at {URL} (backend docker); "
                                       '`eval "$(odoo-droplet local env)"`\n')
    assert main(["local", "up", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"ok": True, "url": URL, "backend": "docker", "home": str(home)}


def test_down_says_ok_in_json_and_nothing_in_text(home: Path, capsys) -> None:
    assert main(["local", "down"]) == 0
    assert capsys.readouterr().out == ""
    assert main(["local", "down", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"ok": True}


def test_status_is_json_either_way_and_exit_3_when_not_running(home: Path, capsys) -> None:
    for argv in (["local", "status"], ["local", "status", "--json"]):
        assert main(argv) == 3
        out = capsys.readouterr().out
        assert out.startswith("{\n  ") and json.loads(out)["api"]["running"] is False


def test_env_prints_export_lines_or_their_values_as_json(home: Path, capsys) -> None:
    assert main(["local", "env"]) == 0
    assert capsys.readouterr().out.splitlines() == EXPORTS
    assert main(["local", "env", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"DIGITALOCEAN_API_URL": URL, "DIGITALOCEAN_TOKEN": "tok-123",
                                                   "SSL_CERT_FILE": "/var/lib/a dir/bundle.pem"}


def test_up_api_only_asks_for_the_api_and_spaces_on_free_ports(home: Path, monkeypatch: pytest.MonkeyPatch,
                                                                capsys) -> None:
    """No Docker: the in-memory API plus the Spaces stand-in, on ports chosen free (beside any other cloud)."""
    seen: list[dict[str, Any]] = []

    def up(home: Path | None = None, **kwargs: Any) -> control.ServerConfig:
        seen.append(kwargs)
        return control.ServerConfig("127.0.0.1", 40001, "memory", 40002, 40003)

    monkeypatch.setattr(control, "up", up)
    assert main(["local", "up", "--api-only", "--json"]) == 0
    assert seen == [{"api_only": True, "spaces": True, "port": 0}]
    assert json.loads(capsys.readouterr().out)["url"] == "https://127.0.0.1:40001"


def test_the_api_only_clouds_own_spaces_ports_come_back_from_its_settings(tmp_path: Path) -> None:
    cfg = control.ServerConfig("127.0.0.1", 40001, "memory", 40002, 40003)
    (tmp_path / "api.json").write_text(json.dumps(cfg.__dict__))
    from localcloud.home import Home
    assert Home.of(tmp_path).api_config == tmp_path / "api.json"
    assert control.read_config(tmp_path) == cfg
    assert cfg.network.loopback_spaces_endpoint == "http://127.0.0.1:40002"
    assert cfg.network.spaces_backend_port == 40003
    plain = control.ServerConfig("10.213.0.1", 8443, "docker")
    assert plain.network.spaces_port == 9000  # the standard cloud keeps the standard ports
