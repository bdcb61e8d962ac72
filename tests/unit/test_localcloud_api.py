"""The local DO API on the in-process MemoryBackend: what a pydo/Packer/curl user of it would notice.

Every exchange goes through ValidatingSession: requests and responses must match DigitalOcean's spec.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests

from localcloud.faults import FaultBook, FaultClient
from tests.localcloud_support import LocalCloud, ValidatingSession, start_memory_cloud

# Fixtures: do_openapi_spec, memory_cloud, validating_session, pydo_client.
pytest_plugins = ["tests.localcloud_fixtures"]

ED25519 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGZ2b1Bxk0E0mC0ZkV3p0x8X0J7p1x1pQmKq7bE0pC1a test@host"


def wait_for(predicate: Callable[[], Any], timeout: float = 10.0, interval: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(interval)


def create_droplet(s: ValidatingSession, url: str, name: str, **extra: Any) -> dict[str, Any]:
    body = {"name": name, "region": "nyc3", "size": "s-1vcpu-1gb", "image": "debian-12-x64", **extra}
    r = s.post(f"{url}/v2/droplets", json=body)
    assert r.status_code == 202, r.text
    return r.json()["droplet"]


def active(s: ValidatingSession, url: str, droplet_id: int) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        d = s.get(f"{url}/v2/droplets/{droplet_id}").json()["droplet"]
        return d if d["status"] == "active" else None
    return wait_for(check)


def action_done(s: ValidatingSession, url: str, action_id: int, timeout: float = 10) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        a = s.get(f"{url}/v2/actions/{action_id}").json()["action"]
        return a if a["status"] != "in-progress" else None
    return wait_for(check, timeout)


def faults_of(cloud: LocalCloud) -> FaultClient:
    return FaultClient(cloud.url, cloud.token, cloud.cafile)


# ---------------------------------------------------------------- auth, errors, headers


def test_requests_without_a_valid_token_get_401(do_openapi_spec, memory_cloud):
    anonymous = ValidatingSession(do_openapi_spec, memory_cloud.cafile, unauthenticated=True)
    r = anonymous.get(f"{memory_cloud.url}/v2/droplets")
    assert r.status_code == 401
    assert r.json()["id"] == "unauthorized"
    wrong = ValidatingSession(do_openapi_spec, memory_cloud.cafile, token="dop_v1_" + "0" * 64,
                              unauthenticated=True)
    assert wrong.get(f"{memory_cloud.url}/v2/account").status_code == 401
    assert not anonymous.errors and not wrong.errors


def test_unknown_droplet_is_a_do_shaped_404(validating_session, memory_cloud):
    r = validating_session.get(f"{memory_cloud.url}/v2/droplets/999")
    assert r.status_code == 404
    body = r.json()
    assert body["id"] == "not_found" and body["message"] and body["request_id"]


def test_account_regions_sizes_and_rate_limit_headers(validating_session, memory_cloud):
    from firstboot.sizes import SIZES

    r = validating_session.get(f"{memory_cloud.url}/v2/account")
    assert r.json()["account"]["status"] == "active"
    assert r.headers["ratelimit-limit"] == "5000"
    remaining = int(r.headers["ratelimit-remaining"])
    assert int(validating_session.get(f"{memory_cloud.url}/v2/account").headers["ratelimit-remaining"]) \
        == remaining - 1
    assert int(r.headers["ratelimit-reset"]) > time.time()
    regions = validating_session.get(f"{memory_cloud.url}/v2/regions").json()
    assert "nyc3" in [x["slug"] for x in regions["regions"]]
    sizes = validating_session.get(f"{memory_cloud.url}/v2/sizes", params={"per_page": 200}).json()
    assert sizes["meta"]["total"] == len(SIZES)
    by_slug = {s["slug"]: s for s in sizes["sizes"]}
    assert by_slug["s-2vcpu-4gb"]["vcpus"] == 2 and by_slug["s-2vcpu-4gb"]["memory"] == 4096


# ---------------------------------------------------------------- keys


def test_ssh_keys_create_get_by_id_and_fingerprint_delete(validating_session, memory_cloud):
    url = memory_cloud.url
    r = validating_session.post(f"{url}/v2/account/keys", json={"name": "packer-1", "public_key": ED25519})
    assert r.status_code == 201, r.text
    key = r.json()["ssh_key"]
    assert key["fingerprint"].count(":") == 15
    assert validating_session.get(f"{url}/v2/account/keys/{key['id']}").json()["ssh_key"]["name"] == "packer-1"
    by_fp = validating_session.get(f"{url}/v2/account/keys/{key['fingerprint']}")
    assert by_fp.json()["ssh_key"]["id"] == key["id"]
    dup = validating_session.post(f"{url}/v2/account/keys", json={"name": "again", "public_key": ED25519})
    assert dup.status_code == 422 and dup.json()["id"] == "unprocessable_entity"
    bad = validating_session.post(f"{url}/v2/account/keys", json={"name": "bad", "public_key": "not a key"})
    assert bad.status_code == 422
    assert validating_session.get(f"{url}/v2/account/keys").json()["meta"]["total"] == 1
    renamed = validating_session.put(f"{url}/v2/account/keys/{key['id']}", json={"name": "renamed"})
    assert renamed.json()["ssh_key"]["name"] == "renamed"
    assert validating_session.delete(f"{url}/v2/account/keys/{key['fingerprint']}").status_code == 204
    assert validating_session.get(f"{url}/v2/account/keys/{key['id']}").status_code == 404


# ---------------------------------------------------------------- droplets


def test_pydo_creates_a_droplet_with_user_data_sees_it_active_and_deletes_it(pydo_client, memory_cloud,
                                                                             spec_observer):
    user_data = "#cloud-config\nruncmd:\n  - echo hello > /root/hello\n"
    created = pydo_client.droplets.create({"name": "odoo-1", "region": "nyc3", "size": "s-2vcpu-4gb",
                                           "image": "debian-12-x64", "user_data": user_data,
                                           "tags": ["odoo-droplet"]})
    droplet = created["droplet"]
    assert droplet["status"] == "new"
    assert created["links"]["actions"][0]["rel"] == "create"

    def is_active() -> dict[str, Any] | None:
        d = pydo_client.droplets.get(droplet["id"])["droplet"]
        return d if d["status"] == "active" else None

    d = wait_for(is_active)
    public = [n for n in d["networks"]["v4"] if n["type"] == "public"]
    assert public and public[0]["ip_address"].startswith("10.213.0.")
    spec = memory_cloud.backend.droplets[droplet["id"]].spec
    assert spec.user_data == user_data
    assert (spec.vcpus, spec.memory_mb) == (2, 4096)  # the size becomes the container's limits
    pydo_client.droplets.destroy(droplet["id"])
    # pydo hands 404 bodies back for GETs whose spec lists 404 (it raises only for unlisted codes).
    assert pydo_client.droplets.get(droplet["id"])["id"] == "not_found"
    assert droplet["id"] not in memory_cloud.backend.droplets
    # The server saw (and validated) every exchange the client had.
    assert spec_observer.exchanges == pydo_client.validating_session.exchanges > 3


def test_droplets_listed_by_tag_with_pagination_and_deleted_by_tag(validating_session, memory_cloud):
    url = memory_cloud.url
    ids = [create_droplet(validating_session, url, f"web-{i}", tags=["blue"])["id"] for i in range(3)]
    other = create_droplet(validating_session, url, "db-1", tags=["green"])["id"]
    page1 = validating_session.get(f"{url}/v2/droplets", params={"tag_name": "blue", "per_page": 2}).json()
    assert page1["meta"]["total"] == 3
    assert [d["id"] for d in page1["droplets"]] == ids[:2]
    assert "page=2" in page1["links"]["pages"]["next"] and "page=2" in page1["links"]["pages"]["last"]
    page2 = validating_session.get(page1["links"]["pages"]["next"]).json()
    assert [d["id"] for d in page2["droplets"]] == ids[2:]
    assert "page=1" in page2["links"]["pages"]["first"]
    for i in ids + [other]:
        active(validating_session, url, i)
    r = validating_session.delete(f"{url}/v2/droplets", params={"tag_name": "blue"})
    assert r.status_code == 204
    left = validating_session.get(f"{url}/v2/droplets").json()
    assert [d["id"] for d in left["droplets"]] == [other] and left["meta"]["total"] == 1


def test_droplet_create_rejects_what_do_rejects(validating_session, memory_cloud):
    url = memory_cloud.url
    base = {"name": "x1", "region": "nyc3", "size": "s-1vcpu-1gb", "image": "debian-12-x64"}
    for change in ({"size": "s-99vcpu"}, {"image": "windows-95"}, {"region": "mars1"},
                   {"user_data": "x" * (64 * 1024 + 1)}, {"ssh_keys": [12345]}):
        r = validating_session.post(f"{url}/v2/droplets", json={**base, **change})
        assert r.status_code == 422, change
        assert r.json()["id"] == "unprocessable_entity"
    assert validating_session.get(f"{url}/v2/droplets").json()["meta"]["total"] == 0


def test_create_with_ssh_key_passes_the_public_key_to_the_backend(validating_session, memory_cloud):
    url = memory_cloud.url
    key = validating_session.post(f"{url}/v2/account/keys", json={"name": "k", "public_key": ED25519}).json()
    d = create_droplet(validating_session, url, "k1", ssh_keys=[key["ssh_key"]["fingerprint"]])
    active(validating_session, url, d["id"])
    assert memory_cloud.backend.droplets[d["id"]].spec.ssh_public_keys == (ED25519,)


def test_power_off_snapshot_and_create_from_the_snapshot(validating_session, memory_cloud):
    url, s = memory_cloud.url, validating_session
    d = create_droplet(s, url, "packer-build")
    active(s, url, d["id"])
    r = s.post(f"{url}/v2/droplets/{d['id']}/actions", json={"type": "shutdown"})
    assert r.status_code == 201 and r.json()["action"]["status"] == "in-progress"
    assert action_done(s, url, r.json()["action"]["id"])["status"] == "completed"
    assert s.get(f"{url}/v2/droplets/{d['id']}").json()["droplet"]["status"] == "off"
    snap = s.post(f"{url}/v2/droplets/{d['id']}/actions", json={"type": "snapshot", "name": "odoo-18-base"})
    assert action_done(s, url, snap.json()["action"]["id"])["status"] == "completed"
    private = s.get(f"{url}/v2/images", params={"private": "true"}).json()["images"]
    assert [i["name"] for i in private] == ["odoo-18-base"] and private[0]["type"] == "snapshot"
    snapshots = s.get(f"{url}/v2/snapshots", params={"resource_type": "droplet"}).json()["snapshots"]
    assert snapshots[0]["id"] == str(private[0]["id"]) and snapshots[0]["resource_id"] == str(d["id"])
    assert s.get(f"{url}/v2/droplets/{d['id']}").json()["droplet"]["snapshot_ids"] == [private[0]["id"]]
    # Packer's builder finds its snapshot here.
    own = s.get(f"{url}/v2/droplets/{d['id']}/snapshots").json()["snapshots"]
    assert [(x["id"], x["name"]) for x in own] == [(private[0]["id"], "odoo-18-base")]
    actions = s.get(f"{url}/v2/droplets/{d['id']}/actions").json()["actions"]
    assert [a["type"] for a in actions] == ["snapshot", "shutdown", "create"]
    child = create_droplet(s, url, "from-snapshot", image=private[0]["id"])
    active(s, url, child["id"])
    assert memory_cloud.backend.droplets[child["id"]].spec.image_ref.startswith("localcloud/snapshot-")
    on = s.post(f"{url}/v2/droplets/{d['id']}/actions", json={"type": "power_on"})
    assert action_done(s, url, on.json()["action"]["id"])["status"] == "completed"
    assert s.get(f"{url}/v2/droplets/{d['id']}").json()["droplet"]["status"] == "active"
    assert s.delete(f"{url}/v2/snapshots/{private[0]['id']}").status_code == 204
    assert s.get(f"{url}/v2/images/{private[0]['id']}").status_code == 404
    assert s.get(f"{url}/v2/images", params={"private": "true"}).json()["meta"]["total"] == 0


def test_distribution_images_by_slug_and_filters(validating_session, memory_cloud):
    url, s = memory_cloud.url, validating_session
    dist = s.get(f"{url}/v2/images", params={"type": "distribution"}).json()["images"]
    assert [i["slug"] for i in dist] == ["debian-12-x64"]
    img = s.get(f"{url}/v2/images/debian-12-x64").json()["image"]
    assert img["id"] == dist[0]["id"] and img["public"] is True
    assert s.delete(f"{url}/v2/images/{img['id']}").status_code == 422


def test_a_second_droplet_action_while_one_is_pending_gets_422(validating_session, memory_cloud):
    url, s = memory_cloud.url, validating_session
    d = create_droplet(s, url, "busy")
    active(s, url, d["id"])
    faults_of(memory_cloud).slow_actions(1.0, type="reboot", times=1)
    first = s.post(f"{url}/v2/droplets/{d['id']}/actions", json={"type": "reboot"})
    assert first.status_code == 201
    assert s.get(f"{url}/v2/droplets/{d['id']}").json()["droplet"]["locked"] is True
    second = s.post(f"{url}/v2/droplets/{d['id']}/actions", json={"type": "power_off"})
    assert second.status_code == 422 and second.json()["id"] == "unprocessable_entity"
    action_done(s, url, first.json()["action"]["id"])


def test_backend_failure_marks_the_action_errored(validating_session, memory_cloud):
    url, s = memory_cloud.url, validating_session
    d = create_droplet(s, url, "fails")
    active(s, url, d["id"])
    memory_cloud.backend.fail_next.add("power_off")
    r = s.post(f"{url}/v2/droplets/{d['id']}/actions", json={"type": "power_off"})
    assert action_done(s, url, r.json()["action"]["id"])["status"] == "errored"
    assert s.get(f"{url}/v2/droplets/{d['id']}").json()["droplet"]["status"] == "active"


# ---------------------------------------------------------------- reserved IPs


def test_reserved_ip_assign_is_locked_while_pending_then_moves_to_b(validating_session, memory_cloud):
    url, s = memory_cloud.url, validating_session
    a = create_droplet(s, url, "blue")
    b = create_droplet(s, url, "green")
    active(s, url, a["id"])
    active(s, url, b["id"])
    r = s.post(f"{url}/v2/reserved_ips", json={"region": "nyc3"})
    assert r.status_code == 202
    ip = r.json()["reserved_ip"]["ip"]
    assert ip.startswith("127.0.0.") and r.json()["reserved_ip"]["droplet"] is None
    faults_of(memory_cloud).slow_actions(1.0, type="assign_ip", times=1)
    first = s.post(f"{url}/v2/reserved_ips/{ip}/actions", json={"type": "assign", "droplet_id": a["id"]})
    assert first.status_code == 201 and first.json()["action"]["status"] == "in-progress"
    assert s.get(f"{url}/v2/reserved_ips/{ip}").json()["reserved_ip"]["locked"] is True
    meanwhile = s.post(f"{url}/v2/reserved_ips/{ip}/actions", json={"type": "assign", "droplet_id": b["id"]})
    assert meanwhile.status_code == 422 and meanwhile.json()["id"] == "unprocessable_entity"
    done = wait_for(lambda: (x := s.get(f"{url}/v2/reserved_ips/{ip}/actions/{first.json()['action']['id']}")
                             .json()["action"])["status"] == "completed" and x)
    assert done["type"] == "assign_ip"
    got = s.get(f"{url}/v2/reserved_ips/{ip}").json()["reserved_ip"]
    assert got["droplet"]["id"] == a["id"] and got["locked"] is False
    assert memory_cloud.backend.reserved[ip] == a["id"]
    move = s.post(f"{url}/v2/reserved_ips/{ip}/actions", json={"type": "assign", "droplet_id": b["id"]})
    assert action_done(s, url, move.json()["action"]["id"])["status"] == "completed"
    assert s.get(f"{url}/v2/reserved_ips/{ip}").json()["reserved_ip"]["droplet"]["id"] == b["id"]
    assert memory_cloud.backend.reserved[ip] == b["id"]
    assert len(s.get(f"{url}/v2/reserved_ips/{ip}/actions").json()["actions"]) == 2
    un = s.post(f"{url}/v2/reserved_ips/{ip}/actions", json={"type": "unassign"})
    assert action_done(s, url, un.json()["action"]["id"])["status"] == "completed"
    assert memory_cloud.backend.reserved[ip] is None
    assert s.delete(f"{url}/v2/reserved_ips/{ip}").status_code == 204
    assert s.get(f"{url}/v2/reserved_ips").json()["meta"]["total"] == 0


def test_reserved_ip_moves_only_within_its_region(validating_session, memory_cloud):
    url, s = memory_cloud.url, validating_session
    far = create_droplet(s, url, "far", region="ams3")
    active(s, url, far["id"])
    ip = s.post(f"{url}/v2/reserved_ips", json={"region": "nyc3"}).json()["reserved_ip"]["ip"]
    r = s.post(f"{url}/v2/reserved_ips/{ip}/actions", json={"type": "assign", "droplet_id": far["id"]})
    assert r.status_code == 422 and "region" in r.json()["message"]


def test_reserved_ip_created_for_a_droplet_is_assigned_to_it(validating_session, memory_cloud):
    url, s = memory_cloud.url, validating_session
    d = create_droplet(s, url, "web")
    active(s, url, d["id"])
    r = s.post(f"{url}/v2/reserved_ips", json={"droplet_id": d["id"]})
    assert r.status_code == 202
    action_id = r.json()["links"]["actions"][0]["id"]
    assert action_done(s, url, action_id)["status"] == "completed"
    got = s.get(f"{url}/v2/reserved_ips/{r.json()['reserved_ip']['ip']}").json()["reserved_ip"]
    assert got["droplet"]["id"] == d["id"] and got["region"]["slug"] == "nyc3"


# ---------------------------------------------------------------- domains


def test_domains_and_records_with_fqdn_and_type_filters(validating_session, memory_cloud):
    url, s = memory_cloud.url, validating_session
    r = s.post(f"{url}/v2/domains", json={"name": "example.com", "ip_address": "203.0.113.10"})
    assert r.status_code == 201 and r.json()["domain"]["name"] == "example.com"
    assert s.post(f"{url}/v2/domains", json={"name": "example.com"}).status_code == 422
    rec = s.post(f"{url}/v2/domains/example.com/records",
                 json={"type": "A", "name": "erp", "data": "127.0.0.100", "ttl": 60})
    assert rec.status_code == 201
    rid = rec.json()["domain_record"]["id"]
    found = s.get(f"{url}/v2/domains/example.com/records", params={"name": "erp.example.com", "type": "A"})
    assert [x["id"] for x in found.json()["domain_records"]] == [rid]
    apex = s.get(f"{url}/v2/domains/example.com/records", params={"name": "example.com", "type": "A"}).json()
    assert [x["data"] for x in apex["domain_records"]] == ["203.0.113.10"]
    ns = s.get(f"{url}/v2/domains/example.com/records", params={"type": "NS"}).json()
    assert ns["meta"]["total"] == 3
    bad = s.post(f"{url}/v2/domains/example.com/records", json={"type": "A", "name": "x", "data": "nope"})
    assert bad.status_code == 422
    patched = s.patch(f"{url}/v2/domains/example.com/records/{rid}", json={"type": "A", "data": "127.0.0.101"})
    assert patched.json()["domain_record"]["data"] == "127.0.0.101"
    put = s.put(f"{url}/v2/domains/example.com/records/{rid}", json={"type": "A", "name": "erp", "ttl": 120})
    assert put.json()["domain_record"]["ttl"] == 120
    got = s.get(f"{url}/v2/domains/example.com/records/{rid}").json()["domain_record"]
    assert (got["name"], got["data"], got["ttl"]) == ("erp", "127.0.0.101", 120)
    assert "erp.example.com. 120 IN A 127.0.0.101" in s.get(f"{url}/v2/domains/example.com").json()["domain"][
        "zone_file"]
    assert s.delete(f"{url}/v2/domains/example.com/records/{rid}").status_code == 204
    assert s.get(f"{url}/v2/domains/example.com/records/{rid}").status_code == 404
    assert s.get(f"{url}/v2/domains").json()["meta"]["total"] == 1
    assert s.delete(f"{url}/v2/domains/example.com").status_code == 204
    assert s.get(f"{url}/v2/domains/example.com").status_code == 404


# ---------------------------------------------------------------- fault knobs


def test_fault_429_with_retry_after_for_n_requests(validating_session, memory_cloud):
    url, s = memory_cloud.url, validating_session
    faults_of(memory_cloud).http("GET", "/v2/droplets*", 429, times=2, retry_after=7)
    for _ in range(2):
        r = s.get(f"{url}/v2/droplets")
        assert r.status_code == 429 and r.headers["retry-after"] == "7"
        assert r.json()["id"] == "too_many_requests"
    assert s.get(f"{url}/v2/account").status_code == 200  # other paths are untouched
    assert s.get(f"{url}/v2/droplets").status_code == 200


def test_fault_403_a_token_without_the_scope(validating_session, memory_cloud):
    url, s = memory_cloud.url, validating_session
    faults_of(memory_cloud).http("GET", "/v2/images", 403, times=1)
    r = s.get(f"{url}/v2/images?private=true")
    assert r.status_code == 403 and r.json()["id"] == "forbidden"
    assert s.get(f"{url}/v2/images?private=true").status_code == 200


def test_fault_5xx_for_n_requests(validating_session, memory_cloud):
    url, s = memory_cloud.url, validating_session
    faults_of(memory_cloud).http("POST", "/v2/droplets", 500, times=1)
    faults_of(memory_cloud).http("POST", "/v2/droplets", 503, times=1)
    body = {"name": "x", "region": "nyc3", "size": "s-1vcpu-1gb", "image": "debian-12-x64"}
    assert s.post(f"{url}/v2/droplets", json=body).status_code == 500
    r = s.post(f"{url}/v2/droplets", json=body)
    assert r.status_code == 503 and r.json()["id"] == "service_unavailable"
    assert s.post(f"{url}/v2/droplets", json=body).status_code == 202
    assert s.get(f"{url}/v2/droplets").json()["meta"]["total"] == 1  # the faulted POSTs created nothing


def test_pydo_default_retry_resends_a_post_after_429(do_openapi_spec, memory_cloud):
    """Why the builder must control pydo's retries: its default policy re-sends the POST by itself."""
    import pydo
    from azure.core.pipeline.transport import RequestsTransport

    session = ValidatingSession(do_openapi_spec, memory_cloud.cafile)
    transport = RequestsTransport(session=session, session_owner=False, connection_verify=memory_cloud.cafile)
    client = pydo.Client(token=memory_cloud.token, endpoint=memory_cloud.url, transport=transport)
    faults_of(memory_cloud).http("POST", "/v2/account/keys", 429, times=1, retry_after=1)
    key = client.ssh_keys.create({"name": "k", "public_key": ED25519})
    assert key["ssh_key"]["name"] == "k"
    assert session.exchanges == 2 and not session.errors  # 429 then the re-sent POST


