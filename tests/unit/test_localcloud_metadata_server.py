"""localcloud/metadata/server.py: DigitalOcean's metadata paths over a droplet's v1.json document."""

from __future__ import annotations

import json

from localcloud import docker_backend as db
from localcloud.backend import DropletSpec
from localcloud.metadata.server import resolve

SPEC = DropletSpec(
    id=77, name="web-1", region="fra1", size_slug="s-1vcpu-1gb", vcpus=1, memory_mb=1024, disk_gb=25,
    image_ref="x", user_data="#cloud-config\n{}\n", ssh_public_keys=("k1", "k2"), tags=("a",),
)  # fmt: skip
DOC = db.with_reserved_ip(db.metadata_document(SPEC, "10.213.0.20"), "127.0.0.101")


def body(path: str) -> str:
    status, _, text = resolve(DOC, path)
    assert status == 200, path
    return text


def test_digitalocean_paths() -> None:
    assert body("/metadata/v1/id") == "77"
    assert body("/metadata/v1/hostname") == "web-1"
    assert body("/metadata/v1/region") == "fra1"
    assert body("/metadata/v1/user-data") == "#cloud-config\n{}\n"
    assert body("/metadata/v1/public-keys") == "k1\nk2"
    assert body("/metadata/v1/interfaces/public/0/ipv4/address") == "10.213.0.20"
    assert body("/metadata/v1/interfaces/public/0/ipv4/gateway") == "10.213.0.1"
    assert body("/metadata/v1/reserved_ip/ipv4/active") == "true"
    assert body("/metadata/v1/reserved_ip/ipv4/ip_address") == "127.0.0.101"
    assert body("/metadata/v1/tags/") == "a"


def test_directories_list_their_entries() -> None:
    index = body("/metadata/v1/").splitlines()
    assert {"id", "hostname", "user-data", "public-keys", "region", "interfaces/", "reserved_ip/"} <= set(index)
    assert body("/metadata/v1/interfaces/") == "public/"
    assert body("/metadata/v1/interfaces/public/") == "0/"
    assert "address" in body("/metadata/v1/interfaces/public/0/ipv4/").splitlines()


def test_json_document_and_404s() -> None:
    status, ctype, text = resolve(DOC, "/metadata/v1.json")
    assert (status, ctype) == (200, "application/json") and json.loads(text)["droplet_id"] == 77
    for path in ("/metadata/v1/nope", "/metadata/v1/interfaces/public/9/ipv4", "/latest/meta-data/", "/"):
        assert resolve(DOC, path)[0] == 404, path
    no_reserved = db.metadata_document(SPEC, "10.213.0.20")
    assert resolve(no_reserved, "/metadata/v1/reserved_ip/ipv4/active")[2] == "false"
    assert resolve(no_reserved, "/metadata/v1/reserved_ip/ipv4/ip_address")[0] == 404
