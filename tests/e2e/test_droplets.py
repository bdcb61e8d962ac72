"""Droplets of the local cloud on the real Docker engine (localcloud.docker_backend), as a user sees them:
user-data applied by cloud-init, the metadata service, SSH with the account's key, an inner Docker engine,
snapshots that carry what the inner engine holds, power actions, reserved IPs moving between droplets.

The API server in front of the backend is tested in tests/e2e of the API (pydo, Packer); these tests call
the backend the API calls.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import ssl
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
import yaml
from cryptography.hazmat.primitives import serialization

from localcloud import docker_backend as db
from localcloud.ca import ensure_ca, make_server_cert
from localcloud.home import Home

from .conftest import Droplets, poll

pytestmark = pytest.mark.e2e

USER_DATA = """#cloud-config
write_files:
  - path: /etc/odl-e2e/written.txt
    content: "written by write_files\\n"
    permissions: "0640"
runcmd:
  - [sh, -c, "echo ran-$(cat /etc/odl-e2e/written.txt | wc -c) > /root/runcmd.out"]
"""


def ssh(key: Path, address: str, command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["ssh", "-i", str(key), "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
         "-o", "BatchMode=yes", "-o", "ConnectTimeout=5", "-o", "LogLevel=ERROR", f"root@{address}", command],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip


def metadata(droplets: Droplets, droplet_id: int, path: str) -> str:
    proc = droplets.exec(droplet_id, "curl", "-sf", "--max-time", "5", f"http://169.254.169.254{path}")
    assert proc.returncode == 0, f"metadata {path}: rc={proc.returncode} {proc.stderr}"
    return proc.stdout


def wait_booted(droplets: Droplets, droplet_id: int, timeout: float = 180) -> None:
    """systemd reached running (or degraded); on timeout, say which jobs were still pending."""

    def state() -> bool:
        out = droplets.exec(droplet_id, "systemctl", "is-system-running", timeout=30).stdout.strip()
        return out in ("running", "degraded")

    try:
        poll(state, timeout, f"droplet {droplet_id} booted")
    except AssertionError as exc:
        jobs = droplets.exec(droplet_id, "systemctl", "list-jobs", "--no-pager", timeout=30)
        raise AssertionError(f"{exc}\npending jobs:\n{jobs.stdout}{jobs.stderr}") from None


# ------------------------------------------------------------------------------------------ base image


def test_base_image_ships_no_host_keys_passwords_or_authorized_keys(local_cloud_ready: Path) -> None:
    script = (
        "ls /etc/ssh/ssh_host_* 2>/dev/null; ls /root/.ssh/authorized_keys 2>/dev/null; "
        'awk -F: \'$1=="root" {print "root-password:" $2}\' /etc/shadow; '
        "cat /etc/cloud/cloud.cfg.d/90-odl-localcloud.cfg | grep datasource_list"
    )
    out = subprocess.run(["docker", "run", "--rm", "--entrypoint", "sh", db.BASE_IMAGE, "-c", script],
                         capture_output=True, text=True, timeout=60).stdout  # fmt: skip
    assert "ssh_host_" not in out
    assert "authorized_keys" not in out
    assert "root-password:!" in out or "root-password:*" in out  # locked
    assert "[ NoCloud, None ]" in out
    bundle = subprocess.run(["docker", "run", "--rm", "--entrypoint", "cat", db.BASE_IMAGE,
                             "/etc/ssl/certs/ca-certificates.crt"], capture_output=True, text=True, timeout=60).stdout  # fmt: skip
    ca_pem = ensure_ca(local_cloud_ready).ca_cert.read_text().strip()
    assert ca_pem in bundle, "the local CA is not in the droplets' system trust store"


# ------------------------------------------------------------------------------------------ lifecycle


@pytest.fixture(scope="module")
def web_droplet(droplets: Droplets, ssh_keypair: tuple[Path, str], timings: dict[str, float]):
    start = time.monotonic()
    spec, runtime = droplets.create("e2e-web", user_data=USER_DATA, keys=(ssh_keypair[1],))
    timings["droplet create -> running (backend)"] = time.monotonic() - start
    status = droplets.cloud_init_done(spec.id)
    timings["droplet create -> cloud-init done"] = time.monotonic() - start
    return spec, runtime, status


def test_user_data_is_applied_by_cloud_init(web_droplet, droplets: Droplets) -> None:
    spec, runtime, status = web_droplet
    assert runtime.running and runtime.ipv4 and runtime.ipv4.startswith("10.213.0.")
    assert "status: done" in status, status
    written = droplets.exec(spec.id, "stat", "-c", "%a %n", "/etc/odl-e2e/written.txt").stdout
    assert written.strip() == "640 /etc/odl-e2e/written.txt"
    assert droplets.exec(spec.id, "cat", "/root/runcmd.out").stdout.strip() == "ran-23"
    assert droplets.exec(spec.id, "hostname").stdout.strip() == "e2e-web"
    iid = droplets.exec(spec.id, "cloud-init", "query", "instance_id").stdout.strip()
    assert iid == str(spec.id)


def test_metadata_service_answers_with_this_droplets_identity(web_droplet, droplets: Droplets) -> None:
    spec, runtime, _ = web_droplet
    assert metadata(droplets, spec.id, "/metadata/v1/id") == str(spec.id)
    assert metadata(droplets, spec.id, "/metadata/v1/hostname") == "e2e-web"
    assert metadata(droplets, spec.id, "/metadata/v1/region") == "nyc3"
    assert metadata(droplets, spec.id, "/metadata/v1/user-data") == USER_DATA
    assert metadata(droplets, spec.id, "/metadata/v1/interfaces/public/0/ipv4/address") == runtime.ipv4
    assert metadata(droplets, spec.id, "/metadata/v1/reserved_ip/ipv4/active") == "false"
    doc = json.loads(metadata(droplets, spec.id, "/metadata/v1.json"))
    assert doc["droplet_id"] == spec.id
    assert doc["interfaces"]["public"][0]["ipv4"]["ip_address"] == runtime.ipv4
    assert doc["public_keys"] == list(spec.ssh_public_keys)
    # Unknown paths are 404, as on DigitalOcean.
    assert droplets.exec(spec.id, "curl", "-sf", "http://169.254.169.254/metadata/v1/nope").returncode == 22


def test_ssh_with_the_account_key_only(web_droplet, ssh_keypair: tuple[Path, str], tmp_path: Path) -> None:
    spec, runtime, _ = web_droplet
    key, _ = ssh_keypair
    ok = poll(lambda: (p := ssh(key, runtime.ipv4, "hostname; cat /etc/odl-e2e/written.txt")).returncode == 0
              and p, 60, "ssh with the account key")  # fmt: skip
    assert ok.stdout.splitlines() == ["e2e-web", "written by write_files"]
    other = tmp_path / "other"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    denied = ssh(other, runtime.ipv4, "true")
    assert denied.returncode == 255 and "Permission denied" in denied.stderr


def test_power_off_on_and_reboot_keep_the_address(web_droplet, droplets: Droplets) -> None:
    spec, runtime, _ = web_droplet
    backend = droplets.backend
    backend.power_off(spec.id, graceful=False)
    assert backend.droplet_runtime(spec.id) == db.DropletRuntime(False, runtime.ipv4)
    assert backend.power_on(spec.id) == db.DropletRuntime(True, runtime.ipv4)
    assert backend.reboot(spec.id) == db.DropletRuntime(True, runtime.ipv4)
    wait_booted(droplets, spec.id)
    # The droplet's identity survives: same instance, same metadata.
    assert metadata(droplets, spec.id, "/metadata/v1/id") == str(spec.id)
    backend.power_off(spec.id, graceful=True)
    assert not backend.droplet_runtime(spec.id).running
    backend.power_on(spec.id)
    # `reboot` inside the droplet brings it back, as on DigitalOcean; `poweroff` inside leaves it off.
    started = subprocess.run(["docker", "inspect", "-f", "{{.State.StartedAt}}", db.container_name(spec.id)],
                             capture_output=True, text=True).stdout  # fmt: skip
    wait_booted(droplets, spec.id)
    assert droplets.exec(spec.id, "systemctl", "reboot").returncode == 0
    poll(lambda: backend.droplet_runtime(spec.id).running and subprocess.run(
        ["docker", "inspect", "-f", "{{.State.StartedAt}}", db.container_name(spec.id)],
        capture_output=True, text=True).stdout != started, 120, "the droplet back after an in-guest reboot")  # fmt: skip
    assert metadata(droplets, spec.id, "/metadata/v1/id") == str(spec.id)
    wait_booted(droplets, spec.id)  # systemctl needs the system bus, which a booting droplet may not have yet
    assert droplets.exec(spec.id, "systemctl", "poweroff").returncode == 0
    poll(lambda: not backend.droplet_runtime(spec.id).running, 60, "the droplet off after an in-guest poweroff")
    assert backend.power_on(spec.id).running


def test_delete_removes_the_droplet_and_its_disk(droplets: Droplets) -> None:
    spec, _ = droplets.create("e2e-gone")
    assert subprocess.run(["docker", "volume", "inspect", db.volume_name(spec.id)], capture_output=True).returncode == 0
    droplets.backend.delete_droplet(spec.id)
    assert droplets.backend.droplet_runtime(spec.id).exists is False
    assert subprocess.run(["docker", "volume", "inspect", db.volume_name(spec.id)], capture_output=True).returncode != 0
    droplets.backend.delete_droplet(spec.id)  # already gone: no error


# ------------------------------------------------------------------------------------------ inner Docker


DOCKER_USER_DATA = """#cloud-config
package_update: true
packages: [docker.io]
write_files:
  - path: /etc/odl-e2e/build-marker
    content: "made on the build droplet\\n"
