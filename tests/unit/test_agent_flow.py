"""The first-boot agent's whole phase sequence, in-process, with recorded command results
(tests/unit/agent_fakes.py). Unit tests of the core: the e2e runs the real tools on the local cloud."""

from __future__ import annotations

import json
import stat
from dataclasses import replace
from importlib import resources
from pathlib import Path

import jsonschema
import pytest

from firstboot.config import (
    BuildInfo,
    Deploy,
    DnsSpec,
    EdgeSpec,
    GatesSpec,
    OdooSpec,
    PostgresSpec,
    RegistrySpec,
    ReservedIpSpec,
    Resources,
    SpacesSpec,
)
from firstboot.contract.keys import LAST_GOOD_KEY
from firstboot.contract.layout import Layout
from firstboot.core import Agent
from firstboot.doapi import DoApiError
from firstboot.gates import GATE_NAMES
from firstboot.inputs import load_inputs
from firstboot.proof import iso
from firstboot.state import atomic_write, load_state
from firstboot.steps import STEPS, start_app
from tests.unit.agent_fakes import (
    Crash,
    FakeClock,
    FakeDoApi,
    FakeDroplet,
    FakeHttp,
    FakeMetadata,
    FakeSpaces,
    fast_renderers,
    make_secrets,
)

GOOD, PRIOR = "18.0-20261101", "18.0-20261001"
REG = "10.213.0.1:5000"
IP = "127.0.0.100"
ME, OTHER = 4242, 1111


def schema() -> dict:
    """The project's deploy_status schema (the PRD's, whole, plus the project's own fields)."""
    return json.loads(resources.files("firstboot.contract").joinpath("deploy_status.schema.json").read_text())


def base_deploy() -> Deploy:
    return Deploy(
        project="odoo",
        ship_version="1.2.3",
        reserved_ip=ReservedIpSpec("address", IP),
        dns=DnsSpec("example.test", "erp", 60),
        odoo=OdooSpec(image="odoo", tag=GOOD, prior_tag=None, modules=("base", "web", "mail"), database="odoo"),
        edge=EdgeSpec(domain="erp.example.test"),
        spaces=SpacesSpec("nyc3", "odl-proofs"),
        registry=RegistrySpec(host=REG),
        gates=GatesSpec(timeout_seconds=60, soak_seconds=4, probe_timeout_seconds=5, install_timeout_seconds=600),
        build=BuildInfo(git_sha="a" * 40, git_ref="main"),
        deploy_id="deploy-20261127-030000",
    )


class World:
    """One droplet's file system under tmp_path plus the fakes around it."""

    def __init__(self, tmp_path: Path, deploy: Deploy | None = None, user_data: bool = True,
                 behaviour: dict[str, str] | None = None, holder: int | None = OTHER) -> None:
        self.paths = Layout(tmp_path)
        self.deploy = deploy or base_deploy()
        self.secrets = make_secrets()
        self.paths.etc.mkdir(parents=True)
        atomic_write(self.paths.baked_json, json.dumps({"prior_tag": PRIOR, "tags": [GOOD, PRIOR]}))
        if user_data:
            atomic_write(self.paths.deploy_json, json.dumps(self.deploy.to_dict()))
            atomic_write(self.paths.secrets_env, "".join(f"{k}={v}\n" for k, v in self.secrets.to_env().items()))
        else:
            atomic_write(self.paths.deploy_json, json.dumps(replace(
                self.deploy, reserved_ip=ReservedIpSpec(), dns=None, spaces=None, deploy_id=None).to_dict()))
        self.droplet = FakeDroplet(tmp_path, behaviour=behaviour or {})
        self.droplet.images |= {"postgres:16", "redis:7", f"{REG}/odoo:{GOOD}", f"{REG}/odoo:{PRIOR}"}
        self.http = FakeHttp(self.droplet)
        self.clock = FakeClock()
        self.bucket: dict[str, bytes] = {}
        self.spaces = FakeSpaces(self.bucket)
        self.api = FakeDoApi(holders={IP: holder})
        self.api_calls = 0

    def agent(self, steps: dict | None = None) -> Agent:
        inputs = load_inputs(self.paths)

        def api():
            self.api_calls += 1
            return self.api

        return Agent(self.paths, inputs, self.droplet, self.http, self.clock,
                     resources=lambda: Resources(2, 4096, 80), free_disk_gb=lambda: 50.0,
                     metadata=FakeMetadata, doapi=api,
                     spaces=lambda: self.spaces if inputs.deploy.spaces else None,
                     chown=lambda p, uid: None, steps=steps, renderers=fast_renderers())

    def run(self):
        return self.agent().run_all()

    @property
    def proofs(self) -> Path:
        st = load_state(self.paths.state_json)
        assert st
        return self.paths.proof_dir(st.deploy_id)

    def deploy_status(self) -> dict:
        return json.loads((self.proofs / "deploy_status.json").read_text())

    def all_written_text(self) -> str:
        out = []
        for base in (self.paths.var, self.paths.log_dir):
            for p in base.rglob("*"):
                if p.is_file():
                    out.append(p.read_text(errors="replace"))
        out += [v.decode(errors="replace") for v in self.bucket.values()]
        return "\n".join(out)


