"""Local droplets for the end-to-end tests and the benchmarks (tests/e2e/, bench/): droplets made from the
baked snapshot through the local cloud's API (pydo, as `odoo-droplet droplet` does), with rendered user-data,
and bounded looks inside them (status.json, files, the journal, the inner Docker engine).

It drives the local cloud as the operator's CLI would, so it uses builder (settings, user-data, the API
client) and firstboot's contract; nothing in the product imports it.

Nothing here sleeps to synchronise: every wait is `poll` on a condition with a deadline.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import secrets as pysecrets
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import requests
import yaml

from builder.deploy import droplet_body
from builder.doclient import ApiTarget, Cloud, ip_of, make_client
from builder.settings import parse_settings, to_deploy
from builder.spaces import Spaces
from builder.userdata import render_user_data
from firstboot.config import Deploy, Secrets
from firstboot.contract.passwords import generate_password
from localcloud import docker_backend as db
from localcloud.faults import FaultClient

T = TypeVar("T")
REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "deploy.yaml"
PROOF_ROOT = "/var/lib/odoo-droplet/proofs"
STATE_JSON = "/var/lib/odoo-droplet/state.json"
UNIT = "odoo-droplet-firstboot.service"


def poll(check: Callable[[], T | None], timeout: float, what: str, interval: float = 0.5) -> T:
    """Call `check` until it returns something truthy; fail after `timeout` seconds saying `what`.

    The one bounded poll of the e2e layer (tests/e2e/conftest.py paces it at 0.25 s; droplet-side checks
    here at 0.5 s). An exception from `check` counts as "not yet" and is part of the failure message."""
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        try:
            result = check()
        except Exception as exc:  # noqa: BLE001 - the last error is part of the failure message
            result, last = None, exc
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what} (last: {last!r})")
        time.sleep(interval)  # pacing between checks of a condition, not synchronisation


_seq = iter(range(1, 10_000))


def new_deploy_id() -> str:
    """deploy-YYYYMMDD-HHMMSS, distinct within this process (seconds shifted per call)."""
    base = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=next(_seq) * 7)
    return base.strftime("deploy-%Y%m%d-%H%M%S")


def make_deploy(
    env: dict[str, str],
    *,
    bucket: str,
    tag: str | None = None,
    modules: list[str] | None = None,
    reserved_ip: str = "none",
    timeout: int = 90,
    soak: int = 4,
    dns: bool = True,
) -> Deploy:
    """examples/deploy.yaml through builder.settings (as the CLI loads it) with the local env applied,
    then this scenario's changes: its own bucket (so state/last_good.json is its own), tag, modules,
    reserved IP and short gate timeouts."""
    raw = yaml.safe_load(EXAMPLE.read_text())
    if tag:
        raw["odoo"]["tag"] = tag
    if modules:
        raw["odoo"]["modules"] = modules
    raw["reserved_ip"] = reserved_ip
    raw["spaces"]["bucket"] = bucket
    raw["gates"] = {**raw.get("gates", {}), "timeout_seconds": timeout, "soak_seconds": soak}
    if not dns:
        raw.pop("dns", None)
    settings = parse_settings(yaml.safe_dump(raw), str(EXAMPLE))
    return dataclasses.replace(to_deploy(settings, env), deploy_id=new_deploy_id())


def make_secrets(env: dict[str, str]) -> Secrets:
    """Fresh passwords and a fresh Spaces key pair (the local Spaces takes any pair) per droplet, so a
    leak test knows exactly which values must appear nowhere."""
    return Secrets(
        db_password=generate_password(),  # never a leading '-' (firstboot.agent.db_password_problem)
        admin_passwd=pysecrets.token_urlsafe(18),
        do_token=env["DIGITALOCEAN_TOKEN"],
        spaces_key="ODLE2E" + pysecrets.token_hex(8).upper(),
        spaces_secret=pysecrets.token_urlsafe(30),
        odoo_admin_password=generate_password(),
    )


class Api:
    """The local cloud's DO API: pydo (builder.doclient.Cloud) for what the CLI does, plain requests for
    what only the test reads (reserved-IP actions), FaultClient for the knobs."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.cloud = Cloud(make_client(ApiTarget.from_env(env)), say=lambda _m: None)
        self.base = env["DIGITALOCEAN_API_URL"].rstrip("/")
        self.session = requests.Session()
        self.session.trust_env = False  # the caller's REQUESTS_CA_BUNDLE must not replace the local CA
        self.session.verify = env.get("REQUESTS_CA_BUNDLE") or env["SSL_CERT_FILE"]
        self.session.headers["Authorization"] = f"Bearer {env['DIGITALOCEAN_TOKEN']}"
        self.faults = FaultClient(self.base, env["DIGITALOCEAN_TOKEN"], cafile=self.session.verify)

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        r = self.session.request(method, self.base + path, json=body, timeout=60)
        assert r.status_code < 300, f"{method} {path}: {r.status_code} {r.text[:300]}"
        return r.json() if r.content else {}

    def create_reserved_ip(self, region: str = "nyc3") -> str:
        return self.cloud.create_reserved_ip(region)["ip"]

    def holder(self, ip: str) -> int | None:
        d = self.call("GET", f"/v2/reserved_ips/{ip}")["reserved_ip"].get("droplet")
        return int(d["id"]) if d else None

    def assign(self, ip: str, droplet_id: int) -> None:
        action = self.call("POST", f"/v2/reserved_ips/{ip}/actions", {"type": "assign", "droplet_id": droplet_id})
        aid = action["action"]["id"]
        poll(lambda: self.call("GET", f"/v2/reserved_ips/{ip}/actions/{aid}")["action"]["status"] == "completed",
             120, f"assign {ip} -> {droplet_id}")

    def ip_actions(self, ip: str) -> list[dict[str, Any]]:
        return self.call("GET", f"/v2/reserved_ips/{ip}/actions?per_page=200")["actions"]

    def delete_reserved_ip(self, ip: str) -> None:
        self.session.delete(f"{self.base}/v2/reserved_ips/{ip}", timeout=60)

    def ensure_domain(self, name: str) -> None:
        r = self.session.get(f"{self.base}/v2/domains/{name}", timeout=60)
        if r.status_code == 404:
            self.call("POST", "/v2/domains", {"name": name})


