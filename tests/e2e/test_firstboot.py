"""The first-boot agent, end to end on the local cloud: droplets made from the snapshot that
`odoo-droplet image` baked with the project's own Packer template, each with user-data rendered from
examples/deploy.yaml (builder.settings + builder.userdata, as `odoo-droplet droplet` sends it).

CI has 90 minutes on 2 cores for everything, so the scenarios boot in three waves of droplets running
side by side, and the tests read what each wave left (status.json and files inside the droplet, proofs in
the local Spaces, reserved IPs and their actions through the API):

  wave 1: happy path (takes reserved IP R1), cutover through 429 + 500 (its own R2), registry
          unreachable from the droplet (baked tags), no user-data (console droplet)
  wave 2: crash loop, never ready, failed install, unknown module, no gevent port,
          database stopped at verify, agent killed during install — all but the last configured with R1,
          which the happy droplet holds: none may take it
  wave 3: Spaces unreachable from the droplet from its verify on (the publish finds it down), then
          reachable again and the publish timer's service started: the proofs arrive

Set ODL_E2E_SNAPSHOT_ID to an existing snapshot's id to skip the bake while working on these tests.
"""

from __future__ import annotations

import json
import os
import secrets as pysecrets
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from firstboot import gates as G
from firstboot.probes import LoopbackHttp
from localcloud.testing import (
    UNIT,
    Api,
    Boot,
    boot,
    make_deploy,
    make_secrets,
    poll,
    secret_values,
    wait_active,
)

pytestmark = pytest.mark.e2e

SCHEMA = Path(__file__).resolve().parents[2] / "firstboot" / "contract" / "deploy_status.schema.json"
PROOFS = ("deploy_status.json", "healthcheck.log", "module_install.log", "status.json")
FINISH_SECONDS = 600  # a whole first boot, rollback included, under load on 2 cores
FAULT_TIMEOUT = 45  # gates.timeout_seconds for fault scenarios; a passing rollback verify takes ~12 s under load
DOMAIN = "odoo-demo.test"


def schema_path() -> Path:
    """The project's deploy_status schema (the PRD's, whole, plus the project's own fields)."""
    if not SCHEMA.exists():
        raise AssertionError(f"proof schema not found at {SCHEMA}")
    return SCHEMA


@dataclass
class Fleet:
    api: Api
    snapshot_id: int
    env: dict[str, str]
    run_id: str = field(default_factory=lambda: pysecrets.token_hex(3))
    boots: dict[str, Boot] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    ips: dict[str, str] = field(default_factory=dict)
    baseline: dict[str, int] = field(default_factory=dict)  # reserved IP -> last action id before this run
    seconds: dict[str, float] = field(default_factory=dict)

    def new_ip(self, label: str) -> str:
        ip = self.api.create_reserved_ip()
        self.ips[label] = ip
        # The local cloud lists actions by address: an earlier IP with the same address left its own.
        self.baseline[ip] = max((a["id"] for a in self.api.ip_actions(ip)), default=0)
        return ip

    def assigns(self, ip: str) -> list[dict[str, Any]]:
        return [a for a in self.api.ip_actions(ip) if a["type"] == "assign_ip" and a["id"] > self.baseline[ip]]

    def bucket(self, name: str) -> str:
        return f"odl-e2e-{self.run_id}-{name.replace('_', '-')}"

    def start(self, name: str, *, user_data: bool = True, bootcmd: list[list[str]] | None = None,
              **kw: Any) -> Boot | None:
        try:
            deploy = make_deploy(self.env, bucket=self.bucket(name), **kw)
            b = boot(self.api, name, deploy, make_secrets(self.env), self.snapshot_id, user_data=user_data,
                     bootcmd=bootcmd)
            self.boots[name] = b
            return b
        except Exception as e:  # noqa: BLE001 - recorded and raised by the scenario's own test
            self.errors[name] = f"create: {e!r}"
            return None

    def in_parallel(self, jobs: dict[str, Callable[[], None]]) -> None:
        """Run one function per scenario in threads; an exception is that scenario's failure only."""

        def wrap(name: str, fn: Callable[[], None]) -> None:
            try:
                fn()
            except Exception as e:  # noqa: BLE001
                self.errors.setdefault(name, repr(e))

        threads = [threading.Thread(target=wrap, args=(n, f), name=n) for n, f in jobs.items()]
        for t in threads:
            t.start()
        for t in threads:
            t.join(FINISH_SECONDS + 120)

    def finish(self, name: str) -> None:
        b = self.boots.get(name)
        if b is None:
            return
        wait_active(self.api, b)
        b.wait_finished(FINISH_SECONDS)
        b.notes["finished_after"] = round(time.monotonic() - b.created, 1)

    def get(self, name: str) -> Boot:
        assert name not in self.errors, f"scenario {name}: {self.errors[name]}"
        return self.boots[name]

    def cleanup(self) -> None:
        for b in self.boots.values():
            try:
                self.api.cloud.delete_droplet(b.droplet_id)
            except Exception:  # noqa: BLE001,S110 - best effort: teardown goes on with the others
                pass
        for ip in self.ips.values():
            self.api.delete_reserved_ip(ip)


