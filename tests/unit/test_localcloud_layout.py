"""The local cloud's explicit state folder and addresses, its router, and control's command line, without a
daemon or Docker: `Home` names every path once, `Network` every address, and the router answers 404/405 as
the server expects."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest

from localcloud import control
from localcloud.api.resources import ROUTER, account_keys, droplets
from localcloud.home import DEFAULT_HOME, HOME_ENV, Home
from localcloud.network import NETWORK
from localcloud.services import HostServices, ServiceError


def test_home_comes_from_the_environment_only_when_asked(tmp_path: Path) -> None:
    assert Home.from_env({}).root == DEFAULT_HOME
    assert Home.from_env({HOME_ENV: str(tmp_path)}).root == tmp_path
    home = Home.of(tmp_path)
    assert Home.of(home) is home
    assert home.state_file == tmp_path / "state.json" and home.api_pid == tmp_path / "api.pid"
    assert home.log("api") == tmp_path / "logs" / "api.log"
    assert home.spaces_credentials == tmp_path / "spaces" / "credentials.env"
    assert home.metadata_records == tmp_path / "metadata" and home.seeds == tmp_path / "seeds"


def test_network_addresses_agree_with_each_other() -> None:
    assert NETWORK.cloud_address(12) == "10.213.0.12" and NETWORK.metadata_address(12) == "169.254.169.12"
    assert NETWORK.registry == "10.213.0.1:5000" and NETWORK.loopback_registry == "127.0.0.1:5000"
    assert NETWORK.spaces_endpoint == "http://10.213.0.1:9000"
    assert NETWORK.reserved_range == (100, 254)
    assert NETWORK.gateway in NETWORK.server_ips and NETWORK.loopback in NETWORK.server_ips


def test_router_finds_handlers_and_tells_a_wrong_method_from_an_unknown_path() -> None:
    assert ROUTER.route("GET", "/v2/account") == (account_keys.account_get, {})
    assert ROUTER.route("GET", "/v2/droplets/42/") == (droplets.droplets_get, {"droplet_id": "42"})
    assert ROUTER.route("PATCH", "/v2/droplets/42") == (None, {})  # the server answers 405
    assert ROUTER.route("GET", "/v2/volumes") is None  # 404
    # Every (method, path pattern) pair has one handler.
    pairs = [(r.method, r.pattern) for r in ROUTER.routes]
    assert len(pairs) == len(set(pairs))


def test_fault_knobs_know_only_the_two_services(tmp_path: Path) -> None:
    with pytest.raises(ServiceError):
        HostServices(Home(tmp_path)).set_state("postgres", running=False)


def test_env_json_is_the_export_lines_as_a_dict(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    home = tmp_path / "lc"
    lines = control.env_lines(home)
    values = control.env_values(home)
    assert [f"export {k}={shlex.quote(v)}" for k, v in values.items()] == lines
    assert values["SPACES_ENDPOINT"] == NETWORK.spaces_endpoint and values["REGISTRY"] == NETWORK.registry
    assert values["DIGITALOCEAN_API_URL"] == f"https://{NETWORK.gateway}:{NETWORK.api_port}"  # no `up` yet
    # `--json` before or after the action, as the operator CLI and scripts pass it.
    for argv in (["--home", str(home), "--json", "env"], ["--home", str(home), "env", "--json"]):
        assert control.main(argv) == 0
        assert json.loads(capsys.readouterr().out) == values
    assert control.main(["--home", str(home), "env"]) == 0
    assert capsys.readouterr().out.splitlines() == lines
