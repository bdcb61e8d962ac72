"""The operator's commands as an operator runs them: `odoo-droplet droplet|status|destroy|verify` in a
subprocess, in its own working directory, with the local cloud's environment and generated secrets; the
CLI talks to the local DigitalOcean API through pydo and to the local Spaces through boto3.

Shown here (issue 5): the API error cases, each with its message and exit code and nothing created;
a 429 waited out as retry-after says; Spaces down; `status --json`; `destroy` refusing the reserved IP's
holder without --force; `droplet --json`'s keys; a re-run after the client was killed right after its
create request resumes the same deploy id and follows the same droplet (no second one).

Each test module run uses its own project name (droplet tag, bucket, snapshot prefix), so what it looks
for is only what it made, even while other tests use the same local cloud.
"""

from __future__ import annotations

import json
import re
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from localcloud.faults import FaultClient
from tests.e2e.conftest import REPO, generated_secrets, poll

pytestmark = pytest.mark.e2e

REGION = "nyc3"
OTHER_REGION = "sfo3"


# ------------------------------------------------------------------------------------------ helpers

class Api:
    """Plain HTTPS calls to the local API, for the test's own setup and its before/after looks."""

    def __init__(self, env: dict[str, str]) -> None:
        self.url = env["DIGITALOCEAN_API_URL"].rstrip("/")
        self.session = requests.Session()
        self.verify = env["SSL_CERT_FILE"]  # per request: requests prefers REQUESTS_CA_BUNDLE over session.verify
        self.session.headers["Authorization"] = f"Bearer {env['DIGITALOCEAN_TOKEN']}"

    def call(self, method: str, path: str, body: dict[str, Any] | None = None, ok: tuple[int, ...] = (200, 201, 202, 204)) -> Any:
        r = self.session.request(method, self.url + path, json=body, timeout=60, verify=self.verify)
        assert r.status_code in ok, f"{method} {path}: {r.status_code} {r.text}"
        return r.json() if r.content else {}

    def droplets(self, tag: str) -> list[dict]:
        return self.call("GET", f"/v2/droplets?tag_name={tag}&per_page=200")["droplets"]

    def reserved_ips(self) -> list[str]:
        return sorted(r["ip"] for r in self.call("GET", "/v2/reserved_ips?per_page=200")["reserved_ips"])

    def snapshots(self, prefix: str) -> list[str]:
        images = self.call("GET", "/v2/images?private=true&per_page=200")["images"]
        return sorted(i["name"] for i in images if i["name"].startswith(prefix))

    def wait_action(self, action_id: int, timeout: float = 300) -> None:
        def done() -> bool:
            status = self.call("GET", f"/v2/actions/{action_id}")["action"]["status"]
            assert status != "errored", f"action {action_id} errored"
            return status == "completed"

        poll(done, timeout, f"action {action_id}", interval=1)

    def droplet_gone(self, droplet_id: int) -> bool:
        return self.session.get(f"{self.url}/v2/droplets/{droplet_id}", timeout=60, verify=self.verify).status_code == 404


