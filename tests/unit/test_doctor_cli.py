"""`odoo-droplet doctor`, `logs`, `exec` and `shell` through `builder.cli.main`, with the droplet recorded: the
SSH channel is a stand-in answering each read-only command with what a real droplet printed
(tests/unit/doctor_droplet.py), the API and Spaces are the stand-ins of test_cli_errors.py, and the edge
probes are given. What is checked is what the operator sees: the exit status, the JSON's shape, the cause
named first, the report in the proofs, and that nothing but doctor's read-only commands reached the droplet."""

from __future__ import annotations

import datetime as dt
import functools
import json
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

import builder.commands.doctor as doctor_command
import builder.commands.options as options
import builder.commands.remote as remote
from builder.cli import main
from builder.commands.doctor import EdgePath, doctor_target, probe_edge
from builder.commands.exec import exec_argv, shell_argv
from builder.commands.logs import logs_argv, parse_since
from builder.doclient import Cloud
from builder.doctor import CommandOutput, EdgeFacts, commands_for
from builder.doctor.facts import CertificateFacts
from builder.errors import OperatorError, Refused
from builder.spaces import Spaces
from firstboot.config import Deploy, EdgeSpec, OdooSpec, PostgresSpec, RedisSpec
from firstboot.gates import HttpResult
from tests.unit.doctor_droplet import DOMAIN, FAULTS, Fault, healthy_edge, healthy_outputs, with_fault
from tests.unit.doctor_droplet import NOW as RECORDED_AT
from tests.unit.test_cli_errors import SECRETS, FakeDo, FakeS3, default_answers

RESERVED_IP = "159.203.0.7"
DROPLET = 7
ADDRESS = "192.0.2.10"  # what test_cli_errors' droplet() gives as the public address
SPACES_ENDPOINT = "http://127.0.0.1:9"
SETTINGS = f"""\
project: odoo
ship_version: 1.0.0
droplet: {{region: nyc3, size: s-2vcpu-4gb, base_image: debian-12-x64}}
reserved_ip: {RESERVED_IP}
dns: {{domain: example.com, record: erp}}
odoo: {{image: odoo, tag: "18.0", modules: [base, web], database: odoo}}
postgres: {{mode: selfhost, image: "postgres:16"}}
redis: {{enabled: true}}
edge: {{domain: {DOMAIN}, tls: self-signed}}
spaces: {{region: nyc3, bucket: odoo-proofs}}
"""


@dataclass
class FakeChannel:
    """A droplet's shell as recorded: each argv doctor may send answers its recorded output; anything else
    is a test failure (nothing but the read-only commands may reach the droplet)."""

    outputs: dict[str, CommandOutput]
    droplet_id: int = DROPLET
    address: str = ADDRESS
    fail: OperatorError | None = None
    sent: list[tuple[str, ...]] = field(default_factory=list)
    attached: list[tuple[tuple[str, ...], bool]] = field(default_factory=list)
    attach_code: int = 0

    def by_argv(self) -> dict[tuple[str, ...], str]:
        target = doctor_target(Deploy(project="odoo", redis=RedisSpec(enabled=True)), self.droplet_id, self.address)
        return {cmd.argv: cmd.name for cmd in commands_for(target)}

    def run(self, argv: Sequence[str], *, timeout: float) -> subprocess.CompletedProcess[bytes]:
        assert timeout <= 30
        self.sent.append(tuple(argv))
        if self.fail is not None:
            raise self.fail
        name = self.by_argv().get(tuple(argv))
        assert name is not None, f"not one of doctor's read-only commands: {argv}"
        out = self.outputs[name]
        return subprocess.CompletedProcess(list(argv), out.returncode, out.stdout.encode(), out.stderr.encode())

    def attach(self, argv: Sequence[str], *, tty: bool) -> int:
        self.attached.append((tuple(argv), tty))
        return self.attach_code


class RecordingS3(FakeS3):
    def __init__(self) -> None:
        super().__init__()
        self.put: dict[str, bytes] = {}

    def put_object(self, **kwargs: Any) -> dict[str, Any]:
        self.put[kwargs["Key"]] = kwargs["Body"]
        return {}


