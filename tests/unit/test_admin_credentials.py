"""The operator's side of the admin password: ODOO_ADMIN_PASSWORD from the environment, else generated once
into a 0600, git-ignored file beside the settings and reused; check-config names it when too short; the
admin login e-mail setting."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from builder.cli import main
from builder.deploy import CREDENTIALS_FILE, admin_password
from builder.errors import Refused
from builder.settings import SettingsError, load_settings, to_deploy
from firstboot.config import Secrets
from firstboot.contract.envfile import parse_env

REPO = Path(__file__).resolve().parents[2]
BASE = Secrets(db_password="db-password-value-1", admin_passwd="master-password-value-2")
SECRETS = {"DB_PASSWORD": "db-secret-value-0001", "ADMIN_PASSWD": "admin-secret-value-0002"}


def test_the_operators_own_password_is_used_and_nothing_is_written(tmp_path: Path) -> None:
    given = Secrets(**{**BASE.__dict__, "odoo_admin_password": "operator-chosen-password"})
    got = admin_password(given, tmp_path)
    assert got.secrets.odoo_admin_password == "operator-chosen-password" and got.path is None
    assert not (tmp_path / CREDENTIALS_FILE).exists()


def test_none_given_generates_one_into_a_private_file_and_reuses_it(tmp_path: Path) -> None:
    first = admin_password(BASE, tmp_path)
    path = tmp_path / CREDENTIALS_FILE
    assert first.created and first.path == path
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    value = first.secrets.odoo_admin_password
    assert value and len(value) >= 24 and value != "admin"
    assert parse_env(path.read_text())["ODOO_ADMIN_PASSWORD"] == value
    again = admin_password(BASE, tmp_path)  # a re-run: the same password, the file untouched
    assert not again.created and again.secrets.odoo_admin_password == value
    path.chmod(0o644)  # loosened by hand: made private again
    admin_password(BASE, tmp_path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_an_unusable_credentials_file_is_refused_with_a_hint(tmp_path: Path) -> None:
    (tmp_path / CREDENTIALS_FILE).write_text("ODOO_ADMIN_PASSWORD=short\n")
    with pytest.raises(Refused) as caught:
        admin_password(BASE, tmp_path)
    assert "ODOO_ADMIN_PASSWORD" in caught.value.text() and "delete the file" in caught.value.text()


def test_the_credentials_file_is_git_ignored() -> None:
    assert CREDENTIALS_FILE in (REPO / ".gitignore").read_text().splitlines()


def test_check_config_names_a_too_short_admin_password(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for name, value in {**SECRETS, "ODOO_ADMIN_PASSWORD": "short"}.items():
        monkeypatch.setenv(name, value)
    cfg = tmp_path / "deploy.yaml"
    cfg.write_text("project: acme\nodoo: {image: acme/odoo, modules: [base, web]}\n")
    assert main(["check-config", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert "- secrets.ODOO_ADMIN_PASSWORD: (set) — shorter than 12 characters" in err, err
    assert "short" not in err.replace("shorter", "")  # the value itself is never echoed
    monkeypatch.delenv("ODOO_ADMIN_PASSWORD")
    assert main(["check-config", str(cfg)]) == 0  # optional: `droplet` generates one


def test_the_admin_email_reaches_the_droplet_and_a_bad_one_is_refused(tmp_path: Path) -> None:
    cfg = tmp_path / "deploy.yaml"
    cfg.write_text("odoo: {admin_email: it@acme.example}\n")
    assert to_deploy(load_settings(cfg), {}).odoo.admin_email == "it@acme.example"
    cfg.write_text("odoo: {admin_email: not-an-address}\n")
    with pytest.raises(SettingsError) as caught:
        load_settings(cfg)
    assert any(p.field == "odoo.admin_email" for p in caught.value.problems)
