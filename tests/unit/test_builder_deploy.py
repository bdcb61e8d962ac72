"""The pure parts of `odoo-droplet droplet`: which snapshot, what is sent, when to resume, the exit code."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from builder.commands.droplet import summary
from builder.deploy import (
    DeployResult,
    Intent,
    deploy_tag,
    droplet_body,
    exit_code,
    pick_snapshot,
    settings_digest,
)
from builder.progress import Follower, gate_table
from firstboot.config import Deploy, DnsSpec, ReservedIpSpec
from firstboot.contract.ids import deploy_id_for

SNAPS = [
    {"id": 11, "name": "acme-1.0.0-aaaaaaaaaaaa", "created_at": "2026-11-01T10:00:00Z"},
    {"id": 12, "name": "acme-1.1.0-bbbbbbbbbbbb", "created_at": "2026-11-20T10:00:00Z"},
    {"id": 13, "name": "other-9.9.9-cccccccccccc", "created_at": "2026-11-25T10:00:00Z"},
]


def test_newest_snapshot_of_the_project_is_picked() -> None:
    assert pick_snapshot(SNAPS, "acme")["id"] == 12
    assert pick_snapshot(SNAPS, "acme", "acme-1.0.0-aaaaaaaaaaaa")["id"] == 11
    assert pick_snapshot(SNAPS, "acme", "13")["id"] == 13
    assert pick_snapshot(SNAPS, "nobody") is None
    assert pick_snapshot(SNAPS, "acme", "missing") is None


def test_deploy_id_and_tag_follow_the_proof_schema() -> None:
    deploy_id = deploy_id_for(dt.datetime(2026, 11, 27, 3, 4, 5))  # what the deployer names a deploy
    assert deploy_id == "deploy-20261127-030405"
    assert deploy_tag(deploy_id) == "odl-deploy-20261127-030405"


def test_droplet_body_carries_the_deploy_tag_and_user_data() -> None:
    deploy = Deploy(project="acme")
    body = droplet_body(deploy, "deploy-20261127-030405", 12, "#cloud-config\n")
    assert body["image"] == 12 and body["user_data"] == "#cloud-config\n"
    assert "odl-deploy-20261127-030405" in body["tags"] and "acme" in body["tags"]
    assert "user_data" not in droplet_body(deploy, "deploy-20261127-030405", 12, None)


def test_intent_is_resumed_only_for_the_same_settings(tmp_path: Path) -> None:
    deploy = Deploy(project="acme")
    path = tmp_path / "intent.json"
    Intent("deploy-20261127-030405", settings_digest(deploy)).save(path)
    loaded = Intent.load(path)
    assert loaded and loaded.digest == settings_digest(deploy.with_tag("18.0"))  # same tag: same digest
    assert loaded.digest != settings_digest(deploy.with_tag("18.0-other"))
    path.write_text("{not json")
    assert Intent.load(path) is None


def test_exit_code_needs_gates_and_the_configured_cutover() -> None:
    with_ip = Deploy(reserved_ip=ReservedIpSpec("address", "45.55.0.10"))
    assert exit_code(DeployResult(status="success", cutover=True), with_ip) == 0
    assert exit_code(DeployResult(status="success", cutover=False), with_ip) == 1
    assert exit_code(DeployResult(status="rolled_back", cutover=False), with_ip) == 1
    assert exit_code(DeployResult(status="success"), Deploy()) == 0
    assert exit_code(DeployResult(status="success"), Deploy(dns=DnsSpec("example.com", "erp"))) == 1


def test_exit_code_is_1_when_the_dns_record_did_not_move_though_the_reserved_ip_did() -> None:
    both = Deploy(reserved_ip=ReservedIpSpec("address", "45.55.0.10"), dns=DnsSpec("example.com", "erp"))
    moved = {"status": "moved", "record": "erp.example.com", "target": "45.55.0.10", "action": "created",
             "at": "2026-11-27T03:05:00Z", "attempts": 1}
    failed = {"status": "failed", "record": "erp.example.com", "target": "45.55.0.10", "reason": "403 forbidden",
              "at": "2026-11-27T03:05:00Z", "attempts": 1, "retrying": True, "since": "2026-11-27T03:05:00Z"}
    assert exit_code(DeployResult(status="success", cutover=True, dns=moved), both) == 0
    assert exit_code(DeployResult(status="success", cutover=True, dns=failed), both) == 1
    assert exit_code(DeployResult(status="success", cutover=True, dns=None), both) == 1
    text = summary(DeployResult(status="success", cutover=True, reserved_ip="45.55.0.10", dns=failed,
                                dns_wanted=True))
    assert "  dns       FAILED: erp.example.com -> 45.55.0.10 not set (403 forbidden" in text
    assert "retries every 5 minutes" in text
    text = summary(DeployResult(status="success", cutover=True, reserved_ip="45.55.0.10", dns=moved))
    assert "  dns       erp.example.com -> 45.55.0.10 (created at 2026-11-27T03:05:00Z)" in text
    assert "  dns " not in summary(DeployResult(status="success", cutover=True))  # no record configured


def test_progress_prints_each_phase_once_in_order() -> None:
    f = Follower()
    s1 = {"current": "install", "tag": "18.0", "phases": {
        "preflight": {"ended": "2026-11-27T03:00:01Z", "seconds": 1.25, "ok": True},
        "configure": {"ended": "2026-11-27T03:00:02Z", "seconds": 0.5, "ok": True},
        "install": {"started": "2026-11-27T03:00:02Z"}}}
    lines = f.lines(s1)
    assert [line.split()[0] for line in lines] == ["preflight", "configure", "install"]
    assert "1.2 s" in lines[0] or "1.3 s" in lines[0]
    assert f.lines(s1) == []  # nothing new, nothing printed
    s2 = {**s1, "current": "verify", "phases": {**s1["phases"], "install": {"ended": "2026-11-27T03:00:40Z",
                                                                          "seconds": 38.0, "ok": False}}}
    lines = f.lines(s2)
    assert lines[0].split()[:2] == ["install", "FAILED"] and lines[1].split()[0] == "verify"


def test_gate_table_lists_each_gate() -> None:
    rows = gate_table({"gates": [{"name": "login_page", "passed": True, "detail": "200"},
                                 {"name": "realtime_route", "passed": False, "detail": "404"}]})
    assert "login_page" in rows[1] and "pass" in rows[1]
    assert "realtime_route" in rows[2] and "FAIL" in rows[2]


def test_cutover_line_says_where_the_reserved_ip_points() -> None:
    from builder.commands.droplet import cutover_line

    done = DeployResult(status="success", cutover=True, reserved_ip="127.0.0.100", reserved_ip_holder=7)
    assert cutover_line(done) == "reserved IP 127.0.0.100 now points here"
    kept = DeployResult(status="rolled_back", reserved_ip="127.0.0.100", reserved_ip_holder=7)
    assert cutover_line(kept) == "not done: reserved IP 127.0.0.100 untouched (points to droplet 7)"
    first = DeployResult(status="failed", reserved_ip="127.0.0.100")
    assert cutover_line(first) == "not done: reserved IP 127.0.0.100 untouched (points to no droplet)"
    assert cutover_line(DeployResult(status="success", cutover=True)) == "DNS points here"
    assert cutover_line(DeployResult(status="failed")) == "not done"


class _FakeCloud:
    """What find_or_create asks of the API: droplets by tag, and create."""

    def __init__(self, droplets: list[dict]) -> None:
        self.list, self.created = droplets, []

    def droplets(self, tag: str | None = None) -> list[dict]:
        return [d for d in self.list if tag in d["tags"]]

    def create_droplet(self, body: dict) -> dict:
        d = {"id": 100 + len(self.list), "name": body["name"], "tags": body["tags"]}
        self.list.append(d)
        self.created.append(d)
        return d


def test_deploy_tag_is_unique_per_run_and_a_rerun_follows_only_its_own_droplet(tmp_path: Path) -> None:
    from builder.deploy import Deployer, new_nonce

    assert deploy_tag("deploy-20261127-030405", "ab12cd34") == "odl-deploy-20261127-030405-ab12cd34"
    assert new_nonce() != new_nonce()
    path = tmp_path / "intent.json"
    Intent("deploy-20261127-030405", "d", "ab12cd34").save(path)
    assert Intent.load(path) == Intent("deploy-20261127-030405", "d", "ab12cd34")

    deploy = Deploy(project="acme")
    # Another project's droplet from the same second, and even one carrying the same tag: never followed.
    cloud = _FakeCloud([{"id": 1, "name": "other-x", "tags": ["other", "odl-deploy-20261127-030405"]},
                        {"id": 2, "name": "other-y", "tags": ["other", "odl-deploy-20261127-030405-ab12cd34"]}])
    deployer = Deployer(cloud, None, lambda _: None, sleep=lambda _: None)  # type: ignore[arg-type]
    made = deployer.find_or_create(deploy, "deploy-20261127-030405", 12, None, "ab12cd34")
    assert made["id"] not in (1, 2) and "acme" in made["tags"]
    again = deployer.find_or_create(deploy, "deploy-20261127-030405", 12, None, "ab12cd34")
    assert again["id"] == made["id"] and len(cloud.created) == 1


def test_summary_of_a_console_droplet_points_at_its_proofs_on_the_droplet() -> None:
    from builder.commands.droplet import summary

    result = DeployResult(droplet_id=7, deploy_id="deploy-20261127-030405", status="success", address="192.0.2.10",
                          url="https://192.0.2.10/web/login")
    assert summary(result).splitlines()[1:] == [
        "deploy deploy-20261127-030405: SUCCESS",
        "  droplet   7 at 192.0.2.10",
        "  url       https://192.0.2.10/web/login",
        "  cutover   not done",
        "  proofs    /var/lib/odoo-droplet/proofs/ on the droplet",
    ]