def assert_no_secrets(w: World) -> None:
    text = w.all_written_text()
    for value in w.secrets.values():
        assert value not in text


def test_happy_path_every_gate_passes_then_proofs_then_cutover(tmp_path):
    w = World(tmp_path)
    st = w.run()

    assert st.status == "success"
    doc = w.deploy_status()
    jsonschema.validate(doc, schema())
    assert doc["deploy_id"] == "deploy-20261127-030000"
    assert [g["name"] for g in doc["gates"]] == list(GATE_NAMES)
    assert all(g["passed"] for g in doc["gates"])
    assert doc["health_checks"]["overall"] is True
    assert doc["health_checks"]["longpolling"]["url"] == "wss://erp.example.test/websocket"
    assert [m["state"] for m in doc["modules"]["installed"]] == ["installed"] * 3
    # The reserved IP moved once, to this droplet, and only after the proofs were in Spaces.
    assert w.api.assigns == [(IP, ME)]
    assert w.api.records == {"erp.example.test": IP}
    assert doc["cutover"]["assigned"] is True and "every gate passed" in doc["cutover"]["reason"]
    assert doc["cutover"]["dns"] == {"status": "moved", "record": "erp.example.test", "target": IP,
                                     "action": "created", "at": doc["cutover"]["dns"]["at"], "attempts": 1}
    assert not w.paths.dns_outbox.exists()
    last_good = json.loads(w.bucket[LAST_GOOD_KEY])
    assert last_good["tag"] == GOOD and last_good["droplet_id"] == ME
    prefix = "proofs/deploy-20261127-030000/"
    for name in ("deploy_status.json", "healthcheck.log", "module_install.log", "status.json"):
        assert prefix + name in w.bucket
    assert json.loads(w.bucket[prefix + "status.json"])["done"] is True
    assert json.loads(w.bucket[prefix + "deploy_status.json"])["cutover"]["assigned"] is True
    # Phases timed, in order, each ok.
    assert list(doc["phases"]) == ["preflight", "configure", "start-data", "restore", "install", "start-app", "verify",
                                   "decide", "publish", "cutover", "finalize"]
    assert all(p["ok"] and p["seconds"] is not None for p in doc["phases"].values())
    # Installed once, with the configured tag; edge probes went to loopback with the domain's Host.
    assert w.droplet.install_runs == [GOOD]
    edge = [r for r in w.http.requests if r["port"] == 443]
    assert edge and all(r["connect"] == "127.0.0.1" and r["host"] == "erp.example.test" for r in edge)
    ws = [r for r in w.http.requests if "origin" in r]
    assert ws and ws[0]["origin"] == "https://erp.example.test"
    hc = (w.proofs / "healthcheck.log").read_text()
    assert "realtime_route PASS url=wss://erp.example.test/websocket status=101" in hc
    # The metadata service: containers (DOCKER-USER) and non-root users (OUTPUT, by owner) refused.
    assert w.droplet.iptables == {
        ("DOCKER-USER", "-d", "169.254.169.254/32", "-j", "REJECT"),
        ("OUTPUT", "-d", "169.254.169.254/32", "-m", "owner", "!", "--uid-owner", "0", "-j", "REJECT"),
    }
    assert_no_secrets(w)
    # Files the droplet keeps: 0600 for what holds secrets.
    for p in (w.paths.stack_dir / "odoo.env", w.paths.stack_dir / "odoo.conf", w.paths.state_json):
        assert stat.S_IMODE(p.stat().st_mode) == 0o600


