"""The local cloud's registry (GHCR stand-in, TLS from the local CA) and Spaces (S3 stand-in), with their
fault knobs: what a client sees when they are stopped and started again.

These use the machine's local-cloud services (ports 5000 and 9000 are fixed by the design), start them if
needed and leave them running at teardown, as `odoo-droplet local up` would.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import ssl
import stat
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import EndpointConnectionError

from localcloud import ca, services
from localcloud.home import Home
from localcloud.network import NETWORK

pytestmark = pytest.mark.integration

HOME = Home.from_env()  # the machine's local cloud, as `odoo-droplet local up` uses it


def docker(*args: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    res = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout, check=False)
    if check and res.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)} -> {res.returncode}\n{res.stdout}\n{res.stderr}")
    return res


def registry_get(
    addr: str, path: str, cafile: str | None, method: str = "GET", headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str]]:
    ctx = ssl.create_default_context(cafile=cafile)
    req = urllib.request.Request(f"https://{addr}{path}", method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=10) as r:
            return r.status, dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers)


# ---------------------------------------------------------------------------------------------- registry


@pytest.fixture
def pushed_standin() -> Iterator[str]:
    """A stand-in image pushed to the registry under a repository of its own (deleted at teardown)."""
    services.ensure_registry(HOME)
    source = f"{NETWORK.registry}/redis:{services.REDIS_TAG}"
    if not services.image_exists(source):
        services.build_standin_images(HOME)
    repo = f"odl-test-{secrets.token_hex(4)}/redis"
    ref = f"{NETWORK.loopback_registry}/{repo}:7"
    docker("tag", source, ref)
    try:
        docker("push", ref)
        yield ref
    finally:
        services.ensure_registry(HOME)
        cafile = str(ca.ca_files(HOME).ca_cert)
        accept = "application/vnd.docker.distribution.manifest.v2+json"
        status, headers = registry_get(
            NETWORK.loopback_registry, f"/v2/{repo}/manifests/7", cafile, "HEAD", {"Accept": accept}
        )
        if status == 200:
            registry_get(
                NETWORK.loopback_registry, f"/v2/{repo}/manifests/{headers['Docker-Content-Digest']}", cafile, "DELETE"
            )
        # The registry API deletes manifests, not repository names: drop the test's repository from storage.
        shutil.rmtree(
            HOME.registry_storage / "docker/registry/v2/repositories" / repo.split("/")[0], ignore_errors=True
        )
        docker("rmi", ref, check=False)


def test_registry_speaks_tls_with_the_local_ca_only() -> None:
    info = services.ensure_registry(HOME)
    cafile = str(ca.ca_files(HOME).ca_cert)
    assert registry_get(NETWORK.loopback_registry, "/v2/", cafile)[0] == 200
    with pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED"):
        registry_get(NETWORK.loopback_registry, "/v2/", None)  # the system store alone does not trust it
    if services.gateway_up(NETWORK):  # the odl-cloud bridge exists: the droplets' address answers too
        assert NETWORK.registry in info["addresses"]
        assert registry_get(NETWORK.registry, "/v2/", cafile)[0] == 200
    # Idempotent: a second ensure keeps the same processes.
    assert services.ensure_registry(HOME)["pids"] == info["pids"]


def test_registry_push_pull_and_the_unreachable_knob(pushed_standin: str) -> None:
    ref = pushed_standin
    docker("rmi", ref)
    docker("pull", ref)  # over TLS: the host's Docker trusts the CA through /etc/docker/certs.d
    assert services.image_exists(ref)
    docker("rmi", ref)

    services.stop_registry(HOME)
    failed = docker("pull", ref, check=False)
    assert failed.returncode != 0
    assert "connection refused" in failed.stderr.lower(), failed.stderr
    assert not any(services.status(HOME)["registry"]["reachable"].values())

    services.ensure_registry(HOME)
    docker("pull", ref)
    assert services.image_exists(ref)
    if services.gateway_up(NETWORK):
        gw_ref = ref.replace(NETWORK.loopback_registry, NETWORK.registry)
        docker("pull", gw_ref)  # the same storage behind the droplets' address
        docker("rmi", gw_ref, check=False)


# ---------------------------------------------------------------------------------------------- spaces


@pytest.fixture
def bucket() -> Iterator[tuple[object, str]]:
    services.ensure_spaces(HOME)
    creds = services.spaces_credentials(HOME)
    s3 = boto3.client(
        "s3",
        endpoint_url=NETWORK.loopback_spaces_endpoint,
        aws_access_key_id=creds["SPACES_KEY"],
        aws_secret_access_key=creds["SPACES_SECRET"],
        region_name="nyc3",
        config=Config(retries={"max_attempts": 1, "mode": "standard"}, connect_timeout=2, read_timeout=10),
    )
    name = f"odl-test-{secrets.token_hex(4)}"
    # As against DigitalOcean: no LocationConstraint, the bucket lands in the endpoint's region.
    s3.create_bucket(Bucket=name)
    assert s3.get_bucket_location(Bucket=name)["LocationConstraint"] == "nyc3"
    try:
        yield s3, name
    finally:
        services.ensure_spaces(HOME)
        for obj in s3.list_objects_v2(Bucket=name).get("Contents", []):
            s3.delete_object(Bucket=name, Key=obj["Key"])
        s3.delete_bucket(Bucket=name)


def test_spaces_credentials_are_generated_once_and_private() -> None:
    first = services.spaces_credentials(HOME)
    assert first == services.spaces_credentials(HOME)
    assert first["SPACES_KEY"].startswith("DO00") and len(first["SPACES_SECRET"]) >= 40
    path = HOME.spaces_credentials
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_spaces_put_get_and_the_down_knob_keeps_data(bucket: tuple[object, str]) -> None:
    s3, name = bucket
    body = json.dumps({"deploy_id": "deploy-20260101-000000", "status": "success"}).encode()
    s3.put_object(Bucket=name, Key="proofs/before.json", Body=body)
    assert s3.get_object(Bucket=name, Key="proofs/before.json")["Body"].read() == body

    services.stop_spaces(HOME)
    with pytest.raises(EndpointConnectionError):
        s3.put_object(Bucket=name, Key="proofs/during.json", Body=b"{}")
    assert not any(services.status(HOME)["spaces"]["reachable"].values())

    services.ensure_spaces(HOME)
    assert s3.get_object(Bucket=name, Key="proofs/before.json")["Body"].read() == body  # nothing lost
    s3.put_object(Bucket=name, Key="proofs/after.json", Body=b"{}")
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=name)["Contents"]}
    assert keys == {"proofs/before.json", "proofs/after.json"}
    if services.gateway_up(NETWORK):  # the droplets' endpoint serves the same data
        creds = services.spaces_credentials(HOME)
        gw = boto3.client(
            "s3",
            endpoint_url=NETWORK.spaces_endpoint,
            region_name="nyc3",
            aws_access_key_id=creds["SPACES_KEY"],
            aws_secret_access_key=creds["SPACES_SECRET"],
        )
        assert gw.get_object(Bucket=name, Key="proofs/before.json")["Body"].read() == body