class Cli:
    """`odoo-droplet` run from a working directory of its own (its .state/ journal lives there)."""

    def __init__(self, env: dict[str, str], workdir: Path) -> None:
        self.env = {**env, "PYTHONPATH": str(REPO)}
        self.workdir = workdir

    def argv(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "builder", *args]

    def run(self, *args: str, env: dict[str, str] | None = None, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self.argv(*args), cwd=self.workdir, env={**self.env, **(env or {})},
                              capture_output=True, text=True, timeout=timeout)

    def popen(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(self.argv(*args), cwd=self.workdir, env=self.env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)


def settings_yaml(project: str, reserved_ip: str = "none") -> str:
    return f"""project: {project}
ship_version: 1.0.0
droplet:
  region: {REGION}
  size: s-1vcpu-2gb
  base_image: debian-12-x64
reserved_ip: {reserved_ip}
odoo:
  image: odoo
  tag: "18.0"
  prior_tag: 18.0-prior
  modules: [base, web]
  database: odoo
postgres:
  mode: selfhost
  image: postgres:16
edge:
  tls: self-signed
spaces:
  region: {REGION}
  bucket: {project}-proofs
gates:
  timeout_seconds: 120
  soak_seconds: 0
"""


def write_config(workdir: Path, project: str, reserved_ip: str = "none", name: str = "deploy.yaml") -> str:
    path = workdir / name
    path.write_text(settings_yaml(project, reserved_ip))
    return str(path)


# ------------------------------------------------------------------------------------------ fixtures

@pytest.fixture(scope="module")
def project() -> str:
    return f"odlcli-{secrets.token_hex(3)}"


@pytest.fixture(scope="module")
def cli_env(local_cloud_env: dict[str, str]) -> dict[str, str]:
    return {**local_cloud_env, **generated_secrets()}


@pytest.fixture(scope="module")
def api(cli_env: dict[str, str]) -> Api:
    return Api(cli_env)


@pytest.fixture
def faults(cli_env: dict[str, str]) -> Iterator[FaultClient]:
    client = FaultClient(cli_env["DIGITALOCEAN_API_URL"], cli_env["DIGITALOCEAN_TOKEN"], cli_env["SSL_CERT_FILE"])
    yield client
    client.clear()


@pytest.fixture(scope="module")
def snapshot(api: Api, project: str, timings: dict[str, float]) -> Iterator[dict[str, Any]]:
    """A snapshot named `<project>-0.0.0-test`, made through the API as a console user would: a droplet
    from debian-12-x64, powered off, snapshotted, deleted. It has no agent: enough for every command
    that does not need a first boot to finish."""
    start = time.monotonic()
    tag = f"{project}-snapshot-src"
    d = api.call("POST", "/v2/droplets", {"name": tag, "region": REGION, "size": "s-1vcpu-1gb",
                                          "image": "debian-12-x64", "tags": [tag]})["droplet"]
    try:
        poll(lambda: api.call("GET", f"/v2/droplets/{d['id']}")["droplet"]["status"] == "active", 300,
             "the snapshot source droplet active", interval=1)
        act = api.call("POST", f"/v2/droplets/{d['id']}/actions", {"type": "power_off"})["action"]
        api.wait_action(act["id"])
        name = f"{project}-0.0.0-test"
        act = api.call("POST", f"/v2/droplets/{d['id']}/actions", {"type": "snapshot", "name": name})["action"]
        api.wait_action(act["id"], timeout=600)
    finally:
        api.call("DELETE", f"/v2/droplets/{d['id']}", ok=(204, 404))
    image = next(i for i in api.call("GET", "/v2/images?private=true&per_page=200")["images"] if i["name"] == name)
    timings["operator CLI: API snapshot (create, power_off, snapshot)"] = time.monotonic() - start
    yield image
    api.call("DELETE", f"/v2/images/{image['id']}", ok=(204, 404))


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    return tmp_path


@pytest.fixture
def cleanup(api: Api, project: str) -> Iterator[list[str]]:
    """Deletes, at teardown, every droplet of this project and the reserved IPs a test lists here."""
    ips: list[str] = []
    yield ips
    for d in api.droplets(project):
        api.call("DELETE", f"/v2/droplets/{d['id']}", ok=(204, 404))
    for ip in ips:
        api.call("DELETE", f"/v2/reserved_ips/{ip}", ok=(204, 404))


def inventory(api: Api, project: str) -> dict[str, list]:
    """What a command could have created: this project's droplets and snapshots, and every reserved IP."""
    return {"droplets": sorted(d["id"] for d in api.droplets(project)), "reserved_ips": api.reserved_ips(),
            "snapshots": api.snapshots(f"{project}-")}


# ------------------------------------------------------------------------------------------ error cases

def test_bad_token_is_named_exit_2_nothing_created(cli_env, api, project, workdir):
    config = write_config(workdir, project, reserved_ip="auto")
    before = inventory(api, project)
    proc = Cli(cli_env, workdir).run("droplet", "--config", config, "--json",
                                     env={"DIGITALOCEAN_TOKEN": "dop_v1_" + "0" * 64})
    assert proc.returncode == 2, proc.stderr
    assert "401" in proc.stderr and "DIGITALOCEAN_TOKEN" in proc.stderr
    out = json.loads(proc.stdout)
    assert out["ok"] is False and out["api_status"] == 401
    assert inventory(api, project) == before
    assert not (workdir / ".state" / "droplet-intent.json").exists()


def test_token_without_scope_403_says_scopes(cli_env, api, project, workdir, faults, snapshot):
    config = write_config(workdir, project)
    before = inventory(api, project)
    faults.http("GET", "/v2/images", 403, times=1)
    proc = Cli(cli_env, workdir).run("droplet", "--config", config, "--json")
    assert proc.returncode == 2, proc.stderr
    assert "403" in proc.stderr and "scope" in proc.stderr
    assert json.loads(proc.stdout)["api_status"] == 403
    assert inventory(api, project) == before


def test_snapshot_not_found_404_says_make_image(cli_env, api, project, workdir):
    config = write_config(workdir, project)
    before = inventory(api, project)
    proc = Cli(cli_env, workdir).run("droplet", "--config", config, "--snapshot", "nope")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "no snapshot named nope" in proc.stderr and "make image" in proc.stderr
    assert inventory(api, project) == before


def test_reserved_ip_in_another_region_422(cli_env, api, project, workdir, snapshot, cleanup):
    far = api.call("POST", "/v2/reserved_ips", {"region": OTHER_REGION})["reserved_ip"]["ip"]
    cleanup.append(far)
    config = write_config(workdir, project, reserved_ip=far)
    before = inventory(api, project)
    proc = Cli(cli_env, workdir).run("droplet", "--config", config, "--snapshot", str(snapshot["id"]), "--json")
    assert proc.returncode == 2, proc.stderr
    assert "422" in proc.stderr and OTHER_REGION in proc.stderr and "one region" in proc.stderr
    assert inventory(api, project) == before


def test_reserved_ip_not_found_404_names_the_setting(cli_env, api, project, workdir, snapshot):
    taken = set(api.reserved_ips())
    missing = next(f"127.0.0.{n}" for n in range(254, 99, -1) if f"127.0.0.{n}" not in taken)
    config = write_config(workdir, project, reserved_ip=missing)
    before = inventory(api, project)
    proc = Cli(cli_env, workdir).run("droplet", "--config", config, "--snapshot", str(snapshot["id"]))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert f"reserved IP {missing}" in proc.stderr and "404" in proc.stderr and "reserved_ip in the settings" in proc.stderr
    assert inventory(api, project) == before


def test_rate_limit_429_waits_retry_after_then_succeeds(cli_env, project, workdir, faults):
    config = write_config(workdir, project)
    faults.http("GET", "/v2/droplets", 429, times=1, retry_after=1)
    proc = Cli(cli_env, workdir).run("status", "--config", config, "--json")
    assert proc.returncode == 0, proc.stderr
    assert "rate limit" in proc.stderr and "waiting 1 s (retry-after)" in proc.stderr
    assert json.loads(proc.stdout)["droplets"] == []
    assert faults.listing()["http"] == []  # the 429 was really served


def test_spaces_down_droplet_says_so_and_creates_nothing(cli_env, api, project, workdir, faults, snapshot):
    config = write_config(workdir, project, reserved_ip="auto")
    before = inventory(api, project)
    faults.stop_service("spaces")
    try:
        proc = Cli(cli_env, workdir).run("droplet", "--config", config, "--snapshot", str(snapshot["id"]), timeout=300)
    finally:
        faults.start_service("spaces")
    assert proc.returncode != 0
    assert "Spaces unreachable" in proc.stderr and cli_env["SPACES_ENDPOINT"] in proc.stderr
    assert inventory(api, project) == before


# ------------------------------------------------------------------------------------------ status, destroy, resume

def test_status_json_and_destroy_guards_the_reserved_ip_holder(cli_env, api, project, workdir, snapshot, cleanup):
    cli = Cli(cli_env, workdir)
    first = json.loads(cli.run("droplet", "--config", write_config(workdir, project), "--snapshot",
                               str(snapshot["id"]), "--no-user-data", "--json").stdout)
    holder = first["droplet_id"]
    ip = api.call("POST", "/v2/reserved_ips", {"region": REGION})["reserved_ip"]["ip"]
    cleanup.append(ip)
    act = api.call("POST", f"/v2/reserved_ips/{ip}/actions", {"type": "assign", "droplet_id": holder})["action"]
    api.wait_action(act["id"])
    config = write_config(workdir, project, reserved_ip=ip)

    status = cli.run("status", "--config", config, "--json")
    assert status.returncode == 0, status.stderr
    data = json.loads(status.stdout)
    assert data["reserved_ip"] == ip and data["reserved_ip_droplet"] == holder
    assert [(d["id"], d["holds_reserved_ip"], d["status"]) for d in data["droplets"]] == [(holder, True, "active")]
    assert [s["name"] for s in data["snapshots"]] == [snapshot["name"]]
    assert data["last_proofs"] == []

    refused = cli.run("destroy", "--config", config, str(holder))
    assert refused.returncode == 2
    assert f"droplet {holder} holds the reserved IP {ip}" in refused.stderr and "--force" in refused.stderr
    assert [d["id"] for d in api.droplets(project)] == [holder]

    unknown = cli.run("destroy", "--config", config, str(holder), "999999999", "--force")  # one id wrong: none deleted
    assert unknown.returncode == 2 and "droplet 999999999" in unknown.stderr and "404" in unknown.stderr
    assert [d["id"] for d in api.droplets(project)] == [holder]

    forced = cli.run("destroy", "--config", config, str(holder), "--force", "--json")
    assert forced.returncode == 0, forced.stderr
    assert json.loads(forced.stdout) == {"ok": True, "destroyed": [holder]}
    poll(lambda: api.droplet_gone(holder), 120, f"droplet {holder} gone")
    assert api.droplets(project) == []


def test_rerun_after_killed_client_resumes_and_makes_no_second_droplet(cli_env, api, project, workdir, snapshot,
                                                                       cleanup):
    cli = Cli(cli_env, workdir)
    config = write_config(workdir, project)
    args = ("droplet", "--config", config, "--snapshot", str(snapshot["id"]), "--no-user-data", "--json")
    first = cli.popen(*args)

    def created_or_exited() -> list[dict] | str | None:
        return api.droplets(project) or ("exited" if first.poll() is not None else None)

    try:
        created = poll(created_or_exited, 300, "the droplet to appear in the API")
    finally:
        first.send_signal(signal.SIGKILL)  # the client dies right after its create request
        stdout, stderr = first.communicate(timeout=30)
    assert created != "exited", f"the first run ended by itself (exit {first.returncode}):\n{stdout}\n{stderr}"
    assert isinstance(created, list)
    journal = json.loads((workdir / ".state" / "droplet-intent.json").read_text())

    second = cli.run(*args)
    assert second.returncode == 0, second.stderr
    out = json.loads(second.stdout)
    assert f"resuming {journal['deploy_id']}" in second.stderr
    assert "exists already (an earlier run): following it" in second.stderr
    assert out["deploy_id"] == journal["deploy_id"] and out["droplet_id"] == created[0]["id"]
    assert [d["id"] for d in api.droplets(project)] == [created[0]["id"]]
    assert f"odl-{journal['deploy_id']}-{journal['nonce']}" in created[0]["tags"]  # unique even within one second
    assert not (workdir / ".state" / "droplet-intent.json").exists()  # finished: the journal is closed
    # droplet --json: the keys a script reads (no user-data: no proofs in Spaces, no reserved IP, no cutover)
    assert {"droplet_id", "deploy_id", "status", "cutover", "reserved_ip", "url", "proofs"} <= set(out)
    assert out["status"] == "success" and out["cutover"] is False and out["reserved_ip"] is None
    assert out["url"] == f"https://{out['address']}/web/login"
    assert re.fullmatch(r"deploy-\d{8}-\d{6}", out["deploy_id"])


# ------------------------------------------------------------------------------------------ the success path

def test_droplet_success_json_then_verify_and_status(cli_env, api, project, workdir, baked_snapshot, cleanup):
    """A deploy from the baked snapshot with `reserved_ip: auto`: the first boot's gates pass, the reserved IP
    is created, recorded in Spaces and moved to the droplet; verify and status see it from outside."""
    cli = Cli(cli_env, workdir)
    config = write_config(workdir, project, reserved_ip="auto")
    proc = cli.run("droplet", "--config", config, "--snapshot", str(baked_snapshot["snapshot_id"]), "--json",
                   timeout=1200)
    out = json.loads(proc.stdout)
    if out.get("reserved_ip"):
        cleanup.append(out["reserved_ip"])
    assert proc.returncode == 0, proc.stderr[-6000:]
    assert {"droplet_id", "deploy_id", "status", "cutover", "reserved_ip", "url", "proofs"} <= set(out)
    assert out["status"] == "success" and out["cutover"] is True
    assert re.fullmatch(r"deploy-\d{8}-\d{6}", out["deploy_id"])
    assert out["proofs"] == f"s3://{project}-proofs/proofs/{out['deploy_id']}/"
    assert out["url"] == f"https://{out['reserved_ip']}/web/login"
    assert out["reserved_ip_holder"] == out["droplet_id"]
    assert api.call("GET", f"/v2/reserved_ips/{out['reserved_ip']}")["reserved_ip"]["droplet"]["id"] == out["droplet_id"]
    assert {g["name"] for g in out["gates"] if g["passed"]} >= {"health_edge", "login_page", "realtime_route"}
    for phase in ("preflight", "install", "verify", "cutover"):  # live progress, one line per phase
        assert re.search(rf"^  {phase}\s+ok\s+[\d.]+ s$", proc.stderr, re.M), proc.stderr[-4000:]

    verify = cli.run("verify", "--config", config, "--address", out["address"], "--json")
    assert verify.returncode == 0, verify.stderr
    report = json.loads(verify.stdout)
    assert report["overall"] is True and report["project"] == project
    assert report["target"] == {"connect": out["address"], "host": out["address"]}
    assert [g["name"] for g in report["gates"]] == ["health_edge", "db_server_status", "login_page", "registry_loaded",
                                                   "realtime_route", "https_redirect"]
    assert all(set(g) >= {"name", "passed", "detail", "latency_ms"} for g in report["gates"])
    assert re.fullmatch(rf"s3://{project}-proofs/proofs/verify-\d{{8}}-\d{{6}}/verify.json", report["proof"])
    through_ip = cli.run("verify", "--config", config)  # no --address: the reserved IP recorded in Spaces
    assert through_ip.returncode == 0 and f"via {out['reserved_ip']}: PASS" in through_ip.stdout

    status = json.loads(cli.run("status", "--config", config, "--json").stdout)
    assert status["reserved_ip"] == out["reserved_ip"] and status["reserved_ip_droplet"] == out["droplet_id"]
    assert [(d["id"], d["holds_reserved_ip"]) for d in status["droplets"]] == [(out["droplet_id"], True)]
    assert out["proofs"] in status["last_proofs"]