@pytest.mark.parametrize("fault,failing_gate", [
    ("crash_loop", "container_up"),
    ("never_ready", "health_internal"),
    ("no_gevent", "realtime_route"),
])
def test_failed_gate_rolls_back_to_prior_tag_and_keeps_the_ip_away(tmp_path, fault, failing_gate):
    w = World(tmp_path, behaviour={GOOD: fault}, holder=OTHER)
    st = w.run()

    assert st.status == "rolled_back"
    doc = w.deploy_status()
    jsonschema.validate(doc, schema())
    first = doc["attempts"][0]
    assert first["tag"] == GOOD and first["passed"] is False
    assert failing_gate in [g["name"] for g in first["gates"] if not g["passed"]]
    assert doc["attempts"][1]["tag"] == PRIOR and doc["attempts"][1]["passed"] is True
    assert doc["rollback"]["to_tag"] == PRIOR and doc["rollback"]["passed"] is True
    assert "state/last_good.json" not in doc["rollback"]["source"]
    # Fresh install: the failed tag's database was dropped and the prior tag installed anew.
    assert w.droplet.drops == 1 and w.droplet.install_runs == [GOOD, PRIOR]
    # The IP stays where it serves; the proof says why.
    assert w.api.assigns == [] and w.api.records == {}
    assert f"stays on droplet {OTHER}" in doc["cutover"]["reason"]
    diag = w.proofs / "diagnostics"
    assert (diag / "attempt-0-compose-logs.txt").exists() and (diag / "attempt-0-nginx-error.log").exists()
    failing = json.loads((diag / "attempt-0-failing-responses.json").read_text())
    assert failing_gate in [f["gate"] for f in failing]
    assert "rollback:verify" in doc["phases"] and "rollback" in doc["phases"]
    assert_no_secrets(w)


@pytest.mark.parametrize("fault,detail", [
    ("install_fails", "exited 255"),
    ("unknown_module", "unknown (no row): mail"),
])
def test_failed_install_is_caught_even_when_odoo_exits_0(tmp_path, fault, detail):
    w = World(tmp_path, behaviour={GOOD: fault})
    st = w.run()
    assert st.status == "rolled_back"
    doc = w.deploy_status()
    assert detail in doc["attempts"][0]["failed"]
    assert doc["attempts"][0]["install_exit_code"] == (255 if fault == "install_fails" else 0)
    # The failed attempt stopped at install: its Odoo was never started or verified.
    assert "start-app" not in doc["phases"] and "verify" not in doc["phases"]
    assert w.droplet.install_runs == [GOOD, PRIOR]
    assert [m["state"] for m in doc["modules"]["installed"]] == ["installed"] * 3
    log = (w.proofs / "module_install.log").read_text()
    assert f"with {GOOD} (attempt 0)" in log and f"with {PRIOR} (attempt 1)" in log


def test_rolled_back_droplet_takes_the_ip_only_when_unassigned(tmp_path):
    w = World(tmp_path, behaviour={GOOD: "no_gevent"}, holder=None)
    st = w.run()
    assert st.status == "rolled_back"
    assert w.api.assigns == [(IP, ME)]
    assert "unassigned" in w.deploy_status()["cutover"]["reason"]
    assert json.loads(w.bucket[LAST_GOOD_KEY])["tag"] == PRIOR


def test_both_tags_failing_is_failed_and_nothing_moves(tmp_path):
    w = World(tmp_path, behaviour={GOOD: "crash_loop", PRIOR: "never_ready"}, holder=None)
    st = w.run()
    assert st.status == "failed"
    doc = w.deploy_status()
    jsonschema.validate(doc, schema())
    assert doc["error_message"] and PRIOR in doc["error_message"]
    assert w.api.assigns == [] and w.api.records == {} and w.api_calls == 0
    assert LAST_GOOD_KEY not in w.bucket
    assert "proofs/deploy-20261127-030000/deploy_status.json" in w.bucket