def test_fault_slow_actions(validating_session, memory_cloud):
    url, s = memory_cloud.url, validating_session
    d = create_droplet(s, url, "slow")
    active(s, url, d["id"])
    faults_of(memory_cloud).slow_actions(1.5, type="power_off")
    started = time.monotonic()
    r = s.post(f"{url}/v2/droplets/{d['id']}/actions", json={"type": "power_off"})
    assert s.get(f"{url}/v2/actions/{r.json()['action']['id']}").json()["action"]["status"] == "in-progress"
    assert action_done(s, url, r.json()["action"]["id"])["status"] == "completed"
    assert time.monotonic() - started >= 1.5


def test_fault_errored_actions(validating_session, memory_cloud):
    url, s = memory_cloud.url, validating_session
    faults_of(memory_cloud).errored_actions(type="create", times=1)
    d = create_droplet(s, url, "doomed")
    create_action = s.get(f"{url}/v2/droplets/{d['id']}/actions").json()["actions"][0]
    assert action_done(s, url, create_action["id"])["status"] == "errored"
    assert s.get(f"{url}/v2/droplets/{d['id']}").json()["droplet"]["status"] == "new"
    fine = create_droplet(s, url, "fine")  # times=1: the next one is not affected
    active(s, url, fine["id"])


class _TcpService:
    """A real listener standing in for one service, stopped and started through the fault endpoint."""

    def __init__(self) -> None:
        self.port = 0
        self.sock: socket.socket | None = None
        self.calls: list[tuple[str, bool]] = []

    def set_state(self, service: str, running: bool) -> None:
        self.calls.append((service, running))
        if running and self.sock is None:
            self.sock = socket.create_server(("127.0.0.1", self.port))
            self.port = self.sock.getsockname()[1]
        elif not running and self.sock is not None:
            self.sock.close()
            self.sock = None

    def answers(self) -> bool:
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
            return True
        except OSError:
            return False