@dataclass
class World:
    channel: FakeChannel
    s3: RecordingS3
    api: FakeDo
    tmp: Path
    edge: list[EdgeFacts]


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Callable[..., World]:
    monkeypatch.chdir(tmp_path)
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("SPACES_ENDPOINT", SPACES_ENDPOINT)
    for name in ("REGISTRY", "REGISTRY_TOKEN", "DIGITALOCEAN_API_URL"):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / "deploy.yaml").write_text(SETTINGS)

    def make(outputs: dict[str, CommandOutput] | None = None, edge: EdgeFacts | None = None,
             dns: str = RESERVED_IP, holder: int | None = DROPLET) -> World:
        channel = FakeChannel(outputs or healthy_outputs())
        api = FakeDo({**default_answers(),
                      "reserved_ips.get": lambda ip: {"reserved_ip": {"ip": ip, "region": {"slug": "nyc3"},
                                                                      "droplet": {"id": holder} if holder else None}},
                      "domains.list_records": lambda zone, type=None, name=None: {
                          "domain_records": [{"type": "A", "name": "erp", "data": dns}], "links": {}}})
        monkeypatch.setattr(options, "make_client", lambda target: api)
        monkeypatch.setattr(options, "Cloud", functools.partial(Cloud, sleep=lambda seconds: None))
        s3 = RecordingS3()
        monkeypatch.setattr(Spaces, "for_deploy", classmethod(
            lambda cls, deploy, secrets: cls(deploy.spaces.bucket, SPACES_ENDPOINT, s3)))
        asked: list[int | None] = []

        def open_channel(cloud: Cloud, deploy: Deploy, spaces: Spaces | None, droplet_id: int | None) -> FakeChannel:
            asked.append(droplet_id)
            # the real resolution (reserved IP holder, the droplet's address) with the stand-in API
            channel.droplet_id, channel.address = remote.resolve_droplet(cloud, deploy, spaces, droplet_id)
            return channel

        monkeypatch.setattr(remote, "open_channel", open_channel)
        monkeypatch.setattr(doctor_command, "utcnow", lambda: RECORDED_AT)  # the droplet's logs were recorded then
        seen = [edge or healthy_edge()]
        paths: list[EdgePath] = []

        def fake_probe_edge(http: Any, path: EdgePath, timeout: float, cert: Any = None) -> EdgeFacts:
            paths.append(path)
            return seen[0]

        monkeypatch.setattr(doctor_command, "probe_edge", fake_probe_edge)
        monkeypatch.setattr(doctor_command, "probe_health", lambda http, path, timeout: seen[0].health)
        w = World(channel, s3, api, tmp_path, seen)
        w.paths = paths  # type: ignore[attr-defined]
        return w

    return make


@pytest.fixture
def run_doctor(capsys: pytest.CaptureFixture[str]) -> Callable[..., tuple[int, dict[str, Any], str]]:
    def go(w: World, *extra: str, as_json: bool = True) -> tuple[int, dict[str, Any], str]:
        code = main(["doctor", "--config", str(w.tmp / "deploy.yaml"), *(["--json"] if as_json else []), *extra])
        out, err = capsys.readouterr()
        assert "Traceback" not in out + err
        return code, (json.loads(out) if as_json else {}), out + err

    return go


# ---------------------------------------------------------------------------------------------- doctor


def test_healthy_droplet_exits_0_with_the_issues_json_shape(world, run_doctor):
    w = world()
    code, doc, _ = run_doctor(w)
    assert code == 0
    assert doc["healthy"] is True and doc["cause"] is None
    assert doc["checks"] and all(set(c) == {"name", "result", "evidence"} for c in doc["checks"])
    assert all(c["result"] == "pass" for c in doc["checks"]), [c for c in doc["checks"] if c["result"] != "pass"]
    assert doc["droplet_id"] == DROPLET
    # The reserved IP's holder by default; the edge seen through the reserved IP first, then the droplet itself.
    assert [p.connect for p in w.paths] == [RESERVED_IP]  # type: ignore[attr-defined]
    assert [e["connect"] for e in doc["edge"]] == [RESERVED_IP, ADDRESS]
    assert any(c["name"] == "edge_health_direct" and c["result"] == "pass" for c in doc["checks"])