def test_database_down_at_verify_fails_db_gates(tmp_path):
    w = World(tmp_path)

    def start_app_then_db_dies(job, step):
        start_app.run(job, step)
        w.droplet.db_down = True

    st = w.agent(steps={**STEPS, "start-app": start_app_then_db_dies}).run_all()
    assert st.status == "failed"  # the rollback's own start-data waits for a database that never answers
    gates = {g["name"]: g for g in st.attempts[0].gates}
    assert not gates["db_reachable"]["passed"] and not gates["health_internal"]["passed"]
    assert gates["health_edge"]["passed"]  # plain /web/health says 200 with the database down
    assert w.api.assigns == []


def test_registry_unreachable_baked_tags_still_deploy(tmp_path):
    w = World(tmp_path)
    w.droplet.pull_works = False
    assert w.run().status == "success"
    assert not [c for c in w.droplet.calls if c[:2] == ("docker", "pull")]


def test_configured_image_missing_and_no_registry_rolls_back_without_installing_it(tmp_path):
    w = World(tmp_path)
    w.droplet.images.discard(f"{REG}/odoo:{GOOD}")
    st = w.run()
    assert st.status == "rolled_back"
    assert "not present" in st.attempts[0].failed
    assert w.droplet.install_runs == [PRIOR]


def test_last_good_in_spaces_wins_over_baked_prior(tmp_path):
    w = World(tmp_path, behaviour={GOOD: "no_gevent"})
    w.droplet.images.add(f"{REG}/odoo:18.0-lastgood")
    w.bucket[LAST_GOOD_KEY] = json.dumps({"tag": "18.0-lastgood"}).encode()
    st = w.run()
    assert st.status == "rolled_back" and st.attempts[1].tag == "18.0-lastgood"
    assert st.prior_source == "state/last_good.json in Spaces"


def test_spaces_down_during_publish_proofs_wait_in_outbox_and_arrive_later(tmp_path):
    w = World(tmp_path)
    w.spaces.down = True
    st = w.run()
    assert st.status == "success"
    assert w.bucket == {}
    pending = list(w.paths.outbox.glob("*.json"))
    assert len(pending) >= 5  # the proofs and state/last_good.json
    # Spaces returns; the timer's `publish` drains the outbox.
    w.spaces.down = False
    done, errors = w.agent().drain_outbox()
    assert errors == [] and list(w.paths.outbox.glob("*.json")) == []
    prefix = "proofs/deploy-20261127-030000/"
    doc = json.loads(w.bucket[prefix + "deploy_status.json"])
    jsonschema.validate(doc, schema())
    assert doc["cutover"]["assigned"] is True
    assert json.loads(w.bucket[prefix + "status.json"])["done"] is True
    assert json.loads(w.bucket[LAST_GOOD_KEY])["tag"] == GOOD


def test_killed_during_install_resumes_and_initialises_once(tmp_path):
    w = World(tmp_path)
    w.droplet.crash_on = " run -T --name odl-install-"
    with pytest.raises(Crash):
        w.run()
    st = load_state(w.paths.state_json)
    assert st and "install" not in st.attempts[0].done and st.attempts[0].fresh_db is True
    assert w.droplet.install_container is not None  # still running under dockerd

    st = w.run()  # systemd restarts the unit
    assert st.status == "success"
    assert w.droplet.install_runs == [GOOD]  # waited for the running install, did not start another
    assert st.runs == 2 and st.phases["install"].get("resumed") == 1
    assert st.attempts[0].install.get("resumed") is True
    assert w.api.assigns == [(IP, ME)]


def test_crash_after_assign_never_cuts_over_twice(tmp_path):
    w = World(tmp_path)
    calls = {"n": 0}
    orig = w.api.upsert_a_record

    def dns_then_die(*a, **k):
        calls["n"] += 1
        if calls["n"] == 1:
            raise Crash("killed during DNS")
        return orig(*a, **k)

    w.api.upsert_a_record = dns_then_die
    with pytest.raises(Crash):
        w.run()
    assert w.api.assigns == [(IP, ME)]
    st = w.run()
    assert st.status == "success"
    assert w.api.assigns == [(IP, ME)]  # it saw it already holds the IP
    assert "already assigned to this droplet" in st.cutover.reason
    assert w.api.records == {"erp.example.test": IP}