# ------------------------------------------------------------------------------------------- the waves

# The registry (10.213.0.1:5000) refused from inside one droplet from its first boot stage on: what the
# droplet sees when the registry is down, without stopping the shared one under other droplets (or
# having anyone's `local up` start it again mid-test, which happened while these tests were written).
REGISTRY_BLOCK = ["OUTPUT", "-d", "10.213.0.1", "-p", "tcp", "--dport", "5000", "-j", "REJECT",
                  "--reject-with", "tcp-reset"]


def wave1(f: Fleet) -> None:
    api = f.api
    f.new_ip("R1"), f.new_ip("R2")
    api.ensure_domain(DOMAIN)
    f.start("happy", reserved_ip=f.ips["R1"], timeout=120)
    f.start("api_faults", reserved_ip=f.ips["R2"], timeout=120, dns=False)
    f.start("registry_down", timeout=120, dns=False, bootcmd=[["iptables", "-I", *REGISTRY_BLOCK]])
    f.start("no_user_data", user_data=False)

    def registry_down() -> None:
        # bootcmd ran in cloud-init's first stage, before cloud-init.target that the agent waits for;
        # afterwards, prove the rule took effect: the registry refused this droplet.
        reg = f.boots["registry_down"]
        f.finish("registry_down")
        reg.notes["registry_from_droplet"] = reg.sh(
            "python3 -c 'import socket; socket.create_connection((\"10.213.0.1\", 5000), 5)' "
            "&& echo reachable || echo unreachable", check=False).strip()

    jobs: dict[str, Callable[[], None]] = {n: (lambda n=n: f.finish(n)) for n in ("happy", "no_user_data")}
    jobs["registry_down"] = registry_down
    jobs["api_faults"] = lambda: arm_cutover_faults(f)
    f.in_parallel({n: j for n, j in jobs.items() if n in f.boots})


CREATES_LOG = "/root/odl-e2e-container-creates.log"


def watch_container_creates(b: Boot) -> None:
    """Record every container the droplet's engine creates, from its start (`--since 0` replays the
    engine's recent events; started early, before the agent's install, none is missed)."""
    b.sh(f"""
        deadline=$((SECONDS + 120))
        until docker info >/dev/null 2>&1; do [ $SECONDS -lt $deadline ] || exit 3; sleep 0.2; done
        setsid nohup docker events --since 0 --filter type=container --filter event=create \\
          --format '{{{{.Actor.Attributes.name}}}}' >{CREATES_LOG} 2>&1 </dev/null &
    """, timeout=150)


def arm_cutover_faults(f: Fleet) -> None:
    """429 (with retry-after) then 500 on the assign POST for R2, armed while the droplet verifies (the
    fault book is the API's, shared: armed late, nothing else can take or clear them first)."""
    b = f.boots["api_faults"]
    wait_active(f.api, b)
    b.wait_phase("verify", 300)
    path = f"/v2/reserved_ips/{f.ips['R2']}/actions"
    f.api.faults.http("POST", path, 429, times=1, retry_after=2)
    f.api.faults.http("POST", path, 500, times=1)
    f.finish("api_faults")