"""


@pytest.fixture(scope="module")
def docker_droplet(droplets: Droplets, busybox_image: str, timings: dict[str, float]):
    """A droplet whose user-data installs Debian's docker.io, with the busybox image loaded into it."""
    start = time.monotonic()
    spec, runtime = droplets.create("e2e-docker", user_data=DOCKER_USER_DATA)
    status = droplets.cloud_init_done(spec.id)
    assert "status: done" in status, status
    timings["droplet create -> cloud-init done (apt install docker.io)"] = time.monotonic() - start
    save = subprocess.Popen(["docker", "save", busybox_image], stdout=subprocess.PIPE)
    load = subprocess.run(["docker", "exec", "-i", db.container_name(spec.id), "docker", "load"],
                          stdin=save.stdout, capture_output=True, text=True, timeout=120)  # fmt: skip
    save.wait(timeout=60)
    assert load.returncode == 0, load.stderr
    return spec, runtime


def inner_http_get(
    droplets: Droplets, droplet_id: int, image: str, host: str, path: str
) -> subprocess.CompletedProcess:
    request = f'printf "GET {path} HTTP/1.0\\r\\nHost: {host}\\r\\n\\r\\n" | nc -w 5 {host} 80'
    return droplets.exec(droplet_id, "docker", "run", "--rm", image, "sh", "-c", request, timeout=120)


