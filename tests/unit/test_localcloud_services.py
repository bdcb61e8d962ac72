"""Pure parts of the local cloud's services and of the Odoo stand-in: commands, configs, Odoo 18's rules."""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

import pytest

from firstboot.contract.envfile import parse_env
from localcloud.services import procs, registry, spaces, standins

STANDIN = standins.IMAGES_DIR / "odoo" / "standin_odoo.py"


@pytest.fixture(scope="module")
def standin():
    spec = importlib.util.spec_from_file_location("standin_odoo", STANDIN)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    sys.modules["standin_odoo"] = mod
    spec.loader.exec_module(mod)
    return mod


# ---------------------------------------------------------------------------------------------- services


def test_registry_config_is_tls_on_loopback_with_disk_storage(tmp_path: Path) -> None:
    text = registry.registry_config(tmp_path / "store", tmp_path / "server.pem", tmp_path / "server.key")
    assert "addr: 127.0.0.1:5000" in text
    assert f"certificate: {tmp_path / 'server.pem'}" in text and f"key: {tmp_path / 'server.key'}" in text
    assert f"rootdirectory: {tmp_path / 'store'}" in text


def test_gateway_forwards_only_when_the_bridge_exists(tmp_path: Path) -> None:
    without = registry.registry_procs(tmp_path / "r.yml", gateway_up=False)
    with_gw = registry.registry_procs(tmp_path / "r.yml", gateway_up=True)
    assert [p.listen for p in without] == [(("127.0.0.1", 5000),)]
    assert with_gw[1].listen == (("10.213.0.1", 5000),)
    assert with_gw[1].argv == ("socat", "TCP-LISTEN:5000,bind=10.213.0.1,reuseaddr,fork", "TCP:127.0.0.1:5000")
    fronts = spaces.spaces_front_procs(gateway_up=True)
    assert {p.listen[0] for p in fronts} == {("127.0.0.1", 9000), ("10.213.0.1", 9000)}
    assert all(p.argv[-1] == "TCP:127.0.0.1:19000" for p in fronts)  # the fronts lead to moto's private port


def test_has_ipv4_reads_ip_addr_output() -> None:
    out = (
        "1: lo    inet 127.0.0.1/8 scope host lo\n"
        "27: odl-cloud    inet 10.213.0.1/24 brd 10.213.0.255 scope global odl-cloud\n"
    )
    assert procs.has_ipv4(out, "10.213.0.1")
    assert not procs.has_ipv4(out, "10.213.0.10")
    assert not procs.has_ipv4("1: lo    inet 127.0.0.1/8 scope host lo\n", "10.213.0.1")


def test_standin_builds_cover_every_tag_with_its_behaviour() -> None:
    builds = {ref: args for ref, _, args in standins.standin_builds("reg:5000")}
    assert "reg:5000/postgres:16" in builds and "reg:5000/redis:7" in builds
    assert builds["reg:5000/odoo:18.0-failinstall"]["ODL_STANDIN_BEHAVIOUR"] == "failinstall"
    assert builds["reg:5000/odoo:18.0-prior"]["ODL_STANDIN_BEHAVIOUR"] == "good"
    assert {r.rsplit(":", 1)[1] for r in builds if "/odoo:" in r} == set(standins.ODOO_TAGS)
    argv = standins.docker_build_argv("reg:5000/odoo:18.0", Path("/ctx"), {"ODL_STANDIN_BEHAVIOUR": "good"})
    assert argv[:2] == ["docker", "build"] and argv[-1] == "/ctx"
    assert "BASE=odl/debian-minbase:12" in argv and "ODL_STANDIN_BEHAVIOUR=good" in argv


def test_push_goes_through_loopback_for_our_registry_only() -> None:
    assert registry.push_ref("10.213.0.1:5000/odoo:18.0") == "127.0.0.1:5000/odoo:18.0"
    assert registry.push_ref("127.0.0.1:5000/odoo:18.0") == "127.0.0.1:5000/odoo:18.0"
    assert registry.push_ref("ghcr.io/acme/odoo:18.0") == "ghcr.io/acme/odoo:18.0"


