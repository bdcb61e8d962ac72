"""`odoo-droplet doctor`, `logs` and `exec` against a local droplet (issue 14's Show).

One droplet is deployed from the baked snapshot with `odoo-droplet droplet` (it takes the reserved IP); then the
issue's fault matrix runs in sequence on it. Each fault is injected the way it happens in production, with
`docker exec` into the droplet (a command an operator or a failure would run there: stop a service, edit the
nginx site and reload, an UPDATE on ir_module_module, a full filesystem, an expired certificate), then
`odoo-droplet doctor --json` runs as an operator runs it (a subprocess, over SSH with the local cloud's key and
the pinned host keys) and must name the fault's cause FIRST, with evidence, and exit 1. Then the fault is undone
and the droplet's health is checked again before the next one.

`doctor` changes nothing: around every run, the droplet's containers (ids, restart counts) and the checksums of
every file under /etc/odoo-droplet and /etc/nginx are the same before and after.

The order matters only because logs remember: a log line stays evidence for 30 minutes (builder/doctor/signals
.py), so a fault whose lines linger (a timeout in nginx's log, a worker killed in Odoo's) runs before the faults
doctor ranks above it, never before one it ranks below.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import secrets
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from firstboot.probes import LoopbackHttp
from localcloud import docker_backend as db
from tests.e2e.conftest import REPO, poll

pytestmark = pytest.mark.e2e

STACK = "/etc/odoo-droplet/stack"
SITE = "/etc/nginx/sites-available/odoo.conf"
BACKUP = "/root/odl-doctor-e2e"  # where the test keeps what it puts back (outside what doctor checksums)


# ------------------------------------------------------------------------------------------------ helpers

class Cli:
    def __init__(self, env: dict[str, str], workdir: Path, config: str) -> None:
        self.env = {**env, "PYTHONPATH": str(REPO)}
        self.workdir, self.config = workdir, config

    def run(self, command: str, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        """`odoo-droplet COMMAND --config FILE ARGS` (the settings before ARGS: exec's `-- CMD` ends the line)."""
        return subprocess.run([sys.executable, "-m", "builder", command, "--config", self.config, *args],
                              cwd=self.workdir, env=self.env, capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)


@dataclass
class Droplet:
    id: int
    address: str
    project: str
    domain: str
    reserved_ip: str

    @property
    def compose(self) -> str:
        return f"docker compose -p {self.project} -f {STACK}/docker-compose.yml"

    def container(self, service: str) -> str:
        return f"{self.project}-{service}-1"

    def sh(self, script: str, timeout: float = 120, check: bool = True, stdin: bytes | None = None) -> str:
        proc = subprocess.run(["docker", "exec", "-i", db.container_name(self.id), "bash", "-c", script],
                              input=stdin if stdin is not None else b"", capture_output=True, timeout=timeout,
                              check=False)
        out = proc.stdout.decode(errors="replace")
        if check:
            assert proc.returncode == 0, f"{script!r} in the droplet: {proc.returncode} {proc.stderr!r}"
        return out

    def state(self) -> str:
        """What doctor must not change: container ids and restart counts, checksums of the config files."""
        return self.sh(
            "find /etc/odoo-droplet /etc/nginx -type f -print0 | sort -z | xargs -0 sha256sum; "
            "docker inspect --format '{{.Name}} {{.Id}} {{.RestartCount}}' $(docker ps -aq) | sort")

    def started_at(self, service: str) -> dt.datetime:
        text = self.sh(f"docker inspect --format '{{{{.State.StartedAt}}}}' {self.container(service)}").strip()
        return dt.datetime.fromisoformat(text[:26].rstrip("Z") + "+00:00")

    def services_healthy(self) -> bool:
        text = self.sh(f"{self.compose} ps -a --format json", check=False).strip()
        # Compose prints one JSON object per line (2.21+) or one array (before).
        rows = json.loads(text) if text.startswith("[") else [json.loads(x) for x in text.splitlines()
                                                               if x.startswith("{")]
        return len(rows) >= 2 and all(r.get("State") == "running" and r.get("Health") in ("healthy", "")
                                      for r in rows)

    def edge_healthy(self) -> bool:
        http, base = LoopbackHttp(), f"https://{self.domain}"
        kw: dict[str, Any] = {"connect_host": self.reserved_ip, "host_header": self.domain, "timeout": 10}
        health = http.get(f"{base}/web/health?db_server_status=1", port=443, tls=True, **kw)
        login = http.get(f"{base}/web/login", port=443, tls=True, **kw)
        ws = http.websocket(f"{base}/websocket", port=443, tls=True, origin=base, **kw)
        try:
            db_ok = json.loads(health.body).get("db_server_status") is True
        except ValueError:
            db_ok = False
        return health.status == 200 and db_ok and login.status == 200 and ws.status == 101

    def wait_healthy(self, what: str, timeout: float = 240) -> None:
        poll(lambda: self.services_healthy() and self.edge_healthy(), timeout, f"healthy again after {what}",
             interval=2)


def expired_certificate(domain: str) -> tuple[bytes, bytes]:
    """A certificate for `domain` whose validity ended yesterday (made with a past not-after, no clock games)."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, domain)])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=90)).not_valid_after(now - dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(domain)]), critical=False)
            .sign(key, hashes.SHA256()))
    return (cert.public_bytes(serialization.Encoding.PEM),
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                              serialization.NoEncryption()))


def reload_nginx(d: Droplet) -> None:
    d.sh("nginx -t && systemctl reload nginx")


def backup_site(d: Droplet) -> None:
    d.sh(f"mkdir -p {BACKUP} && cp {SITE} {BACKUP}/site")


def restore_site(d: Droplet) -> None:
    d.sh(f"cp {BACKUP}/site {SITE}")
    reload_nginx(d)


def odoo_log(d: Droplet, *lines: str) -> None:
    """Lines written the way Odoo writes them: on its process's stdout, so Docker's log (and doctor) see them."""
    now = dt.datetime.now(dt.UTC)
    stamp = now.strftime("%Y-%m-%d %H:%M:%S,") + f"{now.microsecond // 1000:03d}"
    text = "".join((f"{stamp} {line}" if line[:1].isdigit() else line) + "\n" for line in lines)
    # As Odoo's own user: /proc/1/fd/1 opens only for the process's owner (root in the container lacks ptrace).
    d.sh(f"docker exec -i {d.container('odoo')} sh -c 'cat > /proc/1/fd/1'", stdin=text.encode())


# ------------------------------------------------------------------------------------------------ the faults

@dataclass(frozen=True)
class Fault:
    name: str
    cause: str
    evidence: str  # a piece of the line an operator would look for, in the cause's evidence
    inject: Callable[[Droplet], None]
    undo: Callable[[Droplet], None]
    loops: bool = False  # the fault itself restarts a container (its restart count rises without doctor)


def _cert_inject(d: Droplet) -> None:
    crt = d.sh(f"sed -n 's/^ *ssl_certificate  *\\(.*\\);/\\1/p' {SITE} | head -n 1").strip()
    key = d.sh(f"sed -n 's/^ *ssl_certificate_key  *\\(.*\\);/\\1/p' {SITE} | head -n 1").strip()
    assert crt and key, "the site names no certificate"
    d.sh(f"mkdir -p {BACKUP} && cp -p {crt} {BACKUP}/crt && cp -p {key} {BACKUP}/key && "
         f"printf '%s\\n%s\\n' {crt} {key} > {BACKUP}/cert-paths")
    pem, pkey = expired_certificate(d.domain)
    d.sh(f"cat > {crt}", stdin=pem)
    d.sh(f"cat > {key}", stdin=pkey)
    reload_nginx(d)


def _cert_undo(d: Droplet) -> None:
    d.sh(f"{{ read -r crt; read -r key; }} < {BACKUP}/cert-paths && cp -p {BACKUP}/crt \"$crt\" && "
         f"cp -p {BACKUP}/key \"$key\"")
    reload_nginx(d)


def _timeout_inject(d: Droplet) -> None:
    # nginx's errors in the first 90 s after Odoo starts are the start's own (doctor ignores them): wait that out.
    poll(lambda: dt.datetime.now(dt.UTC) - d.started_at("odoo") > dt.timedelta(seconds=95), 200,
         "Odoo up for more than 95 s", interval=2)
    backup_site(d)
    d.sh(f"sed -i 's/proxy_read_timeout [0-9]*s;/proxy_read_timeout 2s;/' {SITE}")
    reload_nginx(d)
    # A request that outlasts it: Odoo frozen for a moment, as under a heavy report.
    d.sh(f"docker pause {d.container('odoo')}")
    try:
        r = LoopbackHttp().get(f"https://{d.domain}/web/login", connect_host=d.reserved_ip, port=443, tls=True,
                               host_header=d.domain, timeout=30)
    finally:
        d.sh(f"docker unpause {d.container('odoo')}")
    assert r.status == 504, (r.status, r.error)


def _worker_inject(d: Droplet) -> None:
    # What Odoo's prefork server writes when a worker passes limit_memory_hard (odoo/service/server.py), then
    # the MemoryError the worker dies of; nginx saw the request end early.
    odoo_log(d, "38 INFO odoo odoo.service.server: Worker (38) virtual memory limit (2819624960) reached.",
             "38 ERROR odoo odoo.service.server: Worker WorkerHTTP (38) Exception occured, exiting...",
             "Traceback (most recent call last):",
             '  File "/usr/lib/python3/dist-packages/odoo/tools/pdf/__init__.py", line 296, in merge_pdf',
             "MemoryError",
             "61 INFO odoo odoo.service.server: Worker WorkerHTTP (61) alive")


def _proxy_mode(value: str) -> Callable[[Droplet], None]:
    def change(d: Droplet) -> None:
        d.sh(f"sed -i 's/^proxy_mode *=.*/proxy_mode = {value}/' {STACK}/odoo.conf && {d.compose} restart odoo")
        poll(d.services_healthy, 180, f"odoo healthy with proxy_mode = {value}", interval=2)

    return change


def _websocket_inject(d: Droplet) -> None:
    backup_site(d)
    d.sh("python3 - <<'EOF'\n"
         f"p = '{SITE}'\n"
         "s = open(p).read()\n"
         "a = s.index('    # Realtime (bus'); b = s.index('    # Static assets')\n"
         "open(p, 'w').write(s[:a] + s[b:])\n"
         "EOF")
    reload_nginx(d)


def _upstream_inject(d: Droplet) -> None:
    backup_site(d)
    d.sh(f"sed -i 's/server 127.0.0.1:8069;/server 127.0.0.1:8070;/' {SITE}")
    reload_nginx(d)


def _module_state(state: str) -> Callable[[Droplet], None]:
    def change(d: Droplet) -> None:
        d.sh(f"{d.compose} exec -T db psql -U odoo -d odoo -v ON_ERROR_STOP=1 "
             f"-c \"UPDATE ir_module_module SET state = '{state}' WHERE name = 'web'\"")

    return change


def _service(action: str, service: str) -> Callable[[Droplet], None]:
    def change(d: Droplet) -> None:
        d.sh(f"{d.compose} {action} {service}", timeout=180)

    return change


def _crashloop_inject(d: Droplet) -> None:
    # A broken release: the image tag changed to one that exits two seconds after it starts.
    d.sh(f"mkdir -p {BACKUP} && cp {STACK}/docker-compose.yml {BACKUP}/compose && "
         f"sed -i 's#\\(/odoo\\):18\\.0\\([\"]\\?\\)$#\\1:18.0-crashloop\\2#' {STACK}/docker-compose.yml && "
         f"grep -q '18.0-crashloop' {STACK}/docker-compose.yml && {d.compose} up -d odoo", timeout=300)

    def looping() -> bool:
        out = d.sh(f"docker inspect --format '{{{{.RestartCount}}}}' {d.container('odoo')}", check=False).strip()
        return out.isdigit() and int(out) >= 3

    poll(looping, 180, "odoo restarted three times", interval=2)


def _crashloop_undo(d: Droplet) -> None:
    d.sh(f"cp {BACKUP}/compose {STACK}/docker-compose.yml && {d.compose} up -d odoo", timeout=300)


def _disk_inject(d: Droplet) -> None:
    # A small filesystem of its own, filled the way logs fill a disk (the droplet's / is the host's disk: never
    # filled here). /var/log is one of the filesystems doctor reads (df).
    d.sh("mount -t tmpfs -o size=8m odl-doctor-e2e /var/log && "
         "{ dd if=/dev/zero of=/var/log/fill bs=64k 2>/dev/null || true; }")


def _disk_undo(d: Droplet) -> None:
    d.sh("umount /var/log")


def _nothing(d: Droplet) -> None:
    return None


FAULTS = (
    Fault("an expired certificate", "certificate_expired", "not after", _cert_inject, _cert_undo),
    Fault("a request outlasting a short proxy_read_timeout", "timeout_too_short", "upstream timed out (110",
          _timeout_inject, restore_site),
    Fault("a worker killed by its memory limit", "worker_killed", "MemoryError", _worker_inject, _nothing),
    Fault("proxy_mode off", "proxy_mode_mismatch", "proxy_mode is off", _proxy_mode("False"), _proxy_mode("True")),
    Fault("the /websocket location removed", "realtime_route_missing", "no `location /websocket`",
          _websocket_inject, restore_site),
    Fault("nginx's upstream pointed at a wrong port", "upstream_wrong", "port 8070", _upstream_inject, restore_site),
    Fault("a module left to upgrade", "module_state", "web is 'to upgrade'", _module_state("to upgrade"),
          _module_state("installed")),
    Fault("Odoo stopped", "odoo_down", "Exited", _service("stop", "odoo"), _service("start", "odoo")),
    Fault("Odoo crash-looping", "odoo_crashloop", "restart count", _crashloop_inject, _crashloop_undo, loops=True),
    Fault("PostgreSQL stopped", "db_down", "pg_isready", _service("stop", "db"), _service("start", "db")),
    Fault("the disk full", "disk_full", "/var/log: 100% used", _disk_inject, _disk_undo),
)


def test_the_matrix_is_the_issues_eleven_faults() -> None:
    from tests.unit.test_doctor_faults import ISSUE_FAULTS

    assert sorted(f.cause for f in FAULTS) == sorted(ISSUE_FAULTS.values())


# ------------------------------------------------------------------------------------------------ fixtures

def settings_yaml(project: str, domain: str) -> str:
    return f"""project: {project}
ship_version: 1.0.0
droplet: {{region: nyc3, size: s-2vcpu-4gb, base_image: debian-12-x64}}
reserved_ip: auto
odoo: {{image: odoo, tag: "18.0", prior_tag: 18.0-prior, modules: [base, web], database: odoo, workers: auto}}
postgres: {{mode: selfhost, image: "postgres:16"}}
edge: {{domain: {domain}, tls: self-signed}}
spaces: {{region: nyc3, bucket: {project}-proofs}}
gates: {{timeout_seconds: 300, soak_seconds: 2}}
"""


@pytest.fixture(scope="module")
def deployed(baked_snapshot: dict[str, Any], tmp_path_factory: pytest.TempPathFactory,
             timings: dict[str, float]) -> Iterator[tuple[Droplet, Cli]]:
    project = f"odldoc-{secrets.token_hex(3)}"
    domain = f"erp.{project}.test"
    workdir = tmp_path_factory.mktemp("doctor")
    config = workdir / "deploy.yaml"
    config.write_text(settings_yaml(project, domain))
    env = baked_snapshot["env"]
    cli = Cli(env, workdir, str(config))
    start = time.monotonic()
    proc = cli.run("droplet", "--snapshot", str(baked_snapshot["snapshot_id"]), "--json", timeout=1200)
    timings["doctor e2e: healthy deploy"] = time.monotonic() - start
    api = requests.Session()
    api.headers["Authorization"] = f"Bearer {env['DIGITALOCEAN_TOKEN']}"
    url, verify = env["DIGITALOCEAN_API_URL"].rstrip("/"), env["SSL_CERT_FILE"]
    result = json.loads(proc.stdout) if proc.stdout.strip().startswith("{") else {}
    droplet_id = result.get("droplet_id")
    try:
        assert proc.returncode == 0, f"deploy failed ({proc.returncode}):\n{proc.stderr[-4000:]}"
        droplet = api.get(f"{url}/v2/droplets/{droplet_id}", timeout=60, verify=verify).json()["droplet"]
        address = next(n["ip_address"] for n in droplet["networks"]["v4"] if n["type"] == "public")
        assert result.get("cutover") and result.get("reserved_ip_holder") == droplet_id, result
        yield Droplet(int(droplet_id), address, project, domain, str(result["reserved_ip"])), cli
    finally:
        if droplet_id:
            api.delete(f"{url}/v2/droplets/{droplet_id}", timeout=120, verify=verify)
        if result.get("reserved_ip"):  # made for this module's project (reserved_ip: auto)
            api.delete(f"{url}/v2/reserved_ips/{result['reserved_ip']}", timeout=60, verify=verify)


def doctor(d: Droplet, cli: Cli, *, loops: bool = False) -> tuple[int, dict[str, Any], str]:
    """`doctor --json` as an operator runs it; the droplet's state must be the same after as before."""
    before = d.state()
    proc = cli.run("doctor", "--json", timeout=300)
    after = d.state()
    if loops:  # a crash-looping container's restart count rises by itself: compare the rest
        before, after = ([line.rsplit(" ", 1)[0] if "-odoo-1 " in line else line for line in s.splitlines()]
                         for s in (before, after))
    assert before == after, "doctor changed something on the droplet"
    assert "Traceback" not in proc.stderr, proc.stderr
    doc = json.loads(proc.stdout)
    return proc.returncode, doc, proc.stderr


# ------------------------------------------------------------------------------------------------ the tests

def test_healthy_droplet_doctor_exits_0_and_says_so(deployed: tuple[Droplet, Cli], timings: dict[str, float]):
    d, cli = deployed
    d.wait_healthy("the deploy")
    start = time.monotonic()
    code, doc, _ = doctor(d, cli)
    timings["doctor e2e: one doctor run (healthy)"] = time.monotonic() - start
    assert code == 0, json.dumps(doc, indent=1)
    assert doc["healthy"] is True and doc["cause"] is None
    assert doc["droplet_id"] == d.id  # the reserved IP's holder, by default
    assert [c for c in doc["checks"] if c["result"] == "fail"] == []
    assert all(set(c) >= {"name", "result", "evidence"} for c in doc["checks"])
    assert doc["proof"].endswith(f"proofs/{doc['doctor_id']}/doctor.json")
    text = cli.run("doctor", timeout=300)
    assert text.returncode == 0 and "Healthy: no cause found" in text.stdout


def test_logs_and_exec_work_against_the_droplet(deployed: tuple[Droplet, Cli]):
    d, cli = deployed
    logs = cli.run("logs", "--service", "nginx", "--tail", "20", timeout=120)
    assert logs.returncode == 0, logs.stderr
    odoo_logs = cli.run("logs", "--service", "odoo", "--since", "1h", "--tail", "5", timeout=120)
    assert odoo_logs.returncode == 0, odoo_logs.stderr[-2000:]
    lines = [line for line in odoo_logs.stdout.splitlines() if line.strip()]
    assert 0 < len(lines) <= 5 and all(re.search(r"\| \d{4}-\d\d-\d\dT\d\d:", line) for line in lines), lines
    version = cli.run("exec", "--service", "odoo", "--", "odoo", "--version", timeout=120)
    assert version.returncode == 0, version.stderr
    assert "Odoo Server 18.0" in version.stdout
    host = cli.run("exec", "--", "cat", "/etc/debian_version", timeout=120)
    assert host.returncode == 0 and host.stdout.strip().startswith("12"), host.stdout


@pytest.mark.parametrize("fault", FAULTS, ids=[f.name for f in FAULTS])
def test_each_fault_is_named_first(fault: Fault, deployed: tuple[Droplet, Cli], timings: dict[str, float]):
    d, cli = deployed
    d.wait_healthy("the previous fault")
    fault.inject(d)
    try:
        code, doc, err = doctor(d, cli, loops=fault.loops)
    finally:
        fault.undo(d)
    assert doc["cause"] is not None, json.dumps(doc, indent=1)
    assert doc["cause"]["id"] == fault.cause, json.dumps(doc, indent=1)
    assert code == 1 and doc["healthy"] is False
    assert any(fault.evidence in line for line in doc["cause"]["evidence"]), doc["cause"]["evidence"]
    assert doc["cause"]["fix"]
    d.wait_healthy(fault.name)
