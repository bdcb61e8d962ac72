"""The local DO API on the real Docker backend, driven the way the builder drives DigitalOcean: pydo with an
endpoint and the local CA. Every exchange is validated against DigitalOcean's spec (client side through
the validating session, server side through the observer).

- pydo creates a droplet with user-data → new → active with an IPv4; cloud-init finishes with the
  user-data's write_files and runcmd applied; the metadata service gives the same id; delete removes it.
- A reserved IP created through the API reaches droplet A over HTTPS; an assign to B is in progress
  (slowed by the fault knob) and a second action meanwhile gets 422; once it completes, HTTPS reaches B.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import ssl
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from localcloud import docker_backend as db
from localcloud.api import ApiServer
from localcloud.ca import ensure_ca, make_server_cert
from localcloud.state import empty_state
from tests.localcloud_support import SpecObserver, ValidatingSession, do_openapi

from .conftest import poll

pytestmark = pytest.mark.e2e

# Kept clear of a running `local up` (its reserved IPs start at .100) and of test_droplets.py (.250).
RESERVED_RANGE = (230, 245)


@pytest.fixture(scope="module")
def api_on_docker(tmp_path_factory: pytest.TempPathFactory, docker_backend: db.DockerBackend
                  ) -> Iterator[tuple[ApiServer, SpecObserver]]:  # fmt: skip
    home = tmp_path_factory.mktemp("api-docker")
    state = empty_state()
    # Droplet ids far from `local up`'s and from the other e2e modules' (they share the engine's names).
    state["counters"] = {"droplet": 6_000_000 + (os.getpid() % 10_000) * 100}
    (home / "state.json").write_text(json.dumps(state))
    observer = SpecObserver(do_openapi())
    server = ApiServer(home, docker_backend, "127.0.0.1", 0, observer=observer, reserved_range=RESERVED_RANGE).start()
    yield server, observer
    server.cloud.wait_idle(60)
    # Whatever a failed test left behind: containers, forwarders.
    for r in list(server.state.coll("reserved_ips").values()):
        docker_backend.set_reserved_ip(r["ip"], None, None)
    for d in list(server.state.coll("droplets").values()):
        docker_backend.delete_droplet(d["id"])
    server.stop()
    assert not observer.errors, "\n".join(observer.errors)


@pytest.fixture(scope="module")
def session(api_on_docker) -> Iterator[ValidatingSession]:
    server, _ = api_on_docker
    s = ValidatingSession(do_openapi(), str(server.ca.ca_cert), server.token)
    yield s
    assert not s.errors, "\n".join(s.errors)


@pytest.fixture(scope="module")
def pydo_on_docker(api_on_docker) -> Any:
    import pydo
    from azure.core.pipeline.transport import RequestsTransport

    server, _ = api_on_docker
    session = ValidatingSession(do_openapi(), str(server.ca.ca_cert))
    client = pydo.Client(
        token=server.token,
        endpoint=server.url,
        retry_total=0,
        transport=RequestsTransport(session=session, session_owner=False, connection_verify=str(server.ca.ca_cert)),
    )
    client.validating_session = session
    yield client
    assert not session.errors, "\n".join(session.errors)


def in_droplet(droplet_id: int, *argv: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return db.droplet_exec(droplet_id, argv, timeout=timeout)


USER_DATA = """#cloud-config
write_files:
  - path: /etc/odl-api-e2e/hello.txt
    content: "written through the API\\n"
runcmd:
  - [sh, -c, "wc -c < /etc/odl-api-e2e/hello.txt > /root/runcmd.out"]
