"""Settings that cannot stall or crash the tool: each hostile file or secret is answered through the CLI
with exit 2, a message that names what is wrong, no traceback, and at once.

The time bound (TIME_BOUND) is a guard against expansion or quadratic blow-ups, which took minutes;
it is not a benchmark (bench/settings_bench.py prints the figures)."""

from __future__ import annotations

import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from builder.cli import main
from builder.settings import OdooSettings, SettingsError, load_settings
from builder.settings_file import MAX_BYTES, MAX_DEPTH

TIME_BOUND = 2.0  # seconds; each case answers in a small part of that
SECRETS = {
    "DB_PASSWORD": "db-secret-value-0001",
    "ADMIN_PASSWD": "admin-secret-value-0002",
    "DIGITALOCEAN_TOKEN": "do-token-value-0003",
    "SPACES_KEY": "spaces-key-value-0004",
    "SPACES_SECRET": "spaces-secret-value-0005",
}
VALID = "project: acme\nodoo: {image: acme/odoo, modules: [base, web]}\n"


def billion_laughs() -> str:
    """The classic alias bomb, padded to the 1.7 KB of the file that took 81 s and 3 GB: ten levels of
    ten aliases each, 10^10 strings once expanded."""
    lines = ['l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, 10):
        lines.append(f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 10) + "]")
    text = "project: acme\n" + "\n".join(lines) + "\nodoo: {modules: *l9}\n"
    return text + "#" * (1700 - len(text) - 1) + "\n"


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, str]:
    monkeypatch.chdir(tmp_path)  # no stray .env from the developer's checkout
    for name in [*SECRETS, "REGISTRY_TOKEN", "REGISTRY", "DIGITALOCEAN_API_URL", "SPACES_ENDPOINT"]:
        monkeypatch.delenv(name, raising=False)
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    return SECRETS


@pytest.fixture(autouse=True, scope="module")
def _cli_imported() -> None:
    """The first command imports the CLI's modules (a second or more on a busy machine): not the file's doing."""
    main(["check-config", "/nonexistent/deploy.yaml"])


def timed(call: Callable[[], int]) -> tuple[int, float]:
    start = time.monotonic()
    code = call()
    return code, time.monotonic() - start


def check_config(tmp_path: Path, content: str | bytes, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, float]:
    cfg = tmp_path / "deploy.yaml"
    if isinstance(content, bytes):
        cfg.write_bytes(content)
    else:
        cfg.write_text(content, encoding="utf-8")
    code, seconds = timed(lambda: main(["check-config", str(cfg)]))
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, err, seconds


def test_the_bomb_is_what_it_claims() -> None:
    text = billion_laughs()
    assert len(text) == 1700 and text.count("*") == 91


def test_alias_bomb_is_refused_at_once(env, tmp_path: Path, capsys) -> None:
    code, err, seconds = check_config(tmp_path, billion_laughs(), capsys)
    assert code == 2
    assert "- (yaml): line 2, column 5 — anchor &l0" in err, err
    assert "anchors and aliases are not accepted" in err
    assert seconds < TIME_BOUND


def test_alias_bomb_is_refused_in_little_memory(tmp_path: Path) -> None:
    cfg = tmp_path / "deploy.yaml"
    cfg.write_text(billion_laughs())
    tracemalloc.start()
    try:
        with pytest.raises(SettingsError, match="anchor &l0"):
            load_settings(cfg)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * 1024 * 1024, peak  # it took 3 GB


@pytest.mark.parametrize(("name", "text", "where", "why"), [
    ("merge key", "base: &base {tag: '18.0'}\nodoo:\n  <<: *base\n", "line 1, column 7", "anchor &base"),
    ("anchor on a scalar", "project: &p acme\n", "line 1, column 10", "anchor &p"),
])
def test_any_anchor_is_refused_naming_its_place(env, tmp_path: Path, capsys, name, text, where, why) -> None:
    code, err, seconds = check_config(tmp_path, text, capsys)
    assert code == 2
    assert f"- (yaml): {where} — {why}" in err, err
    assert seconds < TIME_BOUND