def test_a_finished_deploy_runs_nothing_again(tmp_path):
    w = World(tmp_path)
    w.run()
    calls_before = len(w.droplet.calls)
    st = w.run()  # next boot
    assert st.status == "success" and st.runs == 2
    new = w.droplet.calls[calls_before:]
    assert all(c[0] == "iptables" for c in new)  # only the firewall rule is checked again
    assert w.droplet.install_runs == [GOOD] and w.api.assigns == [(IP, ME)]


def test_no_user_data_generates_credentials_and_never_cuts_over(tmp_path):
    w = World(tmp_path, user_data=False)
    st = w.run()
    assert st.status == "success" and st.user_data is False
    cred = w.paths.credentials
    assert stat.S_IMODE(cred.stat().st_mode) == 0o600
    creds = dict(line.split("=", 1) for line in cred.read_text().splitlines() if "=" in line
                 and not line.startswith("#"))
    assert len(creds["DB_PASSWORD"]) >= 24 and creds["DB_PASSWORD"] == (w.paths.stack_dir / "db_password").read_text()
    assert w.api_calls == 0 and w.bucket == {}
    doc = w.deploy_status()
    jsonschema.validate(doc, schema())
    assert "no user-data" in doc["cutover"]["reason"] and doc["cutover"]["assigned"] is False
    assert (w.paths.tls_dir / "selfsigned.crt").exists()
    # Stable across runs: the same passwords on the next boot.
    assert load_inputs(w.paths).secrets.db_password == creds["DB_PASSWORD"]
    text = w.all_written_text().replace(cred.read_text(), "")
    assert creds["DB_PASSWORD"] not in text and creds["ADMIN_PASSWD"] not in text


def test_nginx_refusing_the_site_fails_the_attempt_and_leaves_nginx_alone(tmp_path):
    w = World(tmp_path)
    w.droplet.nginx_t_fails = True
    st = w.run()
    assert st.status == "failed"
    assert st.attempts[0].failed.startswith("configure: nginx -t refused")
    assert not w.paths.nginx_site.exists() and not w.paths.nginx_site_enabled.is_symlink()
    assert not [c for c in w.droplet.calls if c[0] == "systemctl"]
    assert w.api.assigns == []


def test_too_small_a_droplet_is_a_published_failure(tmp_path):
    w = World(tmp_path)
    agent = w.agent()
    agent.resources = lambda: Resources(1, 512, 10)
    st = agent.run_all()
    assert st.status == "failed" and "cannot run 2 Odoo workers" in st.fatal
    assert w.droplet.install_runs == []
    jsonschema.validate(w.deploy_status(), schema())
    assert "proofs/deploy-20261127-030000/deploy_status.json" in w.bucket


@pytest.mark.parametrize("works", [True, False])
def test_letsencrypt_certificate_or_recorded_self_signed(tmp_path, works):
    d = base_deploy()
    w = World(tmp_path, deploy=replace(d, edge=EdgeSpec(domain="erp.example.test", tls="letsencrypt",
                                                         email="ops@example.test",
                                                         acme_server="https://10.213.0.1:14000/dir")))
    w.droplet.certbot_works = works
    st = w.run()
    assert st.status == "success"  # a certificate problem does not fail the deploy
    certbot = [c for c in w.droplet.calls if c[0] == "certbot"]
    assert "--server" in certbot[0] and "https://10.213.0.1:14000/dir" in certbot[0]
    site = w.paths.nginx_site.read_text()
    doc = w.deploy_status()
    if works:
        assert len(certbot) == 1 and doc["security"]["certificate"] == "letsencrypt"
        assert "etc/letsencrypt/live/erp.example.test/fullchain.pem" in site
    else:
        # Tried at configure and once more right after taking the reserved IP.
        assert len(certbot) == 2 and doc["security"]["certificate"].startswith("self-signed (certbot at cutover")
        assert "selfsigned.crt" in site