def kill_during_install(b: Boot) -> None:
    """Inside the droplet: wait (bounded) for status.json to say install and the install container to
    exist, then SIGKILL the agent; systemd (Restart=on-failure) starts it again, and it resumes."""
    status = f"{b.proof_dir}/status.json"
    script = f"""
        set -e
        deadline=$((SECONDS + 300))
        until grep -q '"current": "install"' {status} 2>/dev/null; do
          [ $SECONDS -lt $deadline ] || {{ echo "never saw install"; exit 3; }}
          sleep 0.05
        done
        until docker ps -aq --filter name=odl-install- | grep -q .; do
          [ $SECONDS -lt $deadline ] || {{ echo "no install container"; exit 4; }}
          sleep 0.05
        done
        pid=$(systemctl show -p MainPID --value {UNIT})
        kill -9 "$pid"
        echo "killed $pid"
        docker ps -a --filter name=odl-install- --format '{{{{.Names}}}} {{{{.Status}}}}'
    """
    b.notes["kill"] = b.sh(script, timeout=330)


def stop_db_at_verify(b: Boot) -> None:
    b.wait_phase("verify", 300)
    b.notes["db_stop"] = b.sh("docker stop $(docker ps -q --filter label=com.docker.compose.service=db)",
                              timeout=120)


def wave2(f: Fleet) -> None:
    r1 = f.ips["R1"]
    t = FAULT_TIMEOUT
    f.start("crashloop", tag="18.0-crashloop", reserved_ip=r1, timeout=t)
    f.start("neverready", tag="18.0-neverready", reserved_ip=r1, timeout=t)
    f.start("failinstall", tag="18.0-failinstall", reserved_ip=r1, timeout=t)
    f.start("unknown_module", modules=["base", "web", "contacts", "sale_management", "odl_no_such_module"],
            reserved_ip=r1, timeout=t)
    f.start("nogevent", tag="18.0-nogevent", reserved_ip=r1, timeout=t)
    # soak 10 s: verify cannot pass before the database is stopped (the stop lands within a second).
    f.start("db_down", reserved_ip=r1, timeout=t, soak=10)
    f.new_ip("R3")
    f.start("killed_install", reserved_ip=f.ips["R3"], timeout=120, dns=False)

    def killed() -> None:
        b = f.boots["killed_install"]
        wait_active(f.api, b)
        watch_container_creates(b)
        kill_during_install(b)
        f.finish("killed_install")

    def db_down() -> None:
        b = f.boots["db_down"]
        wait_active(f.api, b)
        stop_db_at_verify(b)
        f.finish("db_down")

    jobs: dict[str, Callable[[], None]] = {n: (lambda n=n: f.finish(n)) for n in
                                           ("crashloop", "neverready", "failinstall", "unknown_module", "nogevent")}
    jobs |= {"killed_install": killed, "db_down": db_down}
    f.in_parallel({n: j for n, j in jobs.items() if n in f.boots})


SPACES_BLOCK = "OUTPUT -d 10.213.0.1 -p tcp --dport 9000 -j REJECT --reject-with tcp-reset"


def wave3(f: Fleet) -> None:
    """Spaces down for this droplet from the moment it verifies: a REJECT rule in the droplet itself.
    The same effect as the local cloud's "spaces stopped" knob, but on this droplet alone, so no other
    droplet (or anyone's `local up`, which restarts the service) changes what this scenario sees."""
    b = f.start("spaces_down", timeout=120, dns=False)
    if b is None:
        return
    wait_active(f.api, b)
    b.wait_phase("verify", 300)
    b.sh(f"iptables -I {SPACES_BLOCK}")
    b.notes["spaces_stopped"] = True
    f.finish("spaces_down")
    b.notes["outbox_while_down"] = b.sh("ls -1 /var/lib/odoo-droplet/outbox | wc -l").strip()
    b.notes["reachable_while_down"] = b.sh(
        "python3 -c 'import socket; socket.create_connection((\"10.213.0.1\", 9000), 5)' "
        "&& echo reachable || echo unreachable", check=False).strip()
    b.sh(f"iptables -D {SPACES_BLOCK}")
    b.notes["publish"] = b.exec("systemctl", "start", "odoo-droplet-publish.service", timeout=300).returncode


@pytest.fixture(scope="module")
def snapshot(request: pytest.FixtureRequest) -> dict[str, Any]:
    wanted = os.environ.get("ODL_E2E_SNAPSHOT_ID")
    if wanted:
        env = request.getfixturevalue("local_cloud_env")
        return {"snapshot_id": int(wanted), "env": env}
    return request.getfixturevalue("baked_snapshot")