def test_fault_stop_and_start_a_service(tmp_path: Path, spec_observer):
    svc = _TcpService()
    svc.set_state("spaces", True)
    cloud = start_memory_cloud(tmp_path / "lc", services=svc, observer=spec_observer)
    try:
        fc = faults_of(cloud)
        assert fc.stop_service("spaces") == {"kind": "service", "service": "spaces", "state": "stopped"}
        assert not svc.answers()
        fc.start_service("spaces")
        assert svc.answers()
        assert svc.calls[-2:] == [("spaces", False), ("spaces", True)]
    finally:
        cloud.server.stop()
        svc.set_state("spaces", False)


def test_fault_endpoint_needs_the_token_and_a_sane_fault(memory_cloud):
    import urllib.error

    with pytest.raises(urllib.error.HTTPError) as e:
        FaultClient(memory_cloud.url, "wrong", memory_cloud.cafile).listing()
    assert e.value.code == 401
    with pytest.raises(urllib.error.HTTPError) as e:
        faults_of(memory_cloud).http("GET", "/v2/droplets", 418)
    assert e.value.code == 422
    fc = faults_of(memory_cloud)
    fc.http("GET", "/v2/droplets", 500, times=3)
    assert fc.listing()["http"][0]["remaining"] == 3
    assert fc.clear() == {"http": [], "actions": []}


