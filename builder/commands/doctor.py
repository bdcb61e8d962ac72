"""`odoo-droplet doctor [--droplet ID] [--json]`: read everything, change nothing, name the probable cause.

Inside the droplet (over SSH, builder/commands/remote.py) it runs the read-only commands of
`builder.doctor.commands_for` (each held to `write_risks`); from outside it probes the edge through the reserved
IP and the droplet's own address (health with db_server_status, login, the websocket handshake with Origin,
HTTP -> HTTPS, the certificate), asks the API who holds the reserved IP and where the DNS record points; then
`parse_all -> diagnose -> report`. Exit 0 healthy, 1 a cause found, 2 bad input. The report goes to the proofs
(`proofs/<doctor id>/doctor.json` in Spaces, and .state/proofs/ here); nothing is written on the droplet.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import socket
import ssl
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.x509.oid import NameOID

from builder.commands.options import Subparsers
from builder.commands.remote import Channel, Session, add_target_options, connect
from builder.doclient import ApiError, Cloud
from builder.doctor import (
    Command,
    CommandOutput,
    DoctorTarget,
    EdgeFacts,
    commands_for,
    diagnose,
    parse_all,
    render_text,
    write_risks,
)
from builder.doctor.checks import Check, Result
from builder.doctor.facts import (
    CertificateFacts,
    DnsFacts,
    HealthProbe,
    HttpProbe,
    LoginProbe,
    ReservedIpFacts,
)
from builder.doctor.report import DoctorReport
from builder.doctor.target import DB_SERVICE, ODOO_SERVICE, REDIS_SERVICE
from builder.errors import OperatorError, SpacesError
from builder.output import Output
from builder.reserved_ip import known_reserved_ip, reserved_ip_holder
from builder.spaces import Spaces
from firstboot.config import Deploy
from firstboot.contract.keys import proof_key
from firstboot.gates import HttpResult
from firstboot.probes import Http, LoopbackHttp
from firstboot.render.compose import project_name

NAME = "doctor"
LOCAL_PROOFS = Path(".state/proofs")  # git-ignored, beside verify's
PARALLEL = 4  # SSH sessions at once: sshd's MaxStartups is 10, and the droplet is the one that may be ailing


def add_parser(subparsers: Subparsers) -> None:
    p = subparsers.add_parser(NAME, help="read the droplet from inside and outside, change nothing, name the "
                                         "probable cause of a 502")
    add_target_options(p)


# --- inside: the read-only commands over SSH -----------------------------------------------------------------

def doctor_target(deploy: Deploy, droplet_id: int, address: str) -> DoctorTarget:
    selfhost = deploy.postgres.mode == "selfhost"
    services = (ODOO_SERVICE, *((DB_SERVICE,) if selfhost else ()), *((REDIS_SERVICE,) if deploy.redis.enabled
                                                                       else ()))
    return DoctorTarget(
        droplet_id=droplet_id, address=address, project=project_name(deploy), services=services,
        database=deploy.odoo.database, db_user=deploy.postgres.user, postgres_selfhost=selfhost,
        db_host=deploy.postgres.host or "127.0.0.1", db_port=deploy.postgres.port, domain=deploy.edge.domain or "",
    )


def gather_inside(channel: Channel, commands: tuple[Command, ...]) -> dict[str, CommandOutput]:
    """Every command's output by name. A read-only rule broken is a bug here, never sent; the channel's own
    failure (unreachable, host key changed) becomes every command's output, said once: doctor still reports
    what it saw from outside, and names the droplet unreachable."""
    for cmd in commands:
        risks = write_risks(cmd)
        if risks:  # pragma: no cover - the unit tests hold commands_for to the rule
            raise OperatorError(f"doctor refuses to run {cmd.name}: {'; '.join(risks)}")

    def one(cmd: Command) -> CommandOutput:
        proc = channel.run(cmd.argv, timeout=cmd.timeout)
        return CommandOutput(proc.returncode, proc.stdout.decode(errors="replace"),
                             proc.stderr.decode(errors="replace"))

    try:
        first = one(commands[0])  # alone: an unreachable droplet costs one connect timeout, not sixteen
    except OperatorError as err:
        return {cmd.name: CommandOutput(255, "", f"ssh: {err.text()}") for cmd in commands}
    outputs = {commands[0].name: first}
    with ThreadPoolExecutor(max_workers=PARALLEL) as pool:
        futures = {cmd.name: pool.submit(one, cmd) for cmd in commands[1:]}
        for name, future in futures.items():
            try:
                outputs[name] = future.result()
            except OperatorError as err:
                outputs[name] = CommandOutput(255, "", f"ssh: {err.text()}")
    return outputs


# --- outside: the edge, the reserved IP, the DNS record ---------------------------------------------------------

@dataclass(frozen=True)
class EdgePath:
    connect: str  # the address connected to (the reserved IP, or the droplet's own)
    host: str  # the Host header and SNI (the domain, or the address itself)
    label: str  # "reserved IP 203.0.113.50" / "droplet 203.0.113.21"

    @property
    def base(self) -> str:
        return f"https://{self.host}"


def _location(r: HttpResult) -> str:
    return {k.lower(): v for k, v in r.headers.items()}.get("location", "")


def _probe(r: HttpResult) -> HttpProbe:
    return HttpProbe(r.url, r.status, _location(r), r.body[:400], r.error or "")


def _db_server_status(body: str) -> bool | None:
    try:
        value = json.loads(body).get("db_server_status")
    except (ValueError, AttributeError):
        return None
    return value if isinstance(value, bool) else None


def probe_health(http: Http, path: EdgePath, timeout: float) -> HealthProbe:
    r = http.get(f"{path.base}/web/health?db_server_status=1", connect_host=path.connect, port=443, tls=True,
                 host_header=path.host, timeout=timeout)
    return HealthProbe(r.url, r.status, _location(r), r.body[:400], r.error or "",
                       db_server_status=_db_server_status(r.body))


def peer_certificate(connect: str, host: str, timeout: float, port: int = 443) -> CertificateFacts | None:
    """The certificate the edge presents for `host` (not verified: doctor reads it, the checks judge it)."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    sni = None if host.replace(".", "").isdigit() or ":" in host else host
    try:
        with socket.create_connection((connect, port), timeout=timeout) as sock, \
                ctx.wrap_socket(sock, server_hostname=sni) as tls:
            der = tls.getpeercert(binary_form=True)
    except (OSError, ssl.SSLError):
        return None
    if not der:
        return None
    cert = x509.load_der_x509_certificate(der)
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = tuple(str(n) for n in san.get_values_for_type(x509.DNSName))
    except x509.ExtensionNotFound:
        names = tuple(str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME))
    issuer = ", ".join(str(a.value) for a in cert.issuer.get_attributes_for_oid(NameOID.COMMON_NAME))
    return CertificateFacts(cert.not_valid_after_utc, names, issuer)


