"""Every operator-side error path the other layers exercise, driven through `builder.cli.main([...])`: each
ends with a message on stderr, one JSON object on stdout with --json, the right exit code, and never a
traceback.

The failures are injected below the commands, so the real mapping code runs: a stand-in for pydo's client
(answers, error bodies and raised HTTP errors as pydo gives them; the real `Cloud.call` retries and maps
them), a stand-in S3 client under the real `Spaces` (the real botocore exceptions), a fake `packer` binary
on PATH (the real `bake`/`run_packer`), a fake clock for the deployer's wait, and localcloud.control's `up`.
"""

from __future__ import annotations

import copy
import functools
import json
import textwrap
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError, ServiceRequestError
from botocore.exceptions import ClientError, EndpointConnectionError

import builder.commands.droplet as droplet_command
import builder.commands.options as options
from builder.cli import main
from builder.deploy import Deployer
from builder.doclient import Cloud
from builder.spaces import Spaces

PROJECT = "acme"
REGION = "nyc3"
SPACES_ENDPOINT = "http://127.0.0.1:9"  # never connected to: the S3 client is a stand-in
HOLDER = 7
RESERVED_IP = "159.203.0.7"  # public (settings refuse documentation ranges)
SECRETS = {
    "DB_PASSWORD": "cli-errors-db-secret-0001",
    "ADMIN_PASSWD": "cli-errors-admin-secret-0002",
    "DIGITALOCEAN_TOKEN": "cli-errors-do-token-0003",
    "SPACES_KEY": "cli-errors-spaces-key-0004",
    "SPACES_SECRET": "cli-errors-spaces-secret-0005",
}
SNAPSHOT = {"id": 5, "name": f"{PROJECT}-1.0.0-0123456789ab", "created_at": "2026-01-01T00:00:00Z", "tags": []}


def settings(reserved_ip: str = "none") -> str:
    return textwrap.dedent(
        f"""\
        project: {PROJECT}
        ship_version: 1.0.0
        droplet: {{region: {REGION}, size: s-2vcpu-4gb, base_image: debian-12-x64}}
        reserved_ip: {reserved_ip}
        odoo: {{image: odoo, tag: "18.0", modules: [base, web], database: odoo}}
        postgres: {{mode: selfhost, image: "postgres:16"}}
        edge: {{tls: self-signed}}
        spaces: {{region: {REGION}, bucket: {PROJECT}-proofs}}
        """
    )


ZONE = "acme.example"


def settings_with_dns() -> str:
    return settings() + f"dns: {{domain: {ZONE}, record: erp}}\n"


# ------------------------------------------------------------------------------- the DigitalOcean API


class FakeResponse:
    def __init__(self, status: int, body: dict[str, Any], headers: dict[str, str]):
        self.status_code, self.body, self.headers = status, body, headers

    def json(self) -> dict[str, Any]:
        return self.body


def http_error(status: int, error_id: str, message: str, retry_after: int | None = None) -> HttpResponseError:
    """What pydo raises for an error status it does not return as a body."""
    err = HttpResponseError(message=f"({error_id}) {message}")
    err.status_code = status
    err.response = FakeResponse(status, {"id": error_id, "message": message},
                                {"retry-after": str(retry_after)} if retry_after is not None else {})
    return err


def error_body(error_id: str, message: str) -> dict[str, str]:
    """What pydo returns (instead of raising) for most 404s: DigitalOcean's error body."""
    return {"id": error_id, "message": message, "request_id": "req-1"}


Answer = Any  # a value returned (copied), an exception raised, or a callable given the call's arguments


def droplet(droplet_id: int, status: str = "active") -> dict[str, Any]:
    return {"id": droplet_id, "name": f"{PROJECT}-{droplet_id}", "status": status, "tags": [PROJECT],
            "networks": {"v4": [{"type": "public", "ip_address": "192.0.2.10"}] if status == "active" else []}}