@dataclass
class Boot:
    """One droplet made from the snapshot, and what the test reads from it."""

    name: str
    deploy: Deploy
    secrets: Secrets
    droplet_id: int = 0
    address: str | None = None
    created: float = 0.0  # time.monotonic() of the create request
    active: float = 0.0
    user_data: bool = True
    final: dict[str, Any] | None = None
    notes: dict[str, Any] = field(default_factory=dict)

    @property
    def deploy_id(self) -> str:
        assert self.deploy.deploy_id
        return self.deploy.deploy_id

    @property
    def proof_dir(self) -> str:
        return f"{PROOF_ROOT}/{self.deploy_id}"

    def exec(self, *argv: str, timeout: float = 120, check: bool = False) -> subprocess.CompletedProcess[str]:
        r = db.droplet_exec(self.droplet_id, argv, timeout=timeout)
        if check:
            assert r.returncode == 0, f"{' '.join(argv)} in droplet {self.droplet_id}: {r.returncode} {r.stderr}"
        return r

    def run_bytes(self, *argv: str, stdin: bytes = b"", timeout: float = 120) -> subprocess.CompletedProcess[bytes]:
        """A command in the droplet with bytes in and out (logs may hold binary files, e.g. the journal's)."""
        return subprocess.run(["docker", "exec", "-i", db.container_name(self.droplet_id), *argv], input=stdin,
                               capture_output=True, timeout=timeout, check=False)

    def text(self, script: str, timeout: float = 120) -> str:
        return self.run_bytes("bash", "-c", script, timeout=timeout).stdout.decode(errors="replace")

    def files_holding(self, values: list[str], *paths: str) -> list[str]:
        """Files under `paths` that hold any of `values` (grep in the droplet; the values go in on stdin,
        never on a command line)."""
        r = self.run_bytes("grep", "-rlaF", "-f", "-", *paths, stdin="\n".join(values).encode() + b"\n")
        assert r.returncode in (0, 1), r.stderr.decode(errors="replace")
        return r.stdout.decode(errors="replace").split()

    def sh(self, script: str, timeout: float = 120, check: bool = True) -> str:
        return self.exec("bash", "-c", script, timeout=timeout, check=check).stdout

    def read(self, path: str) -> str | None:
        r = self.exec("cat", path, timeout=60)
        return r.stdout if r.returncode == 0 else None

    def state(self) -> dict[str, Any] | None:
        text = self.read(STATE_JSON)
        return json.loads(text) if text else None

    def status(self) -> dict[str, Any] | None:
        """status.json as the agent wrote it on the droplet (the first deploy it finds without user-data)."""
        if self.user_data:
            text = self.read(f"{self.proof_dir}/status.json")
        else:
            text = self.sh(f"cat {PROOF_ROOT}/*/status.json 2>/dev/null | head -c 1000000", check=False)
        try:
            return json.loads(text) if text else None
        except ValueError:
            return None  # only a torn read of a file rewritten atomically; the next look gets it whole

    def wait_finished(self, timeout: float) -> dict[str, Any]:
        def finished() -> dict[str, Any] | None:
            st = self.status()
            return st if st and st.get("done") else None

        self.final = poll(finished, timeout, f"{self.name}: the agent's status.json saying done", interval=2)
        return self.final

    def wait_phase(self, phase: str, timeout: float) -> dict[str, Any]:
        def at() -> dict[str, Any] | None:
            st = self.status()
            return st if st and st.get("current") == phase else None

        return poll(at, timeout, f"{self.name}: status.json at phase {phase}", interval=0.3)

    def journal(self) -> str:
        return self.text("journalctl --no-pager -o cat -b", timeout=120)

    def spaces(self) -> Spaces:
        sp = Spaces.for_deploy(self.deploy, self.secrets)
        assert sp is not None
        return sp