def test_fault_book_consumes_matching_faults_only():
    book = FaultBook()
    book.add({"kind": "http", "method": "post", "path": "/v2/reserved_ips/*/actions", "status": 503, "times": 1})
    assert book.take_http("GET", "/v2/reserved_ips/127.0.0.100/actions") is None
    assert book.take_http("POST", "/v2/reserved_ips/127.0.0.100/actions").status == 503
    assert book.take_http("POST", "/v2/reserved_ips/127.0.0.100/actions") is None
    book.add({"kind": "action", "type": "snapshot", "delay": 2, "times": None})
    assert book.take_action("snapshot").delay == 2 and book.take_action("snapshot").delay == 2
    assert book.take_action("power_off").delay == 0


# ---------------------------------------------------------------- persistence


def test_state_survives_a_server_restart(tmp_path: Path, do_openapi_spec, spec_observer):
    home = tmp_path / "lc"
    first = start_memory_cloud(home, observer=spec_observer)
    s = ValidatingSession(do_openapi_spec, first.cafile, first.token)
    url = first.url
    key = s.post(f"{url}/v2/account/keys", json={"name": "k", "public_key": ED25519}).json()["ssh_key"]
    d = create_droplet(s, url, "keeper", tags=["t"])
    active(s, url, d["id"])
    ip = s.post(f"{url}/v2/reserved_ips", json={"droplet_id": d["id"]}).json()["reserved_ip"]["ip"]
    s.post(f"{url}/v2/domains", json={"name": "example.org"})
    snap = s.post(f"{url}/v2/droplets/{d['id']}/actions", json={"type": "snapshot", "name": "keep-me"})
    action_done(s, url, snap.json()["action"]["id"])
    first.server.cloud.wait_idle()
    first.server.stop()

    # Same home, same backend (the containers outlive the API server); a new port and process state.
    second = start_memory_cloud(home, first.backend, observer=spec_observer)
    try:
        s2 = ValidatingSession(do_openapi_spec, second.cafile, second.token)
        url2 = second.url
        assert second.token == first.token
        got = s2.get(f"{url2}/v2/droplets/{d['id']}").json()["droplet"]
        assert got["status"] == "active" and got["networks"]["v4"][0]["ip_address"] == \
            first.backend.droplets[d["id"]].ipv4
        assert s2.get(f"{url2}/v2/account/keys/{key['id']}").status_code == 200
        assert s2.get(f"{url2}/v2/reserved_ips/{ip}").json()["reserved_ip"]["droplet"]["id"] == d["id"]
        assert s2.get(f"{url2}/v2/domains/example.org").status_code == 200
        assert [i["name"] for i in s2.get(f"{url2}/v2/images", params={"private": "true"}).json()["images"]] \
            == ["keep-me"]
        newer = create_droplet(s2, url2, "newer")
        assert newer["id"] > d["id"]
        assert not s.errors and not s2.errors
    finally:
        second.server.stop()