"""


def test_pydo_droplet_with_user_data_boots_and_is_deleted(pydo_on_docker, api_on_docker, ssh_keypair,
                                                          timings: dict[str, float]) -> None:  # fmt: skip
    client = pydo_on_docker
    _, public_key = ssh_keypair
    key = client.ssh_keys.create({"name": "api-e2e", "public_key": public_key})["ssh_key"]
    start = time.monotonic()
    created = client.droplets.create({"name": "api-e2e-1", "region": "nyc3", "size": "s-1vcpu-1gb",
                                      "image": "debian-12-x64", "user_data": USER_DATA,
                                      "ssh_keys": [key["id"]], "tags": ["api-e2e"]})  # fmt: skip
    droplet_id = created["droplet"]["id"]
    assert created["droplet"]["status"] == "new"

    def active() -> dict[str, Any] | None:
        d = client.droplets.get(droplet_id)["droplet"]
        return d if d["status"] == "active" else None

    droplet = poll(active, 240, "the droplet to become active")
    timings["API droplet create -> active"] = time.monotonic() - start
    ipv4 = [n["ip_address"] for n in droplet["networks"]["v4"] if n["type"] == "public"]
    assert ipv4 and ipv4[0].startswith("10.213.0.")
    status = in_droplet(droplet_id, "cloud-init", "status", "--wait", "--long", timeout=600).stdout
    timings["API droplet create -> cloud-init done"] = time.monotonic() - start
    assert "status: done" in status, status
    assert in_droplet(droplet_id, "cat", "/etc/odl-api-e2e/hello.txt").stdout == "written through the API\n"
    assert in_droplet(droplet_id, "cat", "/root/runcmd.out").stdout.strip() == "24"
    meta = in_droplet(droplet_id, "curl", "-sf", "--max-time", "5", "http://169.254.169.254/metadata/v1/id")
    assert meta.stdout.strip() == str(droplet_id)
    assert public_key in in_droplet(droplet_id, "cat", "/root/.ssh/authorized_keys").stdout

    client.droplets.destroy(droplet_id)
    assert client.droplets.get(droplet_id)["id"] == "not_found"
    gone = subprocess.run(["docker", "inspect", db.container_name(droplet_id)], capture_output=True)
    assert gone.returncode != 0
    client.ssh_keys.delete(key["id"])


ECHO = """import http.server, ssl, sys
NAME = open("/etc/hostname").read().strip()
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = ("droplet=" + NAME + "\\n").encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
server = http.server.ThreadingHTTPServer(("0.0.0.0", 443), H)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain("/etc/odl-api-e2e/tls.pem", "/etc/odl-api-e2e/tls.key")
server.socket = ctx.wrap_socket(server.socket, server_side=True)
server.serve_forever()
"""


def https_user_data(home: Path, ip: str) -> str:
    """A droplet serving `droplet=<hostname>` over HTTPS with a certificate for the reserved IP."""
    ca = ensure_ca(home)
    ca_key = serialization.load_pem_private_key(ca.ca_key.read_bytes(), password=None)
    ca_cert = x509.load_pem_x509_certificate(ca.ca_cert.read_bytes())
    key, cert = make_server_cert(ca_key, ca_cert, dt.datetime.now(dt.UTC), ips=(ip,), dns=("odoo.test",))
    files = [
        {"path": "/usr/local/bin/odl-echo.py", "content": ECHO},
        {"path": "/etc/odl-api-e2e/tls.pem", "content": cert.public_bytes(serialization.Encoding.PEM).decode()},
        {
            "path": "/etc/odl-api-e2e/tls.key",
            "permissions": "0600",
            "content": key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            ).decode(),
        },
    ]
    runcmd = [["systemd-run", "--unit", "odl-echo", "python3", "/usr/local/bin/odl-echo.py"]]
    return "#cloud-config\n" + yaml.safe_dump({"write_files": files, "runcmd": runcmd})


def https_get(url: str, cafile: Path) -> str | None:
    ctx = ssl.create_default_context(cafile=str(cafile))
    try:
        with urllib.request.urlopen(url, timeout=5, context=ctx) as resp:  # noqa: S310 - loopback test URL
            return resp.read().decode()
    except OSError:
        return None


def test_reserved_ip_moves_from_a_to_b_and_is_locked_while_pending(api_on_docker, session: ValidatingSession,
                                                                   timings: dict[str, float]) -> None:  # fmt: skip
    server, _ = api_on_docker
    url, s = server.url, session
    ip = s.post(f"{url}/v2/reserved_ips", json={"region": "nyc3"}).json()["reserved_ip"]["ip"]
    user_data = https_user_data(server.home, ip)
    ids = {}
    for name in ("api-blue", "api-green"):
        r = s.post(
            f"{url}/v2/droplets",
            json={
                "name": name,
                "region": "nyc3",
                "size": "s-1vcpu-1gb",
                "image": "debian-12-x64",
                "user_data": user_data,
            },
        )
        assert r.status_code == 202, r.text
        ids[name] = r.json()["droplet"]["id"]
    for name, droplet_id in ids.items():
        poll(lambda i=droplet_id: s.get(f"{url}/v2/droplets/{i}").json()["droplet"]["status"] == "active", 240,
             f"{name} to become active")  # fmt: skip
        assert "status: done" in in_droplet(droplet_id, "cloud-init", "status", "--wait", timeout=600).stdout
        poll(lambda i=droplet_id: in_droplet(i, "curl", "-sk", "https://127.0.0.1/").stdout.startswith("droplet="),
             60, f"the HTTPS server on {name}")  # fmt: skip
    cafile = server.ca.ca_cert

    def assign(droplet_id: int) -> dict[str, Any]:
        r = s.post(f"{url}/v2/reserved_ips/{ip}/actions", json={"type": "assign", "droplet_id": droplet_id})
        assert r.status_code == 201, r.text
        return r.json()["action"]

    def completed(action_id: int) -> bool:
        return s.get(f"{url}/v2/reserved_ips/{ip}/actions/{action_id}").json()["action"]["status"] == "completed"

    first = assign(ids["api-blue"])
    poll(lambda: completed(first["id"]), 60, "the assign to blue to complete")
    assert https_get(f"https://{ip}/", cafile) == "droplet=api-blue\n"

    server.faults.add({"kind": "action", "type": "assign_ip", "delay": 3, "times": 1})
    start = time.monotonic()
    move = assign(ids["api-green"])
    assert move["status"] == "in-progress"
    assert s.get(f"{url}/v2/reserved_ips/{ip}").json()["reserved_ip"]["locked"] is True
    meanwhile = s.post(f"{url}/v2/reserved_ips/{ip}/actions", json={"type": "assign", "droplet_id": ids["api-blue"]})
    assert meanwhile.status_code == 422 and meanwhile.json()["id"] == "unprocessable_entity"
    assert https_get(f"https://{ip}/", cafile) == "droplet=api-blue\n"  # not moved until the action completes
    poll(lambda: completed(move["id"]), 60, "the assign to green to complete")
    timings["reserved IP assign (with a 3 s fault delay)"] = time.monotonic() - start
    assert https_get(f"https://{ip}/", cafile) == "droplet=api-green\n"

    un = s.post(f"{url}/v2/reserved_ips/{ip}/actions", json={"type": "unassign"}).json()["action"]
    poll(lambda: completed(un["id"]), 60, "the unassign to complete")
    assert https_get(f"https://{ip}/", cafile) is None
    assert s.delete(f"{url}/v2/reserved_ips/{ip}").status_code == 204
    for droplet_id in ids.values():
        assert s.delete(f"{url}/v2/droplets/{droplet_id}").status_code == 204