def test_inner_docker_engine_runs_containers(docker_droplet, droplets: Droplets, busybox_image: str) -> None:
    spec, _ = docker_droplet
    proc = droplets.exec(spec.id, "docker", "run", "--rm", busybox_image, "echo", "hello from inside")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "hello from inside"
    # The inner engine stores its data on the droplet's own volume, with overlay2.
    info = droplets.exec(spec.id, "docker", "info", "-f", "{{.Driver}} {{.DockerRootDir}}").stdout.strip()
    assert info == "overlay2 /var/lib/docker"
    # Its containers run inside the droplet's cgroup, so the droplet's size limits hold for them too.
    droplet_cgroup = subprocess.run(["docker", "inspect", "-f", "{{.Id}}", db.container_name(spec.id)],
                                    capture_output=True, text=True).stdout.strip()  # fmt: skip
    inner = droplets.exec(spec.id, "docker", "run", "--rm", busybox_image, "cat", "/proc/self/cgroup").stdout
    # cgroup v1 (these machines): the memory controller's line; v2: the unified "0::" line.
    memory_line = next(line for line in inner.splitlines() if ":memory:" in line or line.startswith("0::"))
    assert f"/docker/{droplet_cgroup}/" in memory_line, memory_line
    # Inner containers resolve through the host's resolvers, never Docker's fallback to 8.8.8.8.
    resolv = droplets.exec(spec.id, "docker", "run", "--rm", busybox_image, "cat", "/etc/resolv.conf").stdout
    assert "8.8.8.8" not in resolv
    for server in db.host_nameservers(Path("/etc/resolv.conf").read_text()):
        assert f"nameserver {server}" in resolv


