"""The pure parts of localcloud.docker_backend: names, addresses, seeds, metadata documents, docker args."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from localcloud import docker_backend as db
from localcloud.backend import BackendError, DropletSpec
from localcloud.network import NETWORK

SPEC = DropletSpec(
    id=4242, name="Odoo_Blue.example", region="ams3", size_slug="s-2vcpu-4gb", vcpus=2, memory_mb=4096,
    disk_gb=80, image_ref="debian-12-x64", user_data=None, ssh_public_keys=("ssh-ed25519 AAAA k1",),
    tags=("odoo", "blue"),
)  # fmt: skip


def test_host_numbers_fill_gaps_and_run_out() -> None:
    assert db.pick_host([]) == NETWORK.host_min
    assert db.pick_host([10, 11, 13]) == 12
    with pytest.raises(BackendError):
        db.pick_host(range(NETWORK.host_min, NETWORK.host_max + 1))
    assert NETWORK.cloud_address(12) == "10.213.0.12" and NETWORK.metadata_address(12) == "169.254.169.12"


def test_hostname_is_a_valid_label() -> None:
    assert db.hostname_for("Odoo_Blue.example") == "odoo-blue-example"
    assert db.hostname_for("___") == "droplet"
    assert len(db.hostname_for("x" * 100)) == 63


def test_snapshot_refs_are_valid_docker_names() -> None:
    assert db.snapshot_ref("Odoo 18 / CE", 7, 123) == "odl/snapshot-odoo-18-ce:7-123"
    assert db.snapshot_ref("!!!", 7, 1) == "odl/snapshot-snapshot:7-1"


def test_nocloud_seed() -> None:
    meta = yaml.safe_load(db.render_meta_data(SPEC))
    assert meta == {
        "instance-id": "4242",
        "local-hostname": "odoo-blue-example",
        "public-keys": ["ssh-ed25519 AAAA k1"],
    }
    assert db.render_user_data(None).startswith("#cloud-config\n")
    assert yaml.safe_load(db.render_user_data(None)) == {}
    assert db.render_user_data("#!/bin/sh\necho hi\n") == "#!/bin/sh\necho hi\n"


def test_metadata_document_has_digitaloceans_fields() -> None:
    doc = db.metadata_document(SPEC, "10.213.0.12")
    assert doc["droplet_id"] == 4242 and doc["hostname"] == "Odoo_Blue.example" and doc["region"] == "ams3"
    assert doc["interfaces"]["public"][0]["ipv4"] == {
        "ip_address": "10.213.0.12", "netmask": "255.255.255.0", "gateway": "10.213.0.1"}  # fmt: skip
    assert doc["reserved_ip"] == {"ipv4": {"active": False}}
    assert "user_data" not in doc  # none given: /metadata/v1/user-data is a 404, as on DO
    moved = db.with_reserved_ip(doc, "127.0.0.100")
    assert moved["reserved_ip"] == {"ipv4": {"active": True, "ip_address": "127.0.0.100"}}
    assert moved["floating_ip"] == moved["reserved_ip"]
    assert doc["reserved_ip"] == {"ipv4": {"active": False}}  # not mutated
    json.dumps(moved)


def test_limits_are_clamped_to_the_machine() -> None:
    assert db.clamp_limits(4, 8192, host_cpus=2, host_memory_mb=24000) == ("2", "8192m")
    assert db.clamp_limits(1, 512, host_cpus=2, host_memory_mb=24000) == ("1", "512m")
    assert db.clamp_limits(8, 65536, host_cpus=2, host_memory_mb=4000) == ("2", "4000m")


def test_create_args_run_systemd_without_privileged() -> None:
    args = db.create_args(SPEC, 12, db.BASE_IMAGE, Path("/x/seeds/4242"), "odl-droplet-4242-docker", "2", "4096m")
    joined = " ".join(args)
    assert "--privileged" not in args
    for flag in ("--cap-add=ALL", "--cap-drop=SYS_RESOURCE", "seccomp=unconfined", "apparmor=unconfined",
                 "systempaths=unconfined", "--cgroupns=host", "/sys/fs/cgroup:/sys/fs/cgroup:rw"):  # fmt: skip
        assert flag in joined
    assert args[args.index("--stop-signal") + 1] == "SIGRTMIN+3"
    assert args[args.index("--name") + 1] == "odl-droplet-4242"
    assert args[args.index("--hostname") + 1] == "odoo-blue-example"
    assert args[args.index("--ip") + 1] == "10.213.0.12" and args[args.index("--network") + 1] == "odl-cloud"
    assert "odl-droplet-4242-docker:/var/lib/docker" in args
    assert "/x/seeds/4242:/var/lib/cloud/seed/nocloud:ro" in args
    assert args[-1] == db.BASE_IMAGE


def test_only_an_in_guest_reboot_restarts_a_droplet() -> None:
    assert db.reboot_requested("odl-droplet-4242 129\n") == "odl-droplet-4242"
    assert db.reboot_requested("odl-droplet-4242 130\n") is None  # poweroff inside
    assert db.reboot_requested("odl-droplet-4242 0\n") is None
    assert db.reboot_requested("odl-droplet-4242 137\n") is None  # docker stop's SIGKILL
    assert db.reboot_requested("someone-else 129\n") is None


def test_inner_engine_uses_the_hosts_reachable_resolvers() -> None:
    resolv = "# generated\nnameserver 127.0.0.53\nnameserver 10.255.255.53\nnameserver ::1\nsearch x\n"
    assert db.host_nameservers(resolv) == ["10.255.255.53"]
    template = '{"exec-opts": ["native.cgroupdriver=systemd"]}'
    config = json.loads(db.inner_daemon_json(template, resolv))
    assert config == {"exec-opts": ["native.cgroupdriver=systemd"], "dns": ["10.255.255.53"]}
    assert "dns" not in json.loads(db.inner_daemon_json(template, "nameserver 127.0.0.53\n"))