CertReader = Callable[[str, str, float], CertificateFacts | None]


def probe_edge(http: Http, path: EdgePath, timeout: float, cert: CertReader = peer_certificate) -> EdgeFacts:
    kw: dict[str, Any] = {"connect_host": path.connect, "host_header": path.host, "timeout": timeout}
    login = http.get(f"{path.base}/web/login", port=443, tls=True, **kw)
    ws = http.websocket(f"{path.base}/websocket", port=443, tls=True, origin=path.base, **kw)
    plain = http.get(f"http://{path.host}/", port=80, tls=False, **kw)
    odoo = http.get(f"{path.base}/odoo", port=443, tls=True, **kw)
    return EdgeFacts(
        health=probe_health(http, path, timeout),
        login=LoginProbe(login.url, login.status, _location(login), login.body[:400], login.error or "",
                         has_login_form='name="login"' in login.body or "oe_login_form" in login.body),
        websocket=_probe(ws),
        http_redirect=_probe(plain),
        odoo_redirect=_probe(odoo) if odoo.status in (301, 302, 303, 307, 308) else None,
        certificate=cert(path.connect, path.host, timeout),
    )


def dns_targets(cloud: Cloud, deploy: Deploy) -> DnsFacts | None:
    """Where the deploy's DNS record points (A records), when the settings manage one."""
    if deploy.dns is None:
        return None
    zone, record = deploy.dns.domain, deploy.dns.record
    fqdn = zone if record == "@" else f"{record}.{zone}"
    body = cloud.call(f"records of {zone}", cloud.client.domains.list_records, zone, type="A", name=fqdn,
                      per_page=200)
    return DnsFacts(fqdn, tuple(str(r.get("data")) for r in body.get("domain_records", [])
                                if r.get("type") == "A"))