@pytest.fixture(scope="module")
def fleet(snapshot: dict[str, Any], timings: dict[str, float]) -> Iterator[Fleet]:
    env = {k: v for k, v in snapshot["env"].items() if k not in ("DB_PASSWORD", "ADMIN_PASSWD")}
    f = Fleet(Api(env), int(snapshot["snapshot_id"]), env)
    start = time.monotonic()
    try:
        for name, wave in (("wave 1", wave1), ("wave 2", wave2), ("wave 3", wave3)):
            t0 = time.monotonic()
            wave(f)
            f.seconds[name] = timings[f"firstboot e2e {name}"] = time.monotonic() - t0
        timings["firstboot e2e: all droplets"] = time.monotonic() - start
        yield f
    finally:
        # No faults.clear(): the fault book is the API's, shared with whatever else runs; ours match only
        # our own reserved IP's path, are consumed when served, and that IP is deleted here.
        f.cleanup()


# ------------------------------------------------------------------------------------------ assertions

def proofs_in_spaces(b: Boot, timeout: float = 60) -> dict[str, str]:
    """The four proofs from the local Spaces (bounded wait: the last upload follows status.json)."""
    sp = b.spaces()

    def all_there() -> dict[str, str] | None:
        got = {n: sp.get_text(f"proofs/{b.deploy_id}/{n}") for n in PROOFS}
        if any(v is None for v in got.values()):
            return None
        return got if json.loads(got["status.json"]).get("done") else None

    return poll(all_there, timeout, f"{b.name}: {PROOFS} in s3://{sp.bucket}/proofs/{b.deploy_id}/")


def check_proofs(b: Boot, status: str) -> dict[str, Any]:
    """Every proof present in Spaces, deploy_status.json valid against the PRD schema, the logs not empty
    where they must not be; returns deploy_status.json."""
    got = proofs_in_spaces(b)
    doc = json.loads(got["deploy_status.json"])
    schema = json.loads(schema_path().read_text())
    jsonschema.validators.validator_for(schema)(schema).validate(doc)
    assert doc["deploy_id"] == b.deploy_id
    assert doc["status"] == status, doc.get("error_message")
    assert json.loads(got["status.json"])["status"] == status
    assert "# verify" in got["healthcheck.log"] or doc["attempts"][0]["failed"], got["healthcheck.log"][:500]
    assert got["module_install.log"].strip()
    for phase in ("preflight", "configure", "start-data", "install", "decide", "publish", "cutover"):
        assert phase in doc["phases"], f"phase {phase} not timed: {sorted(doc['phases'])}"
    if status != "success":
        keys = b.spaces().keys(f"proofs/{b.deploy_id}/diagnostics/")
        assert any(k.endswith("compose-logs.txt") for k in keys), keys
        assert any(k.endswith("failing-responses.json") for k in keys), keys
    return doc


def assert_rolled_back(f: Fleet, name: str, failing_gate: str | None = None) -> dict[str, Any]:
    b = f.get(name)
    assert b.final and b.final["status"] == "rolled_back", b.final
    doc = check_proofs(b, "rolled_back")
    assert doc["odoo_tag"] == "18.0-prior" and doc["rollback"]["to_tag"] == "18.0-prior", doc["rollback"]
    assert doc["rollback"]["performed"] and doc["rollback"]["passed"]
    if failing_gate:
        assert failing_gate in doc["rollback"]["failing_gates"], doc["rollback"]
    assert all(g["passed"] for g in doc["gates"]), doc["gates"]
    assert_ip_untouched(f, b, doc)
    return doc


def assert_ip_untouched(f: Fleet, b: Boot, doc: dict[str, Any]) -> None:
    """R1 stayed on the happy droplet: this one did not take it, and R1 saw exactly one assignment."""
    r1 = f.ips["R1"]
    assert doc["cutover"]["reserved_ip"] in (r1, None)
    assert not doc["cutover"]["assigned"], doc["cutover"]
    assert f.api.holder(r1) == f.get("happy").droplet_id
    assigns = f.assigns(r1)
    assert len(assigns) == 1, assigns


def https_login(ip: str, host: str) -> G.HttpResult:
    return LoopbackHttp().get(f"https://{host}/web/login", connect_host=ip, port=443, tls=True,
                              host_header=host, timeout=10)


# ------------------------------------------------------------------------------------------------ tests

