"""The self-signed certificate the agent makes at preflight, as data: a leaf for the domain (or the droplet's
address), valid no longer than 398 days. tests/integration/test_self_signed_live.py makes one with the real
openssl and reads it back."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from firstboot.certificate import ensure_self_signed_cert
from firstboot.config import Deploy, EdgeSpec
from firstboot.contract.layout import Layout
from firstboot.gates import CommandResult
from firstboot.metadata import MetadataError
from firstboot.plans.certificate import self_signed_command, self_signed_names


def _addext(argv: tuple[str, ...]) -> list[str]:
    return [argv[i + 1] for i, a in enumerate(argv) if a == "-addext"]


def test_the_certificate_is_a_leaf_for_tls_servers():
    argv = self_signed_command("erp.example.com", None, "/tls/k.pem", "/tls/c.pem")
    assert argv[:3] == ("openssl", "req", "-x509")
    assert _addext(argv) == [
        "basicConstraints=critical,CA:FALSE",
        "keyUsage=critical,digitalSignature",
        "extendedKeyUsage=serverAuth",
        "subjectAltName=DNS:erp.example.com",
    ]
    days = int(argv[argv.index("-days") + 1])
    assert 1 <= days <= 398
    assert argv[argv.index("-subj") + 1] == "/CN=erp.example.com"
    assert argv[argv.index("-keyout") + 1] == "/tls/k.pem" and argv[argv.index("-out") + 1] == "/tls/c.pem"
    assert "ec_paramgen_curve:P-256" in argv and "-nodes" in argv


@pytest.mark.parametrize(
    "domain,ip,expected",
    [
        ("erp.example.com", "203.0.113.10", ("erp.example.com", "DNS:erp.example.com")),
        (None, "203.0.113.10", ("203.0.113.10", "IP:203.0.113.10")),
        (None, " 203.0.113.10\n", ("203.0.113.10", "IP:203.0.113.10")),
        (None, "2001:db8::1", ("2001:db8::1", "IP:2001:db8::1")),
        (None, "not-an-address", ("localhost", "DNS:localhost")),
        (None, None, ("localhost", "DNS:localhost")),
    ],
)
def test_names_the_domain_else_the_address(domain, ip, expected):
    assert self_signed_names(domain, ip) == expected


@pytest.mark.parametrize("domain", ["a/b.example", "x.example,DNS:evil.example", "-bad.example", "a b"])
def test_a_name_that_would_change_the_subject_or_san_is_refused(domain):
    with pytest.raises(ValueError):
        self_signed_command(domain, None, "/k", "/c")


@pytest.mark.parametrize("days", [0, 399, 825])
def test_validity_beyond_398_days_is_refused(days):
    with pytest.raises(ValueError):
        self_signed_command("erp.example.com", None, "/k", "/c", days=days)


@dataclasses.dataclass
class _Metadata:
    ip: str | None

    def public_ipv4(self) -> str:
        if self.ip is None:
            raise MetadataError("http://169.254.169.254/metadata/v1/interfaces/public/0/ipv4/address: timed out")
        return self.ip


@dataclasses.dataclass
class _Agent:
    """What ensure_self_signed_cert touches: the layout, the settings, the metadata and the runner."""

    layout: Layout
    deploy: Deploy
    ip: str | None
    calls: list[tuple[str, ...]] = dataclasses.field(default_factory=list)

    def metadata(self) -> _Metadata:
        return _Metadata(self.ip)

    def run(self, args: tuple[str, ...], timeout: float = 60, stdin: str | None = None) -> CommandResult:
        self.calls.append(args)
        Path(args[args.index("-keyout") + 1]).write_text("KEY")
        Path(args[args.index("-out") + 1]).write_text("CERT")
        return CommandResult(args, 0, "", "")


@pytest.mark.parametrize(
    "domain,ip,san",
    [("erp.example.com", "203.0.113.10", "DNS:erp.example.com"), (None, "203.0.113.10", "IP:203.0.113.10"),
     (None, None, "DNS:localhost")],
)
def test_the_agent_names_its_domain_or_its_public_address(tmp_path, domain, ip, san):
    agent = _Agent(Layout(tmp_path), dataclasses.replace(Deploy(), edge=EdgeSpec(domain=domain)), ip)
    ensure_self_signed_cert(agent)  # type: ignore[arg-type]
    (argv,) = agent.calls
    assert _addext(argv)[-1] == f"subjectAltName={san}"
    key = agent.layout.tls_dir / "selfsigned.key"
    assert key.stat().st_mode & 0o777 == 0o600
    ensure_self_signed_cert(agent)  # type: ignore[arg-type]
    assert len(agent.calls) == 1  # kept while both files are there