def test_only_the_read_only_commands_reach_the_droplet(world, run_doctor):
    w = world()
    run_doctor(w)
    sent = set(w.channel.sent)
    assert sent == set(w.channel.by_argv())  # every one, and nothing else (FakeChannel refuses the rest)
    assert w.channel.attached == []


def test_the_report_goes_to_the_proofs_in_spaces_and_here_not_to_the_droplet(world, run_doctor):
    w = world()
    code, doc, _ = run_doctor(w)
    assert doc["doctor_id"].startswith("doctor-")
    key = f"proofs/{doc['doctor_id']}/doctor.json"
    assert list(w.s3.put) == [key]
    saved = json.loads(w.s3.put[key])
    assert saved["healthy"] is True and saved["checks"] == doc["checks"]
    assert doc["proof"] == f"s3://odoo-proofs/{key}"
    assert json.loads((w.tmp / ".state/proofs" / doc["doctor_id"] / "doctor.json").read_text())["healthy"] is True
    for secret in SECRETS.values():
        assert secret not in w.s3.put[key].decode()


@pytest.mark.parametrize("fault", FAULTS, ids=[f.name for f in FAULTS])
def test_each_fault_is_named_first_and_exits_1(fault: Fault, world, run_doctor):
    outputs, edge = with_fault(fault)
    w = world(outputs, edge)
    code, doc, _ = run_doctor(w)
    assert code == 1
    assert doc["healthy"] is False
    assert set(doc["cause"]) == {"id", "summary", "evidence", "fix"}
    assert doc["cause"]["id"] == fault.cause
    assert doc["cause"]["evidence"]
    assert doc["cause"]["fix"].startswith((f"ssh root@{ADDRESS} ", "odoo-droplet "))


def test_text_output_names_the_cause_first_then_the_table(world, run_doctor):
    fault = next(f for f in FAULTS if f.cause == "odoo_down")
    w = world(*with_fault(fault))
    code, _, text = run_doctor(w, as_json=False)
    assert code == 1
    assert f"doctor: droplet {DROPLET}" in text
    assert text.index("Probable cause: odoo_down") < text.index("Fix:") < text.index("\ncheck ")
    assert "report: s3://odoo-proofs/proofs/doctor-" in text


def test_dns_pointing_elsewhere_is_named(world, run_doctor):
    w = world(dns="159.203.0.99")
    code, doc, _ = run_doctor(w)
    assert code == 1 and doc["cause"]["id"] == "dns_mismatch"
    assert "159.203.0.99" in " ".join(doc["cause"]["evidence"])


def test_a_droplet_that_does_not_hold_the_reserved_ip_is_probed_on_its_own_address(world, run_doctor):
    w = world(holder=99)
    code, doc, _ = run_doctor(w, "--droplet", str(DROPLET))
    assert code == 0, doc
    assert [p.connect for p in w.paths] == [ADDRESS]  # type: ignore[attr-defined]
    assert [e["connect"] for e in doc["edge"]] == [ADDRESS]


def test_an_unreachable_droplet_is_named_never_called_healthy(world, run_doctor):
    w = world()
    w.channel.fail = OperatorError(f"cannot reach {ADDRESS} port 22 over SSH: Connection timed out")
    code, doc, _ = run_doctor(w)
    assert code == 1
    assert doc["cause"]["id"] == "droplet_unreachable"
    assert "Connection timed out" in " ".join(doc["cause"]["evidence"])
    assert len(w.channel.sent) == 1  # one connect timeout, not one per command
    assert {n["command"] for n in doc["not_gathered"]} == set(w.channel.by_argv().values())


# ------------------------------------------------------------------------------------- the edge probes