def default_answers() -> dict[str, Answer]:
    return {
        "account.get": {"account": {"status": "active"}},
        "images.list": {"images": [SNAPSHOT], "links": {}},
        "droplets.list": {"droplets": [], "links": {}},
        "droplets.get": lambda droplet_id: {"droplet": droplet(droplet_id)},
        "droplets.create": {"droplet": droplet(HOLDER, "new")},
        "droplets.destroy": None,
        "reserved_ips.get": lambda ip: {"reserved_ip": {"ip": ip, "region": {"slug": REGION},
                                                        "droplet": {"id": HOLDER}}},
        "reserved_ips.create": {"reserved_ip": {"ip": RESERVED_IP, "region": {"slug": REGION}}},
        "tags.create": {}, "tags.assign_resources": None,
        "domains.get": lambda zone: {"domain": {"name": zone, "ttl": 1800, "zone_file": ""}},
        "domains.list_records": lambda zone, type=None, name=None: {
            "domain_records": [{"id": 11, "type": "A", "name": "erp", "data": RESERVED_IP, "ttl": 60}], "links": {}},
        "domains.patch_record": lambda zone, record_id, body=None: {"domain_record": {"id": record_id, **(body or {})}},
    }


class FakeDo:
    """Stands in for pydo.Client: `client.droplets.get(...)` answers from `answers["droplets.get"]`."""

    def __init__(self, answers: dict[str, Answer]):
        self.answers = answers
        self.calls: list[str] = []

    def __getattr__(self, group: str) -> Any:
        if group.startswith("_"):
            raise AttributeError(group)
        return _Group(self, group)

    def answer(self, op: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        self.calls.append(op)
        found = self.answers[op]
        if isinstance(found, BaseException):
            raise found
        if callable(found):
            return found(*args, **{k: v for k, v in kwargs.items() if k not in ("page", "per_page")})
        return copy.deepcopy(found)

    def changed_anything(self) -> bool:
        return any(op.endswith((".create", ".destroy", ".assign_resources")) for op in self.calls)


@dataclass
class _Group:
    api: FakeDo
    name: str

    def __getattr__(self, op: str) -> Callable[..., Any]:
        return lambda *args, **kwargs: self.api.answer(f"{self.name}.{op}", args, kwargs)


# ------------------------------------------------------------------------------- Spaces


class FakeS3:
    """The boto3 S3 client's few calls `Spaces` makes; `fail` is raised by every one when set."""

    def __init__(self, fail: Exception | None = None):
        self.fail = fail

    def _call(self, op: str, **kwargs: Any) -> Any:
        if self.fail is not None:
            raise self.fail
        if op == "get_object":
            raise ClientError({"Error": {"Code": "NoSuchKey", "Message": "no such key"}}, "GetObject")
        return {"Contents": []} if op == "list_objects_v2" else {}

    def __getattr__(self, op: str) -> Callable[..., Any]:
        return functools.partial(self._call, op)


SPACES = {
    "ok": None,
    "down": EndpointConnectionError(endpoint_url=SPACES_ENDPOINT),
    "refused": ClientError({"Error": {"Code": "InvalidAccessKeyId", "Message": "bad key"}}, "HeadBucket"),
}


# ------------------------------------------------------------------------------- the cases


@dataclass(frozen=True)
class Case:
    name: str
    argv: tuple[str, ...]  # {config} is replaced by the settings file's path, {tmp} by the test's folder
    code: int
    says: tuple[str, ...]  # on stderr, every one
    json: dict[str, Any] = field(default_factory=dict)  # keys the --json object must hold, with these values
    reserved_ip: str = "none"
    settings_text: str | None = None  # instead of settings(reserved_ip)
    api: dict[str, Answer] = field(default_factory=dict)
    spaces: str = "ok"
    unset: tuple[str, ...] = ()  # secrets taken out of the environment
    packer: str | None = None  # "missing", or the fake packer's build output (it then exits 1)
    setup: Callable[[pytest.MonkeyPatch, Path], None] | None = None
    creates: bool = False  # the failure comes after the droplet was asked for (its intent is kept for a re-run)


PACKER_FAILS = """\
1700000000,,ui,say,==> digitalocean.odoo: Provisioning with shell script: scripts/10-base.sh
1700000001,,ui,error,==> digitalocean.odoo: E: Unable to locate package nope
1700000002,,ui,error,Build 'digitalocean.odoo' errored after 1 minute: Script exited with non-zero exit status: 100.Allowed exit codes are: [0]
"""


def local_up_fails(monkeypatch: pytest.MonkeyPatch, tmp: Path) -> None:
    from localcloud import control

    def up(home: Path | None = None, **kwargs: Any) -> None:
        raise RuntimeError("the API server exited with 1:\n(no log)")

    monkeypatch.setenv("ODL_LOCALCLOUD_HOME", str(tmp / "localcloud"))
    monkeypatch.setattr(control, "up", up)


def no_ssh_key(monkeypatch: pytest.MonkeyPatch, tmp: Path) -> None:
    monkeypatch.delenv("ODL_SSH_KEY", raising=False)


def a_file_where_out_goes(monkeypatch: pytest.MonkeyPatch, tmp: Path) -> None:
    (tmp / "taken").write_text("a file, not a folder")


CASES = [
    # Bad input: the settings, the secrets, the arguments.
    Case("settings not valid YAML", ("check-config", "{config}"), 2, ("(yaml)", "not valid YAML", "nothing was created"),
         {"problems": ...}, settings_text="project: [acme\n"),
    Case("settings file missing", ("check-config", "{tmp}/nope.yaml"), 2, ("nope.yaml",), {"problems": ...}),
    Case("a secret missing", ("check-config", "{config}"), 2, ("secrets.DB_PASSWORD", "not set"), {"problems": ...},
         unset=("DB_PASSWORD",)),
    Case("API token missing", ("status", "--config", "{config}"), 2, ("secrets.DIGITALOCEAN_TOKEN",),
         {"problems": ...}, unset=("DIGITALOCEAN_TOKEN",)),
    Case("size too small for Odoo", ("render", "--config", "{config}", "--size", "s-1vcpu-1gb", "--out", "{tmp}/out"),
         2, ("s-1vcpu-2gb",), {"problems": ...}),
    Case("nothing to verify", ("verify", "--config", "{config}"), 2, ("nothing to verify", "--address")),
    Case("destroy refuses the reserved IP's holder", ("destroy", "--config", "{config}", str(HOLDER)), 2,
         (f"droplet {HOLDER} holds the reserved IP {RESERVED_IP}", "--force"), {"refused": HOLDER},
         reserved_ip=RESERVED_IP),
    # The DigitalOcean API.
    Case("401 bad token", ("droplet", "--config", "{config}"), 2, ("401", "DIGITALOCEAN_TOKEN"), {"api_status": 401},
         api={"account.get": http_error(401, "unauthorized", "Unable to authenticate you")}),
    Case("403 token without scope", ("droplet", "--config", "{config}"), 2, ("403", "scope"), {"api_status": 403},
         api={"images.list": http_error(403, "forbidden", "You are not authorized to perform this operation")}),
    Case("404 snapshot not found", ("droplet", "--config", "{config}", "--snapshot", "nope"), 2,
         ("no snapshot named nope", "make image"), {"api_status": 404}),
    Case("404 reserved IP not found", ("droplet", "--config", "{config}"), 2,
         (f"reserved IP {RESERVED_IP}", "404", "reserved_ip in the settings"), {"api_status": 404},
         reserved_ip=RESERVED_IP, api={"reserved_ips.get": error_body("not_found", "The resource was not found.")}),
    Case("422 reserved IP in another region", ("droplet", "--config", "{config}"), 2, ("422", "ams3", "one region"),
         {"api_status": 422}, reserved_ip=RESERVED_IP,
         api={"reserved_ips.get": {"reserved_ip": {"ip": RESERVED_IP, "region": {"slug": "ams3"}, "droplet": None}}}),
    Case("404 unknown droplet for destroy", ("destroy", "--config", "{config}", str(HOLDER), "999999999", "--force"), 2,
         ("droplet 999999999", "404"), {"api_status": 404},
         api={"droplets.get": lambda droplet_id: {"droplet": droplet(droplet_id)} if droplet_id == HOLDER
              else error_body("not_found", "The resource you were accessing could not be found.")}),
    Case("429 rate limit outlasting the retries", ("status", "--config", "{config}"), 1, ("rate limit", "429"),
         {"api_status": 429}, api={"droplets.list": http_error(429, "too_many_requests", "Too many requests", 1)}),
    Case("API unreachable", ("status", "--config", "{config}"), 1, ("list droplets: Connection refused", "DIGITALOCEAN_API_URL"),
         {"api_status": None}, api={"account.get": ServiceRequestError("Connection refused"),
                                    "droplets.list": ServiceRequestError("Connection refused")}),
    # The DNS zone (dns.domain), before anything is created.
    Case("DNS zone missing", ("droplet", "--config", "{config}"), 2,
         (f"the DNS zone {ZONE} (dns.domain) does not exist", "nothing was created", f"domain create {ZONE}"),
         {"zone": ZONE, "missing": "zone"}, settings_text=settings_with_dns(),
         api={"domains.get": error_body("not_found", "The resource you were accessing could not be found.")}),
    Case("DNS zone not readable with the token", ("droplet", "--config", "{config}"), 2,
         ("DIGITALOCEAN_TOKEN lacks the `domain` scope (domain:read)", ZONE, "domain:update"),
         {"zone": ZONE, "missing": "domain:read"}, settings_text=settings_with_dns(),
         api={"domains.get": http_error(403, "forbidden", "You are not authorized to perform this operation")}),
    Case("DNS record not writable with the droplet's token", ("droplet", "--config", "{config}"), 2,
         ("DROPLET_TOKEN lacks the `domain` scope (domain:update)", f"updating the A record of the DNS zone {ZONE}"),
         {"zone": ZONE, "missing": "domain:update"}, settings_text=settings_with_dns(), setup=lambda mp, tmp:
         mp.setenv("DROPLET_TOKEN", "cli-errors-droplet-token-0006"),
         api={"domains.patch_record": http_error(403, "forbidden", "You are not authorized to perform this operation")}),
    Case("check-config --online: DNS zone missing", ("check-config", "{config}", "--online"), 2,
         (f"the DNS zone {ZONE} (dns.domain) does not exist",), {"zone": ZONE}, settings_text=settings_with_dns(),
         api={"domains.get": error_body("not_found", "The resource you were accessing could not be found.")}),
    # Spaces.
    Case("Spaces unreachable", ("droplet", "--config", "{config}"), 1, ("Spaces unreachable", SPACES_ENDPOINT),
         {"error": ...}, reserved_ip="auto", spaces="down"),
    Case("Spaces refuses the keys", ("droplet", "--config", "{config}"), 1, ("Spaces refused the key", "SPACES_KEY"),
         {"error": ...}, spaces="refused"),
    # Packer.
    Case("packer missing", ("image", "--config", "{config}", "--workdir", "{tmp}/packer"), 1, ("packer:",),
         {"error": ...}, packer="missing"),
    Case("packer build failed", ("image", "--config", "{config}", "--workdir", "{tmp}/packer"), 1,
         ("the image build failed: 10-base.sh failed: E: Unable to locate package nope",
          f"droplets tagged {PROJECT}-image-build still exist: 99"),
         {"error": ..., "build_droplets_left": [99]}, packer=PACKER_FAILS,
         api={"droplets.list": lambda tag_name=None: {"droplets": [droplet(99)] if tag_name else [], "links": {}}}),
    # The deploy.
    Case("droplet never active", ("droplet", "--config", "{config}", "--no-user-data"), 1,
         (f"droplet {HOLDER} not active after 600 s",), {"droplet_id": HOLDER}, creates=True,
         api={"droplets.get": lambda droplet_id: {"droplet": droplet(droplet_id, "new")}}),
    # On a running droplet (doctor, logs, exec, shell): which droplet, with which key; refused before any SSH.
    Case("doctor: no droplet named and no reserved IP", ("doctor", "--config", "{config}"), 2,
         ("which droplet?", "--droplet ID")),
    Case("doctor: no SSH key", ("doctor", "--config", "{config}", "--droplet", str(HOLDER)), 2,
         ("no SSH key", "ODL_SSH_KEY"), {"error": ...}, setup=no_ssh_key),
    Case("logs: --since neither a duration nor a time", ("logs", "--config", "{config}", "--since", "yesterday"), 2,
         ("--since 'yesterday'", "10m"), {"error": ...}),
    Case("logs: unknown droplet", ("logs", "--config", "{config}", "--droplet", "999999999"), 2,
         ("droplet 999999999", "404"), {"api_status": 404},
         api={"droplets.get": lambda droplet_id: error_body("not_found", "The resource could not be found.")}),
    Case("exec: no command", ("exec", "--config", "{config}", "--service", "odoo"), 2, ("no command to run", "--")),
    Case("backup-now: no droplet named and no reserved IP", ("backup-now", "--config", "{config}"), 2,
         ("which droplet?", "--droplet ID")),
    Case("restore: no droplet named and no reserved IP", ("restore", "20261202T030000Z-manual", "--config", "{config}"),
         2, ("which droplet?", "--droplet ID")),
    Case("backups: Spaces unreachable", ("backups", "--config", "{config}"), 1, ("Spaces unreachable",),
         {"error": ...}, spaces="down"),
    Case("shell: the reserved IP is not assigned", ("shell", "--config", "{config}"), 2,
         (f"the reserved IP {RESERVED_IP} is not assigned", "--droplet ID"), reserved_ip=RESERVED_IP,
         api={"reserved_ips.get": {"reserved_ip": {"ip": RESERVED_IP, "region": {"slug": REGION}, "droplet": None}}}),
    # Local files and the local cloud.
    Case("output folder cannot be made", ("render", "--config", "{config}", "--out", "{tmp}/taken/out"), 1,
         ("taken",), {"error": ...}, setup=a_file_where_out_goes),
    Case("local cloud does not start", ("local", "up"), 1, ("local cloud did not start", "exited with 1"),
         {"error": ...}, setup=local_up_fails),
]


@dataclass
class Injected:
    api: FakeDo
    tmp: Path


@pytest.fixture
def inject(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Callable[[Case], Injected]]:
    monkeypatch.chdir(tmp_path)  # .state/ and any .env are the test's own
    for name in [*SECRETS, "REGISTRY", "REGISTRY_TOKEN", "DIGITALOCEAN_API_URL", "SPACES_ENDPOINT"]:
        monkeypatch.delenv(name, raising=False)

    def apply(case: Case) -> Injected:
        for name, value in SECRETS.items():
            if name not in case.unset:
                monkeypatch.setenv(name, value)
        monkeypatch.setenv("SPACES_ENDPOINT", SPACES_ENDPOINT)
        (tmp_path / "deploy.yaml").write_text(case.settings_text or settings(case.reserved_ip))
        api = FakeDo({**default_answers(), **case.api})
        monkeypatch.setattr(options, "make_client", lambda target: api)
        monkeypatch.setattr(options, "Cloud", functools.partial(Cloud, sleep=lambda seconds: None))
        s3 = FakeS3(SPACES[case.spaces])
        monkeypatch.setattr(Spaces, "for_deploy", classmethod(
            lambda cls, deploy, secrets: cls(deploy.spaces.bucket, SPACES_ENDPOINT, s3) if deploy.spaces else None))
        clock = [0.0]
        monkeypatch.setattr(droplet_command, "Deployer", functools.partial(
            Deployer, clock=lambda: clock[0], sleep=lambda s: clock.__setitem__(0, clock[0] + s),
            intent_file=tmp_path / ".state" / "droplet-intent.json"))
        if case.packer is not None:
            bin_dir = tmp_path / "bin"
            bin_dir.mkdir(exist_ok=True)
            if case.packer != "missing":
                script = bin_dir / "packer"
                (tmp_path / "packer-build.out").write_text(case.packer)
                script.write_text(
                    "#!/bin/sh\n"
                    'if [ "$1" = version ]; then echo "Packer v1.6.6"; exit 0; fi\n'
                    f'/bin/cat "{tmp_path / "packer-build.out"}"; exit 1\n'
                )
                script.chmod(0o755)
            monkeypatch.setenv("PATH", str(bin_dir))
        if case.setup is not None:
            case.setup(monkeypatch, tmp_path)
        return Injected(api, tmp_path)

    yield apply


def argv_of(case: Case, tmp: Path, as_json: bool) -> list[str]:
    argv = [a.replace("{config}", str(tmp / "deploy.yaml")).replace("{tmp}", str(tmp)) for a in case.argv]
    return argv + (["--json"] if as_json else [])


@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_error_path_ends_with_a_message_and_an_exit_code(case: Case, as_json: bool, inject, capsys) -> None:
    injected = inject(case)
    code = main(argv_of(case, injected.tmp, as_json))
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    assert code == case.code, err
    assert err.strip(), "no message on stderr"
    for words in case.says:
        assert words in err, f"{words!r} not in stderr:\n{err}"
    if as_json:
        data = json.loads(out)  # one JSON object, nothing else on stdout
        assert data["ok"] is False
        for key, value in case.json.items():
            assert key in data, f"{key} not in {data}"
            if value is not ...:
                assert data[key] == value
    if not case.creates:
        assert not injected.api.changed_anything(), f"something was created or deleted: {injected.api.calls}"
        assert not (injected.tmp / ".state" / "droplet-intent.json").exists()


def test_every_command_is_exercised_by_an_error_case() -> None:
    from builder.commands import COMMANDS

    assert {c.NAME for c in COMMANDS} <= {case.argv[0] for case in CASES}