def test_spaces_credentials_shape_and_env_file_round_trip() -> None:
    creds = spaces.new_spaces_credentials()
    assert creds["SPACES_KEY"].startswith("DO00") and len(creds["SPACES_KEY"]) == 20
    assert creds != spaces.new_spaces_credentials()
    text = "".join(f"{k}={v}\n" for k, v in creds.items())
    assert parse_env("# comment\n" + text) == creds


def test_base_sources_include_updates_and_security() -> None:
    text = standins.base_sources("http://m/debian", "http://m/debian-security")
    assert "Suites: bookworm bookworm-updates" in text and "Suites: bookworm-security" in text


# ---------------------------------------------------------------------------------------------- odoo stand-in


def _headers(**overrides: str | None) -> dict[str, str]:
    h = {
        "connection": "Upgrade",
        "host": "odoo.test",
        "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
        "sec-websocket-version": "13",
        "upgrade": "websocket",
        "origin": "https://odoo.test",
    }
    for k, v in overrides.items():
        key = k.replace("_", "-")
        if v is None:
            h.pop(key)
        else:
            h[key] = v
    return h


def test_websocket_handshake_rules_of_odoo_18(standin) -> None:
    assert standin.handshake_problem(_headers()) is None
    assert standin.handshake_problem(_headers(origin=None)) == (400, "Empty or missing header(s): origin")
    assert standin.handshake_problem(_headers(upgrade="h2c"))[0] == 400
    assert standin.handshake_problem(_headers(sec_websocket_version="8"))[0] == 426
    assert standin.handshake_problem(_headers(sec_websocket_key="c2hvcnQ="))[0] == 400
    # RFC 6455's own example key and accept value.
    assert standin.websocket_accept("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def test_db_filter_like_odoo(standin) -> None:
    conf = {"dbfilter": "", "db_name": ""}
    assert standin.db_filter(["a", "b"], conf, "x") == ["a", "b"]
    assert standin.db_filter(["a", "b"], {**conf, "db_name": "b"}, "x") == ["b"]
    assert standin.db_filter(["shop", "crm"], {**conf, "dbfilter": "^%d$"}, "shop.example.com") == ["shop"]
    assert standin.db_filter(["odoo", "odoo2"], {**conf, "dbfilter": "^odoo$", "db_name": "odoo2"}, "h") == ["odoo"]


def test_config_file_then_command_line(standin, tmp_path: Path) -> None:
    rc = tmp_path / "odoo.conf"
    rc.write_text("[options]\nworkers = 3\ndb_name = prod\nlist_db = False\nhttp_port = 8069\ndb_password = f\n")
    args = standin.build_parser().parse_args(["--db_password", "cli", "--gevent-port", "9072"])
    conf = standin.load_config(args, {"ODOO_RC": str(rc)})
    assert conf["workers"] == 3 and conf["db_name"] == "prod" and conf["list_db"] is False
    assert conf["db_password"] == "cli" and conf["gevent_port"] == 9072
    defaults = standin.load_config(standin.build_parser().parse_args([]), {})
    assert defaults["workers"] == 0 and defaults["gevent_port"] == 8072 and defaults["list_db"] is True


def test_install_set_includes_dependencies_and_base(standin) -> None:
    mods = standin.with_dependencies(["sale"])
    assert {"base", "web", "sale", "account", "sales_team"} <= set(mods)
    assert "crm" not in mods
    assert isinstance(standin.build_parser(), argparse.ArgumentParser)


def test_real_odoo_flags_the_stand_in_does_not_model_are_tolerated(standin) -> None:
    args, unknown = standin.build_parser().parse_known_args(["-d", "x", "--limit-time-real=720", "-i", "base"])
    assert args.db_name == "x" and args.init == "base"
    assert unknown == ["--limit-time-real=720"]


def test_processes_are_known_by_program_or_script() -> None:
    moto = spaces.spaces_backend_proc("/venv/bin/python3")
    assert procs.proc_ident(moto) == "spaces_moto.py"
    assert moto.argv[-4:] == ("-H", "127.0.0.1", "-p", "19000")
    assert procs.proc_ident(procs.forward_proc("x", "127.0.0.1", 1, 2)) == "socat"