class FakeHttp:
    """Answers as a healthy edge does (or as `answers` say, by path)."""

    def __init__(self, answers: dict[str, HttpResult] | None = None):
        self.answers = answers or {}
        self.calls: list[tuple[str, str, str, int]] = []

    def get(self, url: str, *, connect_host: str, port: int, tls: bool, host_header: str, timeout: float,
            follow: int = 0) -> HttpResult:
        self.calls.append(("GET", url, connect_host, port))
        defaults = {
            "/web/health?db_server_status=1": HttpResult(url, 200, 3, '{"status": "pass", "db_server_status": true}'),
            "/web/login": HttpResult(url, 200, 3, '<form class="oe_login_form"><input name="login"/>'),
            "/": HttpResult(url, 301, 1, "", {"Location": f"https://{DOMAIN}/"}),
            "/odoo": HttpResult(url, 303, 2, "", {"Location": "/web/login?redirect=%2Fodoo%3F"}),
        }
        path = "/" + url.split("://", 1)[1].split("/", 1)[1] if url.split("://", 1)[1].count("/") else "/"
        return self.answers.get(path, defaults[path])

    def websocket(self, url: str, *, connect_host: str, port: int, tls: bool, host_header: str, origin: str,
                  timeout: float) -> HttpResult:
        self.calls.append(("WS", url, connect_host, port))
        assert origin == f"https://{DOMAIN}"  # Odoo 18 refuses a handshake without Origin
        return self.answers.get("/websocket", HttpResult(url, 101, 2, "", {"Upgrade": "websocket"}))


CERT = CertificateFacts(dt.datetime(2027, 2, 1, tzinfo=dt.UTC), (DOMAIN,), "Pebble Intermediate CA")


def test_the_edge_probes_become_the_facts_doctor_reads():
    http = FakeHttp()
    edge = probe_edge(http, EdgePath(RESERVED_IP, DOMAIN, "reserved IP"), 5, lambda c, h, t: CERT)
    assert edge.health is not None and edge.health.status == 200 and edge.health.db_server_status is True
    assert edge.login is not None and edge.login.has_login_form
    assert edge.websocket is not None and edge.websocket.status == 101
    assert edge.http_redirect is not None and edge.http_redirect.location == f"https://{DOMAIN}/"
    assert edge.odoo_redirect is not None and edge.odoo_redirect.status == 303
    assert edge.certificate == CERT
    assert {c[2] for c in http.calls} == {RESERVED_IP}
    assert ("GET", f"http://{DOMAIN}/", RESERVED_IP, 80) in http.calls


def test_a_database_down_answer_is_read_from_the_health_json():
    http = FakeHttp({"/web/health?db_server_status=1": HttpResult("u", 500, 3, '{"status": "fail", '
                                                                               '"db_server_status": false}')})
    edge = probe_edge(http, EdgePath(ADDRESS, DOMAIN, "droplet"), 5, lambda c, h, t: None)
    assert edge.health is not None and edge.health.db_server_status is False and edge.health.status == 500


# ------------------------------------------------------------------------------- logs, exec, shell as data

DEPLOY = Deploy(project="odoo", odoo=OdooSpec(database="acme"), postgres=PostgresSpec(), edge=EdgeSpec())
COMPOSE = ("docker", "compose", "-p", "odoo", "-f", "/etc/odoo-droplet/stack/docker-compose.yml")
NOW = dt.datetime(2026, 12, 2, 3, 15, tzinfo=dt.UTC)


def test_logs_of_a_service_are_compose_logs_with_timestamps():
    since = parse_since("10m", NOW)
    assert since == NOW - dt.timedelta(minutes=10)
    assert logs_argv(DEPLOY, "odoo", tail=50, since=since, follow=True) == (
        *COMPOSE, "logs", "--no-color", "--timestamps", "--tail", "50", "--since", "2026-12-02T03:05:00Z",
        "--follow", "odoo")