def test_inner_docker_pulls_from_the_local_registry(docker_droplet, droplets: Droplets, busybox_image: str) -> None:
    """The registry (GHCR's stand-in) at 10.213.0.1:5000, over TLS from the local CA the droplet trusts."""
    from localcloud import services

    services.ensure_registry(Home.from_env())
    ref = f"{services.DEFAULT_REGISTRY}/odl-e2e/busybox:{os.getpid()}"
    push = services.push_ref(ref)  # pushed from the host through loopback, same storage
    subprocess.run(["docker", "tag", busybox_image, push], check=True, capture_output=True)
    pushed = subprocess.run(["docker", "push", push], capture_output=True, text=True, timeout=120)
    assert pushed.returncode == 0, pushed.stderr
    spec, _ = docker_droplet
    pulled = droplets.exec(spec.id, "docker", "pull", ref, timeout=120)
    assert pulled.returncode == 0, pulled.stdout + pulled.stderr
    ran = droplets.exec(spec.id, "docker", "run", "--rm", ref, "echo", "pulled and ran")
    assert ran.stdout.strip() == "pulled and ran"
    subprocess.run(["docker", "rmi", push], capture_output=True)


def test_inner_containers_reach_metadata_until_a_firewall_rule_blocks_them(
    docker_droplet, droplets: Droplets, busybox_image: str
) -> None:
    spec, _ = docker_droplet
    open_ = inner_http_get(droplets, spec.id, busybox_image, db.METADATA_IP, "/metadata/v1/id")
    assert open_.returncode == 0 and open_.stdout.endswith(str(spec.id)), open_.stdout + open_.stderr
    rule = ["DOCKER-USER", "-d", db.METADATA_IP, "-j", "REJECT"]
    assert droplets.exec(spec.id, "iptables", "-I", *rule).returncode == 0
    try:
        blocked = inner_http_get(droplets, spec.id, busybox_image, db.METADATA_IP, "/metadata/v1/id")
        assert blocked.returncode != 0 and str(spec.id) not in blocked.stdout
        # The droplet itself still reads its metadata (the agent needs it).
        assert metadata(droplets, spec.id, "/metadata/v1/id") == str(spec.id)
    finally:
        droplets.exec(spec.id, "iptables", "-D", *rule)


