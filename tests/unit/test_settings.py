"""deploy.yaml validation as the operator meets it: through the CLI, exit 2, every problem named."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from builder.cli import main
from builder.settings import load_settings, parse_settings, to_deploy
from firstboot.config import Deploy

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SECRETS = {
    "DB_PASSWORD": "db-secret-value-0001",
    "ADMIN_PASSWD": "admin-secret-value-0002",
    "DIGITALOCEAN_TOKEN": "do-token-value-0003",
    "SPACES_KEY": "spaces-key-value-0004",
    "SPACES_SECRET": "spaces-secret-value-0005",
}

VALID = textwrap.dedent(
    """\
    project: acme
    droplet: {region: nyc3, size: s-2vcpu-4gb}
    odoo: {image: acme/odoo, tag: "18.0-abc", modules: [base, sale_management]}
    """
)


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, str]:
    monkeypatch.chdir(tmp_path)  # no stray .env from the developer's checkout
    for name in [*SECRETS, "REGISTRY_TOKEN", "REGISTRY", "DIGITALOCEAN_API_URL", "SPACES_ENDPOINT"]:
        monkeypatch.delenv(name, raising=False)
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    return SECRETS


def run_render(tmp_path: Path, text: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    cfg = tmp_path / "deploy.yaml"
    cfg.write_text(text)
    code = main(["render", "--config", str(cfg), "--out", str(tmp_path / "out")])
    return code, capsys.readouterr().err


# (name, settings text, the field path the message must name, a word of the reason)
MALFORMED = [
    ("broken yaml", "project: [acme\n", "(yaml)", "not valid YAML"),
    ("top level list", "- a\n- b\n", "(top level)", "mapping"),
    ("unknown top key", VALID + "odooo: {}\n", "odooo", "unknown key"),
    ("unknown nested key", "droplet: {sise: s-2vcpu-4gb}\n", "droplet.sise", "unknown key"),
    ("region unknown", "droplet: {region: mars1}\n", "droplet.region", "nyc3"),
    ("size slug unknown", "droplet: {size: s-3vcpu-5gb}\n", "droplet.size", "unknown DigitalOcean size"),
    ("size too small", "droplet: {size: s-1vcpu-1gb}\n", "droplet.size", "s-1vcpu-2gb"),
    ("size wrong type", "droplet: {size: 4}\n", "droplet.size", "string"),
    ("tags not a list", "droplet: {tags: prod}\n", "droplet.tags", "list"),
    ("ssh key malformed", "droplet: {ssh_keys: ['not-a-fingerprint']}\n", "droplet.ssh_keys.0", "pattern"),
    ("module name bad", "odoo: {modules: [base, Sale-Mgmt]}\n", "odoo.modules.1", "not an Odoo module name"),
    ("modules empty", "odoo: {modules: []}\n", "odoo.modules", "at least 1"),
    ("modules duplicated", "odoo: {modules: [base, sale, sale]}\n", "odoo.modules", "more than once"),
    ("workers below two", "odoo: {workers: 1}\n", "odoo.workers", "8072"),
    ("workers word", "odoo: {workers: many}\n", "odoo.workers", "auto"),
    ("tag with space", "odoo: {tag: '18 0'}\n", "odoo.tag", "image tag"),
    ("database name", "odoo: {database: 'My DB'}\n", "odoo.database", "pattern"),
    ("prior equals tag", "odoo: {tag: '18.0', prior_tag: '18.0'}\n", "(top level)", "prior_tag"),
    ("managed without host", "postgres: {mode: managed, sslmode: require}\n", "postgres", "postgres.host"),
    ("managed without tls", "postgres: {mode: managed, host: db.example.com}\n", "postgres", "TLS"),
    ("postgres mode", "postgres: {mode: cloud}\n", "postgres.mode", "selfhost"),
    ("redis enabled string", "redis: {enabled: 'yes'}\n", "redis.enabled", "boolean"),
    ("letsencrypt without email", "edge: {domain: erp.example.com, tls: letsencrypt}\n", "edge", "email"),
    ("edge domain bad", "edge: {domain: 'Erp_Example'}\n", "edge.domain", "host name"),
    ("reserved ip bad", "reserved_ip: 300.1.1.1\n", "reserved_ip", "IPv4"),
    ("reserved ip private", "reserved_ip: 10.0.0.5\n", "reserved_ip", "public"),
    ("reserved auto without spaces", "reserved_ip: auto\n", "(top level)", "Spaces"),
    ("spaces bucket bad", "spaces: {region: nyc3, bucket: 'Bad_Bucket'}\n", "spaces.bucket", "pattern"),
    ("spaces region missing", "spaces: {bucket: proofs}\n", "spaces.region", "required"),
    ("dns record bad", "dns: {domain: example.com, record: 'a.b'}\n", "dns.record", "pattern"),
    ("edge outside zone", "dns: {domain: example.com, record: erp}\nedge: {domain: erp.other.org}\n", "(top level)", "zone"),
    ("gates timeout too short", "gates: {timeout_seconds: 5}\n", "gates.timeout_seconds", "greater than"),
    ("ship version not semver", "ship_version: '1.0'\n", "ship_version", "pattern"),
    ("token env lower", "registry: {token_env: token}\n", "registry.token_env", "environment variable"),
]


@pytest.mark.parametrize(("name", "text", "field", "why"), MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_config_exits_2_naming_the_field_and_writes_nothing(
    env: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, text: str, field: str, why: str
) -> None:
    code, err = run_render(tmp_path, text, capsys)
    assert code == 2
    assert f"- {field}:" in err, err
    assert why in err, err
    assert not (tmp_path / "out").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["deploy.yaml"]  # no staging directory left either


def test_every_problem_is_listed_not_just_the_first(env: dict[str, str], tmp_path: Path, capsys) -> None:
    text = "droplet: {region: mars1, size: s-1vcpu-1gb}\nodoo: {modules: [Bad], workers: 0, tagg: x}\n"
    code, err = run_render(tmp_path, text, capsys)
    assert code == 2
    for field in ("droplet.region", "droplet.size", "odoo.modules.0", "odoo.workers", "odoo.tagg"):
        assert f"- {field}:" in err


@pytest.mark.parametrize("missing", ["DB_PASSWORD", "ADMIN_PASSWD"])
def test_missing_secret_is_named_and_nothing_is_written(
    env: dict[str, str], tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch, missing: str
) -> None:
    monkeypatch.delenv(missing)
    code, err = run_render(tmp_path, VALID, capsys)
    assert code == 2
    assert f"secrets.{missing}: (missing)" in err
    assert not (tmp_path / "out").exists()


def test_secrets_needed_by_the_settings_are_required(env, tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.delenv("SPACES_SECRET")
    monkeypatch.delenv("DIGITALOCEAN_TOKEN")
    text = VALID + "spaces: {region: nyc3, bucket: proofs}\nreserved_ip: auto\nregistry: {username: bot}\n"
    code, err = run_render(tmp_path, text, capsys)
    assert code == 2
    for name in ("SPACES_SECRET", "DIGITALOCEAN_TOKEN", "REGISTRY_TOKEN"):
        assert f"secrets.{name}: (missing)" in err


def test_short_password_is_refused_without_echoing_it(env, tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("DB_PASSWORD", "short-pw")
    code, err = run_render(tmp_path, VALID, capsys)
    assert code == 2
    assert "secrets.DB_PASSWORD" in err and "short-pw" not in err


@pytest.mark.parametrize("bad", ["-starts-with-a-dash-0001", "has a space inside 0002", 'has"quote"inside0003'])
def test_db_password_the_odoo_image_cannot_pass_on_is_refused_up_front(env, tmp_path: Path, capsys, monkeypatch, bad):
    monkeypatch.setenv("DB_PASSWORD", bad)
    code, err = run_render(tmp_path, VALID, capsys)
    assert code == 2
    assert "secrets.DB_PASSWORD" in err and bad not in err
    assert not (tmp_path / "out").exists()


def test_dotenv_supplies_secrets_and_environment_wins(env, tmp_path: Path, monkeypatch) -> None:
    from builder.secrets_env import environment

    (tmp_path / ".env").write_text("export DB_PASSWORD='from dotenv # not a comment'\nADMIN_PASSWD=x # comment\n")
    monkeypatch.delenv("DB_PASSWORD")
    merged = environment(tmp_path / ".env")
    assert merged["DB_PASSWORD"] == "from dotenv # not a comment"
    assert merged["ADMIN_PASSWD"] == SECRETS["ADMIN_PASSWD"]


def test_check_config_accepts_the_examples(env, capsys, monkeypatch) -> None:
    assert main(["check-config", str(EXAMPLES / "deploy.yaml")]) == 0
    monkeypatch.setenv("REGISTRY_TOKEN", "registry-token-0006")
    assert main(["check-config", str(EXAMPLES / "deploy.digitalocean.yaml"), "--json"]) == 0
    assert '"ok": true' in capsys.readouterr().out


def test_missing_file_is_bad_input(env, tmp_path: Path, capsys) -> None:
    assert main(["check-config", str(tmp_path / "nope.yaml")]) == 2
    assert "nope.yaml" in capsys.readouterr().err


def test_deploy_round_trips_through_the_droplet_json() -> None:
    settings = load_settings(EXAMPLES / "deploy.digitalocean.yaml")
    deploy = to_deploy(settings, {"REGISTRY": "10.213.0.1:5000", "DIGITALOCEAN_API_URL": "https://10.213.0.1:8443/"})
    assert Deploy.from_dict(deploy.to_dict()) == deploy
    assert deploy.registry.host == "10.213.0.1:5000"
    assert deploy.endpoints.api_url == "https://10.213.0.1:8443"
    assert deploy.reserved_ip.mode == "auto"
    assert deploy.odoo.modules[0] == "base"


def test_reserved_ip_address_is_kept() -> None:
    deploy = to_deploy(parse_settings("reserved_ip: 45.55.0.10\n"), {})
    assert (deploy.reserved_ip.mode, deploy.reserved_ip.address) == ("address", "45.55.0.10")


def test_secrets_are_read_by_secrets_from_env_with_the_registry_token_under_its_settings_name() -> None:
    from builder.secrets_env import secrets_from
    from firstboot.config import Secrets

    env = {**SECRETS, "GHCR_PAT": "registry-token-0006", "REGISTRY_TOKEN": "not-this-one-0007"}
    deploy = to_deploy(parse_settings("registry: {username: bot, token_env: GHCR_PAT}\n"), {})
    secrets = secrets_from(deploy, env)
    assert secrets == Secrets.from_env(env, registry_token_env="GHCR_PAT")
    assert secrets.registry_token == "registry-token-0006"
    assert (secrets.db_password, secrets.spaces_secret) == (SECRETS["DB_PASSWORD"], SECRETS["SPACES_SECRET"])
    # On the droplet, secrets.env keeps the standard names, and reads back to the same secrets.
    assert Secrets.from_env(secrets.to_env()) == secrets
    # Unset or empty: None, except the two passwords every deploy has, which are "" (refused before use).
    assert Secrets.from_env({"SPACES_KEY": ""}) == Secrets(db_password="", admin_passwd="")


def test_dotenv_is_read_by_the_one_env_file_reader(tmp_path: Path) -> None:
    from builder.secrets_env import read_dotenv
    from firstboot.contract.envfile import parse_env

    text = "export A='x y' # note\nB=\"q\"\n# comment\nC=unbalanced'quote\nnot a pair\n"
    (tmp_path / ".env").write_text(text)
    assert read_dotenv(tmp_path / ".env") == parse_env(text) == {"A": "x y", "B": "q", "C": "unbalanced'quote"}
    assert read_dotenv(tmp_path / "absent.env") == {}