def test_happy_path_gates_proofs_reserved_ip_and_login_page(fleet: Fleet) -> None:
    b = fleet.get("happy")
    assert b.final and b.final["status"] == "success", b.final
    doc = check_proofs(b, "success")
    assert [g["name"] for g in doc["gates"]] == list(G.GATE_NAMES)
    assert all(g["passed"] for g in doc["gates"]), doc["gates"]
    assert doc["health_checks"]["overall"] is True
    assert doc["rollback"] == {"performed": False}
    r1 = fleet.ips["R1"]
    assert doc["cutover"]["assigned"] and doc["cutover"]["reserved_ip"] == r1
    assert fleet.api.holder(r1) == b.droplet_id
    last_good = b.spaces().get_json("state/last_good.json")
    assert last_good and last_good["tag"] == "18.0" and last_good["deploy_id"] == b.deploy_id
    r = https_login(r1, b.deploy.edge.domain or "")
    assert G.login_page(r).passed, (r.status, r.error, r.excerpt(300))


def test_cutover_through_429_and_500_assigns_exactly_once(fleet: Fleet) -> None:
    b = fleet.get("api_faults")
    assert b.final and b.final["status"] == "success", b.final
    doc = check_proofs(b, "success")
    r2 = fleet.ips["R2"]
    cut = doc["cutover"]
    assert cut["assigned"] and cut["reserved_ip"] == r2, cut
    assert cut["assign_posts"] == 3, cut["assign_log"]  # 429, 500, then the one that went through
    assigns = fleet.assigns(r2)
    assert len(assigns) == 1, assigns
    assert assigns[0]["status"] == "completed"
    assert fleet.api.holder(r2) == b.droplet_id
    left = [x for x in fleet.api.faults.listing().get("http", []) if r2 in x.get("path", "")]
    assert not left, left  # both faults were served (a served fault leaves the list)


def test_registry_unreachable_baked_tags_still_deploy(fleet: Fleet) -> None:
    b = fleet.get("registry_down")
    assert b.notes["registry_from_droplet"] == "unreachable"  # the fault was real while it booted
    assert b.final and b.final["status"] == "success", b.final
    doc = check_proofs(b, "success")
    reg = b.deploy.registry.host
    assert f"{reg}/odoo:18.0" in doc["images"] and f"{reg}/odoo:18.0-prior" in doc["images"], doc["images"]
    assert doc["rollback_info"]["rollback_available"]


def test_no_user_data_is_healthy_on_baked_defaults_without_cutover(fleet: Fleet) -> None:
    b = fleet.get("no_user_data")
    assert b.final and b.final["status"] == "success", b.final
    assert b.final["cutover"]["assigned"] is False and "no user-data" in b.final["cutover"]["reason"]
    mode = b.sh("stat -c '%a %U' /root/odoo-droplet-credentials").strip()
    assert mode == "600 root"
    creds = b.sh("cat /root/odoo-droplet-credentials")
    assert "DB_PASSWORD=" in creds and "ADMIN_PASSWD=" in creds
    assert "/root/odoo-droplet-credentials" in b.sh("cat /etc/motd /etc/update-motd.d/* 2>/dev/null; "
                                                     "run-parts /etc/update-motd.d 2>/dev/null", check=False)
    for ip in fleet.ips.values():
        assert fleet.api.holder(ip) != b.droplet_id
    assert not b.sh("ls /etc/odoo-droplet/secrets.env 2>/dev/null || true").strip()


def test_crash_looping_tag_rolls_back_to_prior(fleet: Fleet) -> None:
    assert_rolled_back(fleet, "crashloop", "container_up")


def test_never_ready_tag_rolls_back_to_prior(fleet: Fleet) -> None:
    assert_rolled_back(fleet, "neverready")


def test_failed_install_exit_255_rolls_back(fleet: Fleet) -> None:
    doc = assert_rolled_back(fleet, "failinstall")
    assert doc["attempts"][0]["install_exit_code"] == 255, doc["attempts"][0]
    assert doc["attempts"][0]["failed"].startswith("install")


def test_unknown_module_exit_0_fails_on_module_state(fleet: Fleet) -> None:
    b = fleet.get("unknown_module")
    # The module is unknown to the prior tag too: nothing can pass, so nothing may take traffic.
    assert b.final and b.final["status"] == "failed", b.final
    doc = check_proofs(b, "failed")
    first = doc["attempts"][0]
    assert first["install_exit_code"] == 0, first
    assert "odl_no_such_module" in first["failed"], first
    mods = {m["name"]: m for m in doc["modules"]["installed"]}
    assert mods["odl_no_such_module"]["odoo_state"] == "missing"
    assert_ip_untouched(fleet, b, doc)