def test_logs_of_nginx_and_the_agent_read_their_own_logs():
    assert logs_argv(DEPLOY, "nginx", tail=20, since=None, follow=False) == (
        "tail", "-n", "20", "/var/log/nginx/error.log")
    argv = logs_argv(DEPLOY, "nginx", tail=20, since=parse_since("2026-12-02T03:00:00Z", NOW), follow=False)
    assert argv[:2] == ("sh", "-c") and argv[-2:] == ("/var/log/nginx/error.log", "2026/12/02 03:00:00")
    agent = logs_argv(DEPLOY, "agent", tail=100, since=parse_since("1h", NOW), follow=False)
    assert agent[:6] == ("journalctl", "--no-pager", "-o", "short-iso", "-u", "odoo-droplet-firstboot.service")
    assert agent[-2:] == ("--since", f"@{int((NOW - dt.timedelta(hours=1)).timestamp())}")


def test_since_that_is_neither_a_duration_nor_a_time_is_refused():
    with pytest.raises(Refused, match="yesterday"):
        parse_since("yesterday", NOW)


def test_exec_runs_in_the_service_or_on_the_droplet():
    assert exec_argv(DEPLOY, "odoo", ["--", "odoo", "--version"], tty=False) == (
        *COMPOSE, "exec", "-T", "odoo", "odoo", "--version")
    assert exec_argv(DEPLOY, "odoo", ["bash"], tty=True) == (*COMPOSE, "exec", "odoo", "bash")
    assert exec_argv(DEPLOY, None, ["--", "df", "-h"], tty=False) == ("df", "-h")
    with pytest.raises(Refused, match="no command"):
        exec_argv(DEPLOY, None, ["--"], tty=False)


def test_shell_is_odoos_shell_on_the_deploys_database():
    assert shell_argv(DEPLOY, tty=True) == (*COMPOSE, "exec", "odoo", "odoo", "shell", "-d", "acme", "--no-http")


def test_logs_and_exec_stream_through_the_channel_and_return_the_remote_status(world, capsys):
    w = world()
    w.channel.attach_code = 3
    config = str(w.tmp / "deploy.yaml")
    assert main(["logs", "--config", config, "--service", "nginx", "--tail", "5"]) == 3
    assert main(["exec", "--config", config, "--droplet", str(DROPLET), "--", "odoo", "--version"]) == 3
    assert main(["shell", "--config", config]) == 3
    assert [a for a, _ in w.channel.attached] == [
        ("tail", "-n", "5", "/var/log/nginx/error.log"),
        ("odoo", "--version"),
        (*COMPOSE, "exec", "-T", "odoo", "odoo", "shell", "-d", "odoo", "--no-http"),
    ]
    assert w.channel.sent == []  # nothing captured: the output streamed
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    assert out == ""  # stdout is the remote's own output; what ran where is said on stderr
    assert f"# droplet {DROPLET} ({ADDRESS}): tail -n 5 /var/log/nginx/error.log" in err


def test_the_readme_lists_every_cause_doctor_can_name():
    from builder.doctor.causes import CAUSE_IDS

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme[readme.index("## When it answers 502"):]
    section = section[:section.index("\n## ", 5)]
    assert [i for i in CAUSE_IDS if f"| `{i}` |" not in section] == []


def test_the_certificate_is_read_as_the_edge_presents_it(tmp_path: Path):
    """A TLS server on loopback with an expired certificate: doctor reads its names and not-after (it does not
    refuse it: judging it is the checks' job)."""
    import socket
    import ssl
    import threading

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    from builder.commands.doctor import peer_certificate

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test CA")])
    ended = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(ended - dt.timedelta(days=90)).not_valid_after(ended)
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(DOMAIN)]), critical=False)
            .sign(key, hashes.SHA256()))
    (tmp_path / "c.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "k.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                       serialization.PrivateFormat.PKCS8,
                                                       serialization.NoEncryption()))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(tmp_path / "c.pem", tmp_path / "k.pem")
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(10)
    port = server.getsockname()[1]

    def serve() -> None:
        conn, _ = server.accept()
        conn.settimeout(10)
        try:
            with ctx.wrap_socket(conn, server_side=True):
                pass
        except (OSError, ssl.SSLError):
            pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        facts = peer_certificate("127.0.0.1", DOMAIN, 5, port=port)
    finally:
        thread.join(10)
        server.close()
    assert facts is not None
    assert facts.names == (DOMAIN,) and facts.not_after == ended and facts.issuer == "Test CA"