def test_a_file_over_the_size_limit_is_refused_naming_the_limit(env, tmp_path: Path, capsys) -> None:
    padding = "#" * 79 + "\n"
    text = VALID + padding * (MAX_BYTES // len(padding) + 1)
    assert len(text.encode()) > MAX_BYTES == 256 * 1024
    code, err, seconds = check_config(tmp_path, text, capsys)
    assert code == 2
    assert "256 KiB limit" in err, err
    assert seconds < TIME_BOUND


def test_a_file_at_the_size_limit_is_read_and_checked_whole_at_once(env, tmp_path: Path, capsys) -> None:
    """The largest file accepted: ~13k modules, one of them twice (the check used to be quadratic). Bounded
    beside a floor measured here, plain YAML parsing of the same text, as the machine may be busy."""
    names = [f"module_{i:05d}" for i in range((MAX_BYTES - 100) // len("    - module_00000\n"))]
    text = "project: acme\nodoo:\n  modules:\n" + "".join(f"    - {m}\n" for m in [*names, names[7]])
    assert MAX_BYTES - 4096 < len(text.encode()) <= MAX_BYTES
    start = time.monotonic()
    yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    floor = time.monotonic() - start
    code, err, seconds = check_config(tmp_path, text, capsys)
    assert code == 2
    assert "- odoo.modules:" in err and "listed more than once: module_00007" in err, err
    assert seconds < TIME_BOUND + 5 * floor, (seconds, floor)


def test_the_duplicate_module_check_is_linear() -> None:
    """200k modules, validated directly (past the file's size limit): quadratic, this took minutes (40k: 23 s)."""
    names = [f"m{i}" for i in range(200_000)]
    start = time.monotonic()
    with pytest.raises(ValueError, match="listed more than once: m5"):
        OdooSettings(modules=[*names, "m5"])
    assert time.monotonic() - start < 4 * TIME_BOUND  # 200k pattern checks by pydantic, on a shared machine


@pytest.mark.parametrize(("name", "text", "field", "where"), [
    ("second odoo block", "project: acme\nodoo:\n  tag: '18.0'\nredis: {enabled: true}\nodoo:\n  modules: [base]\n",
     "odoo", "line 2 and line 5"),
    ("key twice in a flow mapping", "odoo: {tag: '18.0', tag: '17.0'}\n", "tag", "line 1 and line 1"),
    ("quoted and plain spelling", "project: acme\n'project': other\n", "project", "line 1 and line 2"),
])
def test_a_key_given_twice_is_refused_naming_both_lines(env, tmp_path: Path, capsys, name, text, field, where) -> None:
    code, err, seconds = check_config(tmp_path, text, capsys)
    assert code == 2
    assert f"- {field}: {where} — given twice" in err, err
    assert seconds < TIME_BOUND


@pytest.mark.parametrize(("name", "content", "where"), [
    ("latin-1", "project: café\n".encode("latin-1"), "line 1, byte 12"),
    ("binary", b"project: acme\n\xff\xfe\x00\x01", "line 2, byte 14"),
])
def test_a_file_that_is_not_utf8_is_refused(env, tmp_path: Path, capsys, name, content, where) -> None:
    code, err, seconds = check_config(tmp_path, content, capsys)
    assert code == 2
    assert f"- (file): {where} — not UTF-8 text" in err, err
    assert seconds < TIME_BOUND


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n", "---\n"])
def test_an_empty_file_is_refused(env, tmp_path: Path, capsys, text: str) -> None:
    code, err, seconds = check_config(tmp_path, text, capsys)
    assert code == 2
    assert "holds no settings" in err, err
    assert seconds < TIME_BOUND


def test_deep_nesting_is_refused(env, tmp_path: Path, capsys) -> None:
    code, err, seconds = check_config(tmp_path, "project: " + "[" * 500 + "]" * 500 + "\n", capsys)
    assert code == 2
    assert f"nested more than {MAX_DEPTH} levels deep" in err, err
    assert seconds < TIME_BOUND


def test_many_bad_module_names_are_summed_up_not_all_listed(tmp_path: Path) -> None:
    cfg = tmp_path / "deploy.yaml"
    cfg.write_text("odoo:\n  modules:\n" + "    - Bad-Name\n" * 10_000)
    with pytest.raises(SettingsError) as caught:
        load_settings(cfg)
    problems = caught.value.problems
    assert len(problems) == 51 and problems[-1].field == "(more)" and problems[-1].value == "9950 more"


@pytest.mark.parametrize(("name", "value", "minimum"), [
    ("DIGITALOCEAN_TOKEN", "x", 16),
    ("SPACES_KEY", "k", 16),
    ("SPACES_SECRET", "s", 16),
    ("ADMIN_PASSWD", "a", 12),
    ("DB_PASSWORD", "d", 12),
])
@pytest.mark.parametrize("command", ["check-config", "render"])
def test_a_secret_shorter_than_its_minimum_is_refused_by_name(
    env, tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch, command: str, name: str, value: str, minimum: int
) -> None:
    """A one-character token made `render` die on its own leak check with an AssertionError."""
    monkeypatch.setenv(name, value)
    cfg = tmp_path / "deploy.yaml"
    cfg.write_text(VALID)
    argv = ["check-config", str(cfg)] if command == "check-config" else [
        "render", "--config", str(cfg), "--out", str(tmp_path / "out")]
    code, seconds = timed(lambda: main(argv))
    err = capsys.readouterr().err
    assert code == 2
    assert f"- secrets.{name}: (set) — shorter than {minimum} characters" in err, err
    assert "Traceback" not in err and "AssertionError" not in err
    assert not (tmp_path / "out").exists()
    assert seconds < TIME_BOUND


def test_a_short_registry_token_is_refused_under_the_name_the_settings_give(
    env, tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GHCR_PAT", "t")
    code, err, _ = check_config(tmp_path, VALID + "registry: {username: bot, token_env: GHCR_PAT}\n", capsys)
    assert code == 2
    assert "- secrets.GHCR_PAT: (set) — shorter than 16 characters" in err, err


def test_a_registry_token_without_a_registry_username_is_refused(
    env, tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    """It used to stop the bake inside Packer (40-images.sh), after the build droplet existed."""
    monkeypatch.setenv("REGISTRY_TOKEN", "registry-token-0006")
    code, err, seconds = check_config(tmp_path, VALID, capsys)
    assert code == 2
    assert "- secrets.REGISTRY_TOKEN: (set) — a registry token needs registry.username" in err, err
    assert "registry-token-0006" not in err
    assert seconds < TIME_BOUND
    code, _, _ = check_config(tmp_path, VALID + "registry: {username: bot}\n", capsys)
    assert code == 0