def test_snapshot_tag_from_baked_json_is_the_rollback_target(tmp_path):
    w = World(tmp_path, behaviour={GOOD: "no_gevent"})
    atomic_write(w.paths.baked_json, json.dumps({"tag": "18.0-snap", "prior_tag": PRIOR}))
    w.droplet.images.add(f"{REG}/odoo:18.0-snap")
    st = w.run()
    assert st.status == "rolled_back" and st.attempts[1].tag == "18.0-snap"
    assert st.prior_source == "the tag baked into the snapshot"


def test_proof_records_the_metadata_block(tmp_path):
    w = World(tmp_path)
    w.run()
    assert w.deploy_status()["security"]["metadata_blocked"] is True


def test_a_deploy_that_keeps_crashing_publishes_a_failure_instead_of_looping(tmp_path):
    w = World(tmp_path)
    for _ in range(5):
        w.droplet.crash_on = "compose -p odoo"  # dies at its first compose command, every time
        with pytest.raises(Crash):
            w.run()
    w.droplet.crash_on = None
    st = w.run()  # the 6th start
    assert st.status == "failed" and "started 6 times" in st.fatal
    assert "proofs/deploy-20261127-030000/deploy_status.json" in w.bucket
    assert w.api.assigns == []


@pytest.mark.parametrize("fault", [None, "no_gevent"])
def test_managed_postgres_never_touches_a_db_container(tmp_path, fault):
    d = replace(base_deploy(), postgres=PostgresSpec(mode="managed", host="db-do-user.ondigitalocean.com",
                                                      port=25060, sslmode="require"))
    w = World(tmp_path, deploy=d, behaviour={GOOD: fault} if fault else {})
    w.droplet.images.discard("postgres:16")
    st = w.run()
    assert st.status == ("rolled_back" if fault else "success")
    assert not [c for c in w.droplet.calls if c[:2] == ("docker", "compose") and "db" in c]
    assert w.droplet.managed_calls > 0
    assert "db:" not in (w.paths.stack_dir / "docker-compose.yml").read_text().split("services:")[1].split("volumes:")[0]
    gates = {g["name"]: g for g in st.attempts[-1].gates}
    assert gates["db_reachable"]["passed"] and gates["container_up"]["passed"]
    if fault:
        assert w.droplet.drops == 1  # the failed fresh install's database, dropped over SQL


def test_an_api_error_at_cutover_is_recorded_and_traffic_stays(tmp_path):
    w = World(tmp_path)

    def refuse(ip):
        raise DoApiError("GET", f"/v2/reserved_ips/{ip}", 503, "upstream unavailable")

    w.api.holder = refuse
    st = w.run()
    assert st.status == "success"  # the deploy is healthy; only the cutover did not happen
    cut = w.deploy_status()["cutover"]
    assert "503" in cut["error"] and cut["reason"].startswith("cutover error:") and cut["assigned"] is False
    assert cut["droplet_id"] == ME and cut["reserved_ip"] == IP and "holder_before" not in cut
    assert w.api.assigns == [] and LAST_GOOD_KEY not in w.bucket


def dns_down() -> DoApiError:
    return DoApiError("GET", "/v2/domains/example.test/records", 503, '{"id": "service_unavailable"}')


def test_a_dns_failure_after_the_retries_is_recorded_failed_and_queued_the_ip_still_moves(tmp_path):
    w = World(tmp_path)
    w.api.dns_failures = [dns_down()]
    st = w.run()
    assert st.status == "success"
    doc = w.deploy_status()
    jsonschema.validate(doc, schema())
    cut = doc["cutover"]
    assert cut["assigned"] is True and w.api.assigns == [(IP, ME)]
    dns = cut["dns"]
    assert dns["status"] == "failed" and "503" in dns["reason"] and dns["retrying"] is True
    assert dns["record"] == "erp.example.test" and dns["target"] == IP and dns["attempts"] == 1
    assert "error" not in cut  # the cutover itself went through: the IP moved, last_good names it
    assert json.loads(w.bucket[LAST_GOOD_KEY])["droplet_id"] == ME
    entry = json.loads(w.paths.dns_outbox.read_text())
    assert (entry["target"], entry["reserved_ip"], entry["droplet_id"]) == (IP, IP, ME)
    assert w.api.records == {}