def test_concurrent_creates_get_distinct_ids_and_addresses(validating_session, memory_cloud):
    url, s = memory_cloud.url, validating_session
    results: list[int] = []

    def make(i: int) -> None:
        results.append(create_droplet(s, url, f"par-{i}")["id"])

    threads = [threading.Thread(target=make, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert len(set(results)) == 6
    ips = {active(s, url, i)["networks"]["v4"][0]["ip_address"] for i in results}
    assert len(ips) == 6


def test_the_spec_validator_rejects_a_wrong_droplet_shape(do_openapi_spec):
    """The validation above can fail: a droplet missing required fields does not pass."""
    import json

    from openapi_core.testing import MockRequest, MockResponse

    req = MockRequest("https://api.digitalocean.com", "get", "/v2/droplets/1",
                      headers={"Authorization": "Bearer x"})
    bad = MockResponse(json.dumps({"droplet": {"id": 1, "name": "x", "status": "running"}}).encode())
    assert list(do_openapi_spec.iter_response_errors(req, bad))


def test_deleting_a_droplet_releases_its_reserved_ip_even_mid_assign(validating_session, memory_cloud):
    url, s = memory_cloud.url, validating_session
    d = create_droplet(s, url, "short-lived")
    active(s, url, d["id"])
    ip = s.post(f"{url}/v2/reserved_ips", json={"region": "nyc3"}).json()["reserved_ip"]["ip"]
    faults_of(memory_cloud).slow_actions(1.0, type="assign_ip", times=1)
    act = s.post(f"{url}/v2/reserved_ips/{ip}/actions", json={"type": "assign", "droplet_id": d["id"]}).json()
    assert s.delete(f"{url}/v2/droplets/{d['id']}").status_code == 204
    action_done(s, url, act["action"]["id"])
    assert s.get(f"{url}/v2/reserved_ips/{ip}").json()["reserved_ip"]["droplet"] is None
    wait_for(lambda: memory_cloud.backend.reserved.get(ip, "unset") is None)


def test_create_several_droplets_at_once_and_list_all_actions(validating_session, memory_cloud):
    url, s = memory_cloud.url, validating_session
    r = s.post(f"{url}/v2/droplets", json={"names": ["multi-a", "multi-b"], "region": "nyc3",
                                           "size": "s-1vcpu-1gb", "image": "debian-12-x64"})
    assert r.status_code == 202
    body = r.json()
    assert [d["name"] for d in body["droplets"]] == ["multi-a", "multi-b"]
    assert all(d["status"] == "new" for d in body["droplets"])
    assert len(body["links"]["actions"]) == 2
    for d in body["droplets"]:
        active(s, url, d["id"])
    actions = s.get(f"{url}/v2/actions").json()
    assert actions["meta"]["total"] == 2 and {a["type"] for a in actions["actions"]} == {"create"}


def _snapshot_of_a_droplet(s: ValidatingSession, url: str, name: str) -> tuple[int, int]:
    d = create_droplet(s, url, f"{name}-build", tags=["build"])
    active(s, url, d["id"])
    off = s.post(f"{url}/v2/droplets/{d['id']}/actions", json={"type": "power_off"})
    assert action_done(s, url, off.json()["action"]["id"])["status"] == "completed"
    snap = s.post(f"{url}/v2/droplets/{d['id']}/actions", json={"type": "snapshot", "name": name})
    assert action_done(s, url, snap.json()["action"]["id"])["status"] == "completed"
    image = next(i for i in s.get(f"{url}/v2/images", params={"private": "true"}).json()["images"]
                 if i["name"] == name)
    return d["id"], image["id"]


def test_tags_create_assign_to_an_image_filter_images_and_untag(validating_session, memory_cloud):
    url, s = memory_cloud.url, validating_session
    droplet_id, image_id = _snapshot_of_a_droplet(s, url, "odoo-demo-1.0.0-abc")
    _, other_image = _snapshot_of_a_droplet(s, url, "odoo-demo-0.9.0-def")
    r = s.post(f"{url}/v2/tags", json={"name": "odoo-demo-snapshot"})
    assert r.status_code == 201 and r.json()["tag"]["name"] == "odoo-demo-snapshot"
    assert r.json()["tag"]["resources"]["count"] == 0
    # Creating it again is harmless (what the builder relies on when it re-tags).
    assert s.post(f"{url}/v2/tags", json={"name": "odoo-demo-snapshot"}).status_code == 201
    r = s.post(f"{url}/v2/tags/odoo-demo-snapshot/resources",
               json={"resources": [{"resource_id": str(image_id), "resource_type": "image"}]})
    assert r.status_code == 204
    assert s.get(f"{url}/v2/images/{image_id}").json()["image"]["tags"] == ["odoo-demo-snapshot"]
    tagged = s.get(f"{url}/v2/images", params={"tag_name": "odoo-demo-snapshot"}).json()
    assert [i["id"] for i in tagged["images"]] == [image_id] and tagged["meta"]["total"] == 1
    assert other_image not in [i["id"] for i in tagged["images"]]
    tag = s.get(f"{url}/v2/tags/odoo-demo-snapshot").json()["tag"]
    assert tag["resources"]["count"] == 1 and tag["resources"]["images"]["count"] == 1
    assert tag["resources"]["images"]["last_tagged_uri"].endswith(f"/v2/images/{image_id}")
    assert tag["resources"]["droplets"]["count"] == 0
    # Tagging twice keeps one tag on the image.
    s.post(f"{url}/v2/tags/odoo-demo-snapshot/resources",
           json={"resources": [{"resource_id": str(image_id), "resource_type": "image"}]})
    assert s.get(f"{url}/v2/images/{image_id}").json()["image"]["tags"] == ["odoo-demo-snapshot"]
    r = s.delete(f"{url}/v2/tags/odoo-demo-snapshot/resources",
                 json={"resources": [{"resource_id": str(image_id), "resource_type": "image"}]})
    assert r.status_code == 204
    assert s.get(f"{url}/v2/images", params={"tag_name": "odoo-demo-snapshot"}).json()["images"] == []
    assert s.get(f"{url}/v2/images/{image_id}").json()["image"]["tags"] == []
    assert droplet_id  # the build droplet is untouched by image tags
    assert s.get(f"{url}/v2/droplets/{droplet_id}").json()["droplet"]["tags"] == ["build"]


def test_tags_on_droplets_list_and_delete_untags_everything(validating_session, memory_cloud):
    url, s = memory_cloud.url, validating_session
    d = create_droplet(s, url, "web-1", tags=["web"])
    _, image_id = _snapshot_of_a_droplet(s, url, "snap-for-tags")
    # A droplet's create-time tags exist as tags, as on DigitalOcean.
    names = [t["name"] for t in s.get(f"{url}/v2/tags").json()["tags"]]
    assert "web" in names and "build" in names
    s.post(f"{url}/v2/tags", json={"name": "blue:v2"})
    r = s.post(f"{url}/v2/tags/blue:v2/resources",
               json={"resources": [{"resource_id": str(d["id"]), "resource_type": "droplet"},
                                   {"resource_id": str(image_id), "resource_type": "image"}]})
    assert r.status_code == 204
    listed = s.get(f"{url}/v2/droplets", params={"tag_name": "blue:v2"}).json()["droplets"]
    assert [x["id"] for x in listed] == [d["id"]]
    tag = s.get(f"{url}/v2/tags/blue:v2").json()["tag"]
    assert tag["resources"]["count"] == 2 and tag["resources"]["droplets"]["count"] == 1
    page = s.get(f"{url}/v2/tags", params={"per_page": 1}).json()
    assert len(page["tags"]) == 1 and page["meta"]["total"] == len(names) + 1
    assert s.delete(f"{url}/v2/tags/blue:v2").status_code == 204
    assert s.get(f"{url}/v2/tags/blue:v2").status_code == 404
    assert s.get(f"{url}/v2/droplets/{d['id']}").json()["droplet"]["tags"] == ["web"]
    assert s.get(f"{url}/v2/images/{image_id}").json()["image"]["tags"] == []


def test_tags_refuse_what_do_refuses(validating_session, memory_cloud, spec_observer):
    url, s = memory_cloud.url, validating_session
    d = create_droplet(s, url, "web-2")
    # A name the spec's own pattern refuses: sent around the validating session (the request is meant
    # to be invalid); the answer is DO's error shape.
    bad = requests.post(f"{url}/v2/tags", json={"name": "has space"}, verify=memory_cloud.cafile,
                        headers={"Authorization": f"Bearer {memory_cloud.token}"}, timeout=10)
    assert bad.status_code == 422 and set(bad.json()) == {"id", "message", "request_id"}
    # The server-side observer saw it too: the request (only) is off-spec, as intended.
    assert len(spec_observer.errors) == 1 and "request:" in spec_observer.errors[0]
    assert "response:" not in spec_observer.errors[0]
    spec_observer.errors.clear()
    assert [t["name"] for t in s.get(f"{url}/v2/tags").json()["tags"]] == []
    missing = s.post(f"{url}/v2/tags/nope/resources",
                     json={"resources": [{"resource_id": str(d["id"]), "resource_type": "droplet"}]})
    assert missing.status_code == 404 and missing.json()["id"] == "not_found"
    s.post(f"{url}/v2/tags", json={"name": "ok"})
    unknown = s.post(f"{url}/v2/tags/ok/resources",
                     json={"resources": [{"resource_id": "999999", "resource_type": "image"}]})
    assert unknown.status_code == 404
    base = s.get(f"{url}/v2/images/debian-12-x64").json()["image"]["id"]
    public = s.post(f"{url}/v2/tags/ok/resources",
                    json={"resources": [{"resource_id": str(base), "resource_type": "image"}]})
    assert public.status_code == 404  # DO's public images are not the account's to tag
    assert s.get(f"{url}/v2/tags/ok").json()["tag"]["resources"]["count"] == 0
    assert s.delete(f"{url}/v2/tags/nope").status_code == 404


def test_pydo_tags_an_image_as_the_image_command_does(pydo_client, memory_cloud, do_openapi_spec):
    from builder.doclient import Cloud

    s = ValidatingSession(do_openapi_spec, memory_cloud.cafile, memory_cloud.token)
    _, image_id = _snapshot_of_a_droplet(s, memory_cloud.url, "odoo-demo-1.0.0-fff")
    cloud = Cloud(pydo_client, say=lambda _: None)
    cloud.tag_image("odoo-droplet-snapshot", image_id)
    cloud.tag_image("odoo-droplet-snapshot", image_id)  # again: harmless
    listed = pydo_client.images.list(tag_name="odoo-droplet-snapshot")["images"]
    assert [i["id"] for i in listed] == [image_id] and listed[0]["tags"] == ["odoo-droplet-snapshot"]
    assert not s.errors, "\n".join(s.errors)


def test_local_up_keeps_the_demo_zone_and_the_agent_moves_its_record(validating_session, memory_cloud):
    """`local up` makes the zone examples/deploy.yaml names (once); the droplet agent's client then creates
    the A record, updates it in place when the reserved IP changes, and leaves it when it is right."""
    import ssl

    import yaml

    from firstboot.doapi import DoApi
    from localcloud.control import DEMO_ZONES, ensure_zones

    s, url = validating_session, memory_cloud.url
    example = yaml.safe_load((Path(__file__).resolve().parents[2] / "examples/deploy.yaml").read_text())
    zone = example["dns"]["domain"]
    assert zone in DEMO_ZONES

    def call(method: str, path: str, body: dict | None) -> tuple[int, Any]:
        r = s.request(method, f"{url}{path}", json=body)
        return r.status_code, r.json() if r.content else None

    assert ensure_zones(call) == list(DEMO_ZONES)
    assert ensure_zones(call) == []  # idempotent: `local up` again creates nothing
    assert s.get(f"{url}/v2/domains/{zone}").status_code == 200

    api = DoApi(url, memory_cloud.token, ssl_context=ssl.create_default_context(cafile=str(memory_cloud.cafile)),
                sleep=lambda seconds: None)
    record = example["dns"]["record"]
    assert api.upsert_a_record(zone, record, "127.0.0.100").action == "create"
    assert api.upsert_a_record(zone, record, "127.0.0.100").action == "none"
    assert api.upsert_a_record(zone, record, "127.0.0.101").action == "update"
    found = s.get(f"{url}/v2/domains/{zone}/records", params={"type": "A", "name": f"{record}.{zone}"}).json()
    assert [(r["name"], r["data"], r["ttl"]) for r in found["domain_records"]] == [(record, "127.0.0.101", 60)]