def test_snapshot_carries_inner_images_and_droplets_from_it_get_fresh_host_keys(
    docker_droplet, droplets: Droplets, busybox_image: str, timings: dict[str, float]
) -> None:
    spec, _ = docker_droplet
    backend = droplets.backend
    host_key = droplets.exec(spec.id, "cat", "/etc/ssh/ssh_host_ed25519_key.pub").stdout
    assert host_key.startswith("ssh-ed25519 ")
    backend.power_off(spec.id, graceful=True)  # what Packer does before its snapshot action
    assert not backend.droplet_runtime(spec.id).running
    start = time.monotonic()
    snap = backend.snapshot(spec.id, "e2e-snap")
    timings["snapshot (commit + inner /var/lib/docker copy)"] = time.monotonic() - start
    droplets.images.append(snap.ref)
    assert snap.ref.startswith("odl/snapshot-e2e-snap:") and snap.size_gigabytes > 0

    start = time.monotonic()
    child, runtime = droplets.create(
        "e2e-child", image=snap.ref, user_data="#cloud-config\nruncmd: [[touch, /root/child]]\n"
    )
    status = droplets.cloud_init_done(child.id)
    timings["droplet from snapshot -> cloud-init done"] = time.monotonic() - start
    assert "status: done" in status, status
    assert runtime.ipv4 != backend.droplet_runtime(spec.id).ipv4
    assert droplets.exec(child.id, "cat", "/etc/odl-e2e/build-marker").stdout == "made on the build droplet\n"
    assert droplets.exec(child.id, "test", "-e", "/root/child").returncode == 0  # its own user-data ran
    assert droplets.exec(child.id, "hostname").stdout.strip() == "e2e-child"
    new_key = droplets.exec(child.id, "cat", "/etc/ssh/ssh_host_ed25519_key.pub").stdout
    assert new_key.startswith("ssh-ed25519 ") and new_key.split()[1] != host_key.split()[1]
    # The image pulled/loaded inside the build droplet is inside the new droplet, and runs.
    ran = poll(lambda: (p := droplets.exec(child.id, "docker", "run", "--rm", busybox_image, "echo", "carried"))
               .returncode == 0 and p, 60, "inner docker in the droplet from the snapshot")  # fmt: skip
    assert ran.stdout.strip() == "carried"
    assert metadata(droplets, child.id, "/metadata/v1/id") == str(child.id)

    # Deleting the snapshot removes its image and the volume that held its /var/lib/docker.
    volume = db.image_labels(snap.ref)[db.LABEL_VOLUME]
    backend.delete_image(snap.ref)
    assert subprocess.run(["docker", "image", "inspect", snap.ref], capture_output=True).returncode != 0
    assert subprocess.run(["docker", "volume", "inspect", volume], capture_output=True).returncode != 0
    backend.delete_image(snap.ref)  # already gone: no error
    # ...and the droplet made from it keeps running, as on DigitalOcean.
    assert backend.droplet_runtime(child.id).running


# ------------------------------------------------------------------------------------------ reserved IPs

RESERVED_IP = "127.0.0.250"  # the API allocates from 127.0.0.100 up; tests stay clear of it

ECHO_SERVER = """import http.server, ssl, sys
NAME = open("/etc/hostname").read().strip()
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = ("droplet=" + NAME + "\\n").encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
port = int(sys.argv[1])
server = http.server.ThreadingHTTPServer(("0.0.0.0", port), Handler)
if port == 443:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain("/etc/odl-e2e/tls.pem", "/etc/odl-e2e/tls.key")
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
server.serve_forever()
"""


def web_user_data(cert_pem: str, key_pem: str) -> str:
    files = [
        {"path": "/usr/local/bin/odl-echo.py", "content": ECHO_SERVER},
        {"path": "/etc/odl-e2e/tls.pem", "content": cert_pem},
        {"path": "/etc/odl-e2e/tls.key", "content": key_pem, "permissions": "0600"},
    ]
    runcmd = [["systemd-run", "--unit", f"odl-echo-{p}", "python3", "/usr/local/bin/odl-echo.py", str(p)]
              for p in (80, 443)]  # fmt: skip
    return "#cloud-config\n" + yaml.safe_dump({"write_files": files, "runcmd": runcmd})


def fetch(url: str, cafile: Path) -> str:
    ctx = ssl.create_default_context(cafile=str(cafile))
    with urllib.request.urlopen(url, timeout=5, context=ctx) as resp:  # noqa: S310 - loopback test URL
        return resp.read().decode()


def refused(ip: str, port: int) -> bool:
    try:
        socket.create_connection((ip, port), timeout=3).close()
    except ConnectionRefusedError:
        return True
    return False