def boot(api: Api, name: str, deploy: Deploy, secrets: Secrets, snapshot_id: int, *,
         user_data: bool = True, bootcmd: list[list[str]] | None = None) -> Boot:
    """Create the droplet (what `odoo-droplet droplet` sends: its body, its user-data) and return at once.
    `bootcmd`: a fault to inject in this droplet alone, before anything of ours runs (cloud-init's
    bootcmd runs in its first stage; the agent starts after cloud-init.target)."""
    b = Boot(name, deploy, secrets, user_data=user_data)
    if user_data and deploy.spaces:
        b.spaces().ensure_bucket()
    data = render_user_data(deploy, secrets) if user_data else None
    if bootcmd:
        assert data is not None and "\nbootcmd:" not in data
        data += yaml.safe_dump({"bootcmd": bootcmd}, default_flow_style=None)
    body = droplet_body(deploy, b.deploy_id, snapshot_id, data)
    body["tags"] = [*body["tags"], "odl-e2e-firstboot"]
    b.created = time.monotonic()
    b.droplet_id = int(api.cloud.create_droplet(body)["id"])
    return b


def wait_active(api: Api, b: Boot, timeout: float = 300) -> None:
    def active() -> dict | None:
        d = api.cloud.droplet(b.droplet_id)
        return d if d.get("status") == "active" and ip_of(d) else None

    d = poll(active, timeout, f"droplet {b.droplet_id} ({b.name}) active", interval=1)
    b.address, b.active = ip_of(d), time.monotonic()


def secret_values(s: Secrets) -> dict[str, str]:
    return {k: v for k, v in s.to_env().items() if v}