# --- the report ----------------------------------------------------------------------------------------------

def direct_check(probe: HealthProbe, label: str) -> Check:
    """The edge through the other path (the droplet's own address when the facts came through the reserved
    IP): an answer there and none through the reserved IP points at the forwarding, not the droplet."""
    ok = probe.status == 200 and probe.db_server_status is not False
    text = f"{label}: {probe.url}: {probe.status or 'no answer'}" + (f" ({probe.error})" if probe.error else "")
    return Check("edge_health_direct", Result.PASS if ok else Result.FAIL, text)


def report_document(report: DoctorReport, *, doctor_id: str, now: dt.datetime, droplet_id: int,
                    paths: list[EdgePath]) -> dict[str, Any]:
    return {
        **report.to_json(),
        "doctor_id": doctor_id,
        "timestamp": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "droplet_id": droplet_id,
        "edge": [{"connect": p.connect, "host": p.host, "via": p.label} for p in paths],
        "not_gathered": [{"command": name, "why": why} for name, why in report.not_gathered],
    }


def save_proof(doc: dict[str, Any], spaces: Spaces | None, out: Output) -> str:
    """Here (.state/proofs/<id>/doctor.json) and in Spaces (proofs/<id>/doctor.json); never on the droplet."""
    doctor_id = str(doc["doctor_id"])
    local = LOCAL_PROOFS / doctor_id / "doctor.json"
    local.parent.mkdir(parents=True, exist_ok=True)
    local.write_text(json.dumps(doc, indent=2))
    where = str(local)
    if spaces is not None:
        key = proof_key(doctor_id, "doctor.json")
        try:
            spaces.put_json(key, doc)
            where = spaces.url(key)
        except SpacesError as err:
            out.say(f"  (report kept locally only: {err})")
    return where


def diagnose_droplet(session: Session, *, now: dt.datetime, http: Http | None = None,
                     cert: CertReader = peer_certificate, out: Output | None = None
                     ) -> tuple[DoctorReport, list[EdgePath], Mapping[str, CommandOutput]]:
    deploy, cloud, channel = session.deploy, session.cloud, session.channel
    target = doctor_target(deploy, channel.droplet_id, channel.address)
    outputs = gather_inside(channel, commands_for(target))

    rip = known_reserved_ip(deploy, session.spaces)
    holder = reserved_ip_holder(cloud, rip)
    host = deploy.edge.domain or ""
    own = EdgePath(channel.address, host or channel.address, f"droplet {channel.address}")
    paths = [own]
    if rip and holder == channel.droplet_id:  # what users reach first, then the droplet itself
        paths.insert(0, EdgePath(rip, host or rip, f"reserved IP {rip}"))
    http = http or LoopbackHttp()
    timeout = float(deploy.gates.probe_timeout_seconds)
    edge = probe_edge(http, paths[0], timeout, cert)
    try:
        dns = dns_targets(cloud, deploy)
    except ApiError as err:
        dns = None
        if out is not None:
            out.say(f"  (DNS record not read: {err.text()})")
    edge = dataclasses.replace(edge, reserved_ip=ReservedIpFacts(rip, holder) if rip else None, dns=dns)
    report = diagnose(parse_all(outputs, target=target, now=now, edge=edge))
    if len(paths) > 1:
        extra = direct_check(probe_health(http, paths[1], timeout), paths[1].label)
        report = DoctorReport(report.cause, (*report.checks, extra), report.not_gathered)
    return report, paths, outputs


def utcnow() -> dt.datetime:
    """When the facts are gathered: log lines and the certificate's expiry are read against it."""
    return dt.datetime.now(dt.UTC)


def run(args: argparse.Namespace, out: Output) -> int:
    session = connect(args, out)
    now = utcnow()
    report, paths, _ = diagnose_droplet(session, now=now, out=out)
    doctor_id = now.strftime("doctor-%Y%m%d-%H%M%S")
    doc = report_document(report, doctor_id=doctor_id, now=now, droplet_id=session.channel.droplet_id,
                          paths=paths)
    doc["proof"] = save_proof(doc, session.spaces, out)
    via = ", ".join(p.label for p in paths)
    human = (f"doctor: droplet {session.channel.droplet_id} (edge via {via})\n\n" + render_text(report)
             + f"\nreport: {doc['proof']}")
    out.result(doc, human)
    return report.exit_code