def test_reserved_ip_leads_to_the_assigned_droplet_over_http_and_https(
    droplets: Droplets, local_cloud_ready: Path
) -> None:
    ca = ensure_ca(local_cloud_ready)
    ca_key = serialization.load_pem_private_key(ca.ca_key.read_bytes(), password=None)
    from cryptography import x509

    ca_cert = x509.load_pem_x509_certificate(ca.ca_cert.read_bytes())
    key, cert = make_server_cert(ca_key, ca_cert, dt.datetime.now(dt.UTC), ips=(RESERVED_IP,), dns=("odoo.test",))
    user_data = web_user_data(
        cert.public_bytes(serialization.Encoding.PEM).decode(),
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                          serialization.NoEncryption()).decode(),
    )  # fmt: skip
    (a, ra), (b, rb) = (
        droplets.create("e2e-blue", user_data=user_data),
        droplets.create("e2e-green", user_data=user_data),
    )
    for d, r in ((a, ra), (b, rb)):
        assert "status: done" in droplets.cloud_init_done(d.id)
        # The certificate names the reserved IP only: on the droplet's own address, HTTP and a TCP connect.
        poll(lambda r=r: fetch(f"http://{r.ipv4}/", ca.ca_cert) and not refused(r.ipv4, 443), 60,
             f"web servers on {r.ipv4}")  # fmt: skip
    backend = droplets.backend
    assert refused(RESERVED_IP, 80) and refused(RESERVED_IP, 443)
    try:
        backend.set_reserved_ip(RESERVED_IP, a.id, ra.ipv4)
        assert fetch(f"https://{RESERVED_IP}/", ca.ca_cert) == "droplet=e2e-blue\n"
        assert fetch(f"http://{RESERVED_IP}/", ca.ca_cert) == "droplet=e2e-blue\n"
        assert metadata(droplets, a.id, "/metadata/v1/reserved_ip/ipv4/ip_address") == RESERVED_IP
        assert metadata(droplets, a.id, "/metadata/v1/reserved_ip/ipv4/active") == "true"

        backend.set_reserved_ip(RESERVED_IP, b.id, rb.ipv4)
        assert fetch(f"https://{RESERVED_IP}/", ca.ca_cert) == "droplet=e2e-green\n"
        assert fetch(f"http://{RESERVED_IP}/", ca.ca_cert) == "droplet=e2e-green\n"
        assert metadata(droplets, a.id, "/metadata/v1/reserved_ip/ipv4/active") == "false"
        assert metadata(droplets, b.id, "/metadata/v1/reserved_ip/ipv4/ip_address") == RESERVED_IP
    finally:
        backend.set_reserved_ip(RESERVED_IP, None, None)
    assert refused(RESERVED_IP, 80) and refused(RESERVED_IP, 443)
    assert metadata(droplets, b.id, "/metadata/v1/reserved_ip/ipv4/active") == "false"


# ------------------------------------------------------------------------------------------ Packer

PACKER_TEMPLATE = {
    "variables": {"token": "{{env `DIGITALOCEAN_TOKEN`}}", "api_url": "{{env `DIGITALOCEAN_API_URL`}}"},
    "builders": [
        {
            "type": "digitalocean",
            "api_token": "{{user `token`}}",
            "api_url": "{{user `api_url`}}",
            "image": "debian-12-x64",
            "region": "nyc3",
            "size": "s-1vcpu-1gb",
            "ssh_username": "root",
            "snapshot_name": "e2e-packer-{{timestamp}}",
            "state_timeout": "5m",
        }
    ],
    "provisioners": [{"type": "shell", "inline": ["echo baked-by-packer > /etc/odl-packer-marker"]}],
}


@pytest.fixture(scope="module")
def docker_api(tmp_path_factory: pytest.TempPathFactory, docker_backend: db.DockerBackend):
    """The API server (in this process, own state dir) over the Docker backend; every exchange validated."""
    from localcloud.api import ApiServer
    from localcloud.state import empty_state
    from tests.localcloud_support import SpecObserver, do_openapi

    home = tmp_path_factory.mktemp("api")
    # Ids far from a running `local up` (its droplets share the Docker engine and container names).
    state = empty_state()
    state["counters"] = {"droplet": 7_000_000 + (os.getpid() % 10_000) * 100}
    (home / "state.json").write_text(json.dumps(state))
    observer = SpecObserver(do_openapi())
    server = ApiServer(home, docker_backend, "127.0.0.1", 0, observer=observer).start()
    yield server, home
    server.stop()
    assert not observer.errors, "\n".join(observer.errors)