def test_publish_retries_the_record_until_it_moves_and_records_when(tmp_path):
    from firstboot.dnsretry import MOVED, NONE, WAITING, retry_pending_dns

    w = World(tmp_path)
    w.api.dns_failures = [dns_down(), TimeoutError("DNS A erp.example.test: gave up after 3 attempts")]
    w.run()
    finished = w.deploy_status()["finished_at"]
    first = w.deploy_status()["cutover"]["dns"]

    w.clock.sleep(300)  # the timer, five minutes later: still failing
    assert retry_pending_dns(w.agent()) == WAITING
    dns = w.deploy_status()["cutover"]["dns"]
    assert dns["status"] == "failed" and dns["attempts"] == 2 and "gave up" in dns["reason"]
    assert dns["since"] == first["at"] and dns["at"] != first["at"]

    w.clock.sleep(300)  # and again: the API answers
    when = iso(w.clock.now())
    assert retry_pending_dns(w.agent()) == MOVED
    assert w.api.records == {"erp.example.test": IP}
    doc = w.deploy_status()
    jsonschema.validate(doc, schema())
    dns = doc["cutover"]["dns"]
    assert dns["status"] == "moved" and dns["attempts"] == 3 and dns["since"] == first["at"]
    assert dns["at"] == when and w.api.max_attempts == 3  # when it moved; fewer API rounds per timer run
    assert doc["finished_at"] == finished  # the deploy's end is kept
    assert json.loads((w.proofs / "status.json").read_text())["cutover"]["dns"]["status"] == "moved"
    uploaded = json.loads(w.bucket["proofs/deploy-20261127-030000/deploy_status.json"])
    assert uploaded["cutover"]["dns"] == dns  # in Spaces, for `odoo-droplet status`
    assert not w.paths.dns_outbox.exists()
    assert retry_pending_dns(w.agent()) == NONE  # nothing left to do


def test_the_record_retry_stops_once_another_droplet_holds_the_reserved_ip(tmp_path):
    from firstboot.dnsretry import DROPPED, retry_pending_dns

    w = World(tmp_path)
    w.api.dns_failures = [dns_down()]
    w.run()
    w.api.holders[IP] = OTHER  # a newer deploy took the reserved IP: it sets the record itself
    assert retry_pending_dns(w.agent()) == DROPPED
    dns = w.deploy_status()["cutover"]["dns"]
    assert dns["status"] == "failed" and dns["retrying"] is False and f"droplet {OTHER}" in dns["reason"]
    assert w.api.records == {} and not w.paths.dns_outbox.exists()


def test_a_missing_api_token_at_cutover_is_recorded(tmp_path):
    w = World(tmp_path)
    agent = w.agent()
    agent.doapi_factory = agent._default_doapi
    agent.secrets = replace(agent.secrets, do_token=None)
    st = agent.run_all()
    assert st.status == "success" and "no DIGITALOCEAN_TOKEN" in st.cutover.error
    assert w.api.assigns == []


def test_cutover_does_not_swallow_a_bug(tmp_path):
    # Only the errors the cutover means are recorded; anything else (a bug) stops the agent loudly,
    # and the resumed agent finds the cutover not done.
    w = World(tmp_path)

    def bug(ip):
        raise RuntimeError("a bug, not an API answer")

    w.api.holder = bug
    with pytest.raises(RuntimeError, match="a bug"):
        w.run()
    st = load_state(w.paths.state_json)
    assert st and "publish" in st.done and "cutover" not in st.done


def test_nginx_refusal_puts_back_the_previous_site_and_debians_default(tmp_path):
    w = World(tmp_path)
    w.droplet.nginx_t_fails = True
    site, default = w.paths.nginx_site, w.paths.nginx_default_enabled
    site.parent.mkdir(parents=True)
    site.write_text("# the site before this deploy\n")
    default.parent.mkdir(parents=True)
    default.symlink_to("/etc/nginx/sites-available/default")
    st = w.run()
    assert st.status == "failed" and st.attempts[0].failed.startswith("configure: nginx -t refused")
    assert site.read_text() == "# the site before this deploy\n"
    assert default.is_symlink() and str(default.readlink()) == "/etc/nginx/sites-available/default"
    assert not [c for c in w.droplet.calls if c[0] == "systemctl"]