def test_no_gevent_port_fails_the_realtime_gate_and_rolls_back(fleet: Fleet) -> None:
    doc = assert_rolled_back(fleet, "nogevent", "realtime_route")
    first = {g["name"]: g for g in doc["attempts"][0]["gates"]}
    assert not first["realtime_route"]["passed"] and first["login_page"]["passed"], first


def test_database_down_at_verify_never_takes_traffic(fleet: Fleet) -> None:
    b = fleet.get("db_down")
    assert b.notes["db_stop"].strip()
    doc = assert_rolled_back(fleet, "db_down", "db_reachable")
    first = {g["name"]: g for g in doc["attempts"][0]["gates"]}
    assert not first["health_internal"]["passed"], first


def test_agent_killed_during_install_resumes_and_initialises_once(fleet: Fleet) -> None:
    b = fleet.get("killed_install")
    assert "killed" in b.notes["kill"], b.notes
    assert b.final and b.final["status"] == "success", b.final
    doc = check_proofs(b, "success")
    assert doc["runs"] >= 2, doc["runs"]
    assert doc["phases"]["install"].get("resumed", 0) >= 1, doc["phases"]["install"]
    created = (b.read(CREATES_LOG) or "").split()
    installs = [n for n in created if n.startswith("odl-install-")]
    assert installs == [f"odl-install-{b.deploy_id}-0"], created
    journal = b.journal()
    assert journal.count("phase install: start") >= 2, "the agent did not run install again after the kill"
    assigns = fleet.assigns(fleet.ips["R3"])
    assert len(assigns) == 1 and fleet.api.holder(fleet.ips["R3"]) == b.droplet_id


def test_spaces_down_during_publish_proofs_arrive_after_it_returns(fleet: Fleet) -> None:
    b = fleet.get("spaces_down")
    assert b.notes.get("spaces_stopped") and b.notes["reachable_while_down"] == "unreachable", b.notes
    assert b.final and b.final["status"] == "success", b.final
    assert int(b.notes["outbox_while_down"]) >= len(PROOFS), b.notes  # kept on disk, not lost
    assert b.notes["publish"] == 0
    check_proofs(b, "success")
    assert b.sh("ls -1 /var/lib/odoo-droplet/outbox 2>/dev/null | wc -l").strip() == "0"


def test_no_secret_in_logs_proofs_journal_spaces_or_docker_inspect(fleet: Fleet) -> None:
    checked = 0
    for name in ("happy", "failinstall", "killed_install"):
        if name in fleet.errors or name not in fleet.boots:
            continue
        b = fleet.boots[name]
        values = secret_values(b.secrets)
        assert set(values) >= {"DB_PASSWORD", "ADMIN_PASSWD", "DIGITALOCEAN_TOKEN", "SPACES_KEY", "SPACES_SECRET"}
        leaking = b.files_holding(list(values.values()), "/var/log", "/var/lib/odoo-droplet")
        assert not leaking, f"{name}: a secret value is in {leaking}"
        places = {
            "journal": b.journal(),
            "docker inspect": b.text("docker inspect $(docker ps -aq)", timeout=120),
        }
        sp = b.spaces()
        places["spaces"] = "\n".join(sp.get_text(k) or "" for k in sp.keys(""))
        assert "odoo" in places["docker inspect"] and '"deploy_id"' in places["spaces"]  # read what we scan
        for where, text in places.items():
            for key, value in values.items():
                assert value not in text, f"{name}: {key} found in {where}"
        checked += 1
    assert checked >= 2, fleet.errors


def test_containers_cannot_reach_the_metadata_service(fleet: Fleet) -> None:
    b = fleet.get("happy")
    probe = ("import urllib.request as u; "
             "print(u.urlopen('http://169.254.169.254/metadata/v1/id', timeout=5).read().decode())")
    # The droplet itself reaches it (the agent needs its id): the block is for containers only.
    assert b.sh(f'python3 -c "{probe}"').strip() == str(b.droplet_id)
    image = f"{b.deploy.registry.host}/odoo:18.0"
    r = b.exec("docker", "run", "--rm", "--entrypoint", "python3", image, "-c", probe, timeout=120)
    assert r.returncode != 0 and str(b.droplet_id) not in r.stdout, (r.returncode, r.stdout, r.stderr[-300:])