def api(server, method: str, path: str, body: dict | None = None) -> dict:
    ctx = ssl.create_default_context(cafile=str(server.ca.ca_cert))
    req = urllib.request.Request(
        server.url + path, method=method, data=json.dumps(body).encode() if body is not None else None,
        headers={"Authorization": f"Bearer {server.token}", "Content-Type": "application/json"},
    )  # fmt: skip
    with urllib.request.urlopen(req, context=ctx, timeout=30) as resp:  # noqa: S310 - loopback API
        raw = resp.read()
    return json.loads(raw) if raw else {}


def test_packer_builds_a_snapshot_droplets_boot_from(docker_api, droplets: Droplets, tmp_path: Path,
                                                     timings: dict[str, float]) -> None:  # fmt: skip
    server, _ = docker_api
    template = tmp_path / "e2e.json"
    template.write_text(json.dumps(PACKER_TEMPLATE))
    env = {
        **os.environ, "DIGITALOCEAN_TOKEN": server.token, "DIGITALOCEAN_API_URL": server.url + "/",
        "SSL_CERT_FILE": str(server.ca.ca_cert), "CHECKPOINT_DISABLE": "1", "PACKER_CACHE_DIR": str(tmp_path / "pc"),
        "HOME": str(tmp_path),
    }  # fmt: skip
    start = time.monotonic()
    build = subprocess.run(["packer", "build", "-color=false", str(template)], env=env, capture_output=True,
                           text=True, timeout=900)  # fmt: skip
    timings["packer build (create, provision, shutdown, snapshot)"] = time.monotonic() - start
    assert build.returncode == 0, build.stdout[-4000:] + build.stderr[-2000:]

    images = api(server, "GET", "/v2/images?private=true")["images"]
    snap = next(i for i in images if i["name"].startswith("e2e-packer-"))
    assert snap["type"] == "snapshot"
    # Packer deleted its build droplet and its temporary key.
    assert not [d for d in api(server, "GET", "/v2/droplets")["droplets"] if d["name"].startswith("packer-")]

    created = api(server, "POST", "/v2/droplets",
                  {"name": "from-packer", "region": "nyc3", "size": "s-1vcpu-1gb", "image": snap["id"]})  # fmt: skip
    droplet_id = created["droplet"]["id"]
    droplets.created.append(droplet_id)  # deleted at teardown even if this test fails
    poll(lambda: api(server, "GET", f"/v2/droplets/{droplet_id}")["droplet"]["status"] == "active", 120,
         "the droplet from the Packer snapshot to be active")  # fmt: skip
    assert "status: done" in droplets.cloud_init_done(droplet_id)
    assert droplets.exec(droplet_id, "cat", "/etc/odl-packer-marker").stdout == "baked-by-packer\n"
    key = droplets.exec(droplet_id, "cat", "/etc/ssh/ssh_host_ed25519_key.pub").stdout.split()
    # The snapshot still holds the build droplet's host keys (this template does not clean them); the new
    # droplet has its own, made at its first boot.
    ref = subprocess.run(
        [
            "docker",
            "images",
            "--format",
            "{{.Repository}}:{{.Tag}}",
            "--filter",
            f"reference=odl/snapshot-{snap['name']}",
        ],
        capture_output=True,
        text=True,
    ).stdout.split()
    assert len(ref) == 1, ref
    baked = subprocess.run(["docker", "run", "--rm", "--entrypoint", "cat", ref[0], "/etc/ssh/ssh_host_ed25519_key.pub"],
                           capture_output=True, text=True, timeout=60).stdout.split()  # fmt: skip
    assert key[0] == baked[0] == "ssh-ed25519" and key[1] != baked[1]
    assert droplets.exec(droplet_id, "cloud-init", "query", "instance_id").stdout.strip() == str(droplet_id)
    api(server, "DELETE", f"/v2/droplets/{droplet_id}")
    api(server, "DELETE", f"/v2/images/{snap['id']}")
