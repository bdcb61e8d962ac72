"""The SSH channel (builder/ssh.py) as data: the argv every connection runs with, how ssh's own failures are
told to the operator, pinning host keys from what the agent published (no trust on first use), and the
host-key document both sides share (firstboot/contract/hostkeys.py)."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shlex
import stat
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from builder import ssh
from builder.errors import OperatorError
from firstboot.contract.hostkeys import (
    HostKeyError,
    host_keys_document,
    known_hosts_text,
    parse_host_keys_document,
    parse_public_key,
    sha256_fingerprint,
)
from firstboot.contract.keys import host_keys_key


def _pub(kind: str, payload: bytes) -> str:
    blob = len(kind).to_bytes(4, "big") + kind.encode() + len(payload).to_bytes(4, "big") + payload
    return f"{kind} {base64.b64encode(blob).decode()} root@droplet"


ED = _pub("ssh-ed25519", b"E" * 32)
ECDSA = _pub("ecdsa-sha2-nistp256", b"C" * 65)
RSA = _pub("ssh-rsa", b"R" * 270)


@pytest.fixture
def target(tmp_path: Path) -> ssh.SshTarget:
    return ssh.SshTarget(address="10.213.0.7", key_file=tmp_path / "id_ed25519", known_hosts=tmp_path / "kh")


def _opts(argv: list[str]) -> dict[str, str]:
    return dict(argv[i + 1].split("=", 1) for i, a in enumerate(argv) if a == "-o")


# ---------------------------------------------------------------- argv


def test_argv_pins_the_host_key_uses_only_the_given_key_and_never_prompts(target: ssh.SshTarget) -> None:
    argv = ssh.ssh_argv(target, ["docker", "ps"])
    opts = _opts(argv)
    assert argv[0] == "ssh"
    assert argv[argv.index("-i") + 1] == str(target.key_file)
    assert opts["StrictHostKeyChecking"] == "yes"
    assert opts["UserKnownHostsFile"] == str(target.known_hosts)
    assert opts["GlobalKnownHostsFile"] == "/dev/null"
    assert opts["IdentitiesOnly"] == "yes" and opts["BatchMode"] == "yes"
    assert opts["PasswordAuthentication"] == "no" and opts["UpdateHostKeys"] == "no"
    assert int(opts["ConnectTimeout"]) > 0
    assert "root@10.213.0.7" in argv and argv[argv.index("-p") + 1] == "22"


def test_argv_quotes_the_remote_command_as_one_word_after_the_separator(target: ssh.SshTarget) -> None:
    remote = ["sh", "-c", "echo 'a b' $HOME; rm -rf /tmp/x"]
    argv = ssh.ssh_argv(target, remote)
    assert argv[-2] == "--"
    assert shlex.split(argv[-1]) == remote  # the remote shell sees exactly the argv asked for


def test_argv_tty_only_when_asked_and_an_empty_remote_is_a_login_shell(target: ssh.SshTarget) -> None:
    assert "-T" in ssh.ssh_argv(target, ["true"]) and "-tt" not in ssh.ssh_argv(target, ["true"])
    shell = ssh.ssh_argv(target, [], tty=True)
    assert "-tt" in shell and shell[-1] == "--"


def test_argv_other_user_and_port(tmp_path: Path) -> None:
    t = ssh.SshTarget("10.0.0.1", tmp_path / "k", tmp_path / "kh", user="odoo", port=2222)
    argv = ssh.ssh_argv(t, ["id"])
    assert "odoo@10.0.0.1" in argv and argv[argv.index("-p") + 1] == "2222"


def test_no_option_can_turn_strict_checking_off_whatever_the_command(target: ssh.SshTarget) -> None:
    for remote in (["true"], ["-o", "StrictHostKeyChecking=no"], []):
        argv = ssh.ssh_argv(target, remote)
        before = argv[: argv.index("--")]
        assert _opts(before)["StrictHostKeyChecking"] == "yes"
        assert "StrictHostKeyChecking=no" not in before and "accept-new" not in " ".join(before)


def test_argv_carries_no_secret_only_the_key_path(tmp_path: Path) -> None:
    # A key made here, at test time: the repository holds no private key, not even a test's.
    pem = Ed25519PrivateKey.generate().private_bytes(Encoding.PEM, PrivateFormat.OpenSSH, NoEncryption())
    key = tmp_path / "id_ed25519"
    key.write_bytes(pem)
    body = pem.decode().splitlines()[1]
    argv = ssh.ssh_argv(ssh.SshTarget("10.0.0.1", key, tmp_path / "kh"), ["uptime"])
    joined = " ".join(argv)
    assert "PRIVATE KEY" not in joined and body not in joined and str(key) in joined


# ---------------------------------------------------------------- ssh's own failures


@pytest.mark.parametrize(("stderr", "kind", "words"), [
    (b"@@@@\n@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\n...\nHost key verification failed.\n",
     ssh.HostKeyChanged, ["changed", "not connecting"]),
    (b"No ED25519 host key is known for 10.213.0.7 and you have requested strict checking.\n"
     b"Host key verification failed.\n", ssh.HostKeyChanged, ["changed"]),
    (b"ssh: connect to host 10.213.0.7 port 22: Connection refused\n", ssh.Unreachable,
     ["10.213.0.7", "port 22", "Connection refused"]),
    (b"ssh: connect to host 10.213.0.7 port 22: Connection timed out\n", ssh.Unreachable, ["timed out"]),
    (b"root@10.213.0.7: Permission denied (publickey).\n", ssh.KeyRefused, ["refused the key"]),
])
def test_channel_failures_are_operator_errors_with_exit_1(target: ssh.SshTarget, stderr: bytes,
                                                          kind: type, words: list[str]) -> None:
    err = ssh.channel_error(target, 255, stderr)
    assert isinstance(err, kind) and isinstance(err, OperatorError)
    assert err.exit_code == 1 and err.hint
    for w in words:
        assert w in err.text()


def test_the_remote_commands_own_status_is_not_a_channel_error(target: ssh.SshTarget) -> None:
    assert ssh.channel_error(target, 1, b"Connection refused") is None  # e.g. curl on the droplet said so
    assert ssh.channel_error(target, 255, b"some program exited 255\n") is None


def test_run_raises_for_a_changed_key_and_returns_the_remote_status_otherwise(
        target: ssh.SshTarget, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[list[str]] = []

    def fake_run(argv: list[str], **kw: object) -> subprocess.CompletedProcess[bytes]:
        calls.append(argv)
        if "changed" in argv[-1]:
            return subprocess.CompletedProcess(argv, 255, b"", b"Host key verification failed.\n")
        return subprocess.CompletedProcess(argv, 3, b"out", b"")

    monkeypatch.setattr(ssh.subprocess, "run", fake_run)
    assert ssh.run(target, ["false"], timeout=5).returncode == 3
    with pytest.raises(ssh.HostKeyChanged):
        ssh.run(target, ["echo", "changed"], timeout=5)
    assert all(_opts(a)["StrictHostKeyChecking"] == "yes" for a in calls)


def test_run_turns_a_timeout_into_status_124(target: ssh.SshTarget, monkeypatch: pytest.MonkeyPatch) -> None:
    def slow(argv: list[str], **kw: object) -> subprocess.CompletedProcess[bytes]:
        raise subprocess.TimeoutExpired(argv, 2.0, output=b"partial")

    monkeypatch.setattr(ssh.subprocess, "run", slow)
    res = ssh.run(target, ["sleep", "99"], timeout=2.0)
    assert res.returncode == ssh.TIMEOUT_EXIT and res.stdout == b"partial" and b"timed out" in res.stderr


# ---------------------------------------------------------------- the host-key document


def test_fingerprint_is_what_ssh_keygen_prints(tmp_path: Path) -> None:
    key = tmp_path / "k"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    line = key.with_name("k.pub").read_text()
    printed = subprocess.run(["ssh-keygen", "-lf", str(key) + ".pub"], capture_output=True, text=True,
                             check=True).stdout.split()[1]
    assert parse_public_key(line).fingerprint == printed


def test_document_round_trips_and_lists_keys_in_a_stable_order() -> None:
    dsa = _pub("ssh-dss", b"D" * 400)  # cloud-init makes one; OpenSSH neither offers nor accepts it
    doc = host_keys_document(7, [RSA, ED, ECDSA, ED, "", dsa], "2026-12-02T13:00:00Z")
    assert [k["type"] for k in doc["keys"]] == ["ssh-ed25519", "ecdsa-sha2-nistp256", "ssh-rsa"]
    keys = parse_host_keys_document(json.loads(json.dumps(doc)), 7)
    assert [k.fingerprint for k in keys] == [k["fingerprint"] for k in doc["keys"]]
    assert keys[0].fingerprint == "SHA256:" + base64.b64encode(
        hashlib.sha256(base64.b64decode(ED.split()[1])).digest()).decode().rstrip("=")


@pytest.mark.parametrize("mutate", [
    lambda d: d.update(droplet_id=8),  # another droplet's keys
    lambda d: d.update(keys=[]),
    lambda d: d["keys"][0].update(fingerprint=sha256_fingerprint(ECDSA.split()[1])),  # key and fingerprint differ
    lambda d: d["keys"][0].update(type="ssh-rsa"),  # the blob says ed25519
    lambda d: d["keys"][0].update(key="not base64!"),
])
def test_a_document_that_does_not_check_is_refused(mutate) -> None:  # type: ignore[no-untyped-def]
    doc = host_keys_document(7, [ED, ECDSA], "2026-12-02T13:00:00Z")
    mutate(doc)
    with pytest.raises(HostKeyError):
        parse_host_keys_document(doc, 7)


def test_known_hosts_lines_name_the_address_and_the_port_off_22() -> None:
    keys = [parse_public_key(ED)]
    assert known_hosts_text("10.0.0.9", keys) == f"10.0.0.9 ssh-ed25519 {ED.split()[1]}\n"
    assert known_hosts_text("10.0.0.9", keys, 2222).startswith("[10.0.0.9]:2222 ssh-ed25519 ")


# ---------------------------------------------------------------- pinning


class FakeSpaces:
    def __init__(self, store: dict[str, dict]) -> None:
        self.store = store

    def get_json(self, key: str) -> dict | None:
        return self.store.get(key)


def test_pin_writes_a_private_known_hosts_file_with_the_published_keys(tmp_path: Path) -> None:
    spaces = FakeSpaces({host_keys_key(7): host_keys_document(7, [ED, ECDSA], "t")})
    dest = ssh.pin_host_keys(spaces, 7, "10.213.0.7", tmp_path / "kh" / "7")
    lines = dest.read_text().splitlines()
    assert lines == [f"10.213.0.7 {ED.split()[0]} {ED.split()[1]}", f"10.213.0.7 {ECDSA.split()[0]} {ECDSA.split()[1]}"]
    assert stat.S_IMODE(os.stat(dest).st_mode) == 0o600


@pytest.mark.parametrize(("spaces", "why"), [
    (None, "no Spaces bucket"),
    (FakeSpaces({}), "nothing published"),
    (FakeSpaces({host_keys_key(7): {"droplet_id": 8, "keys": []}}), "does not check"),
])
def test_no_trust_on_first_use_unpublished_keys_are_an_error_and_nothing_is_written(
        tmp_path: Path, spaces: FakeSpaces | None, why: str) -> None:
    dest = tmp_path / "kh"
    with pytest.raises(ssh.HostKeysNotPublished) as info:
        ssh.pin_host_keys(spaces, 7, "10.213.0.7", dest)
    assert why in info.value.text() and "state/hostkeys/7.json" in info.value.text()
    assert info.value.exit_code == 1 and not dest.exists()


# ---------------------------------------------------------------- resolving


def test_key_file_from_the_environment_first_then_the_settings(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.write_text("x")
    b.write_text("y")
    assert ssh.key_file_for(str(b), {ssh.SSH_KEY_ENV: str(a)}) == a
    assert ssh.key_file_for(str(b), {}) == b
    with pytest.raises(ssh.NoSshKey) as none:
        ssh.key_file_for(None, {})
    assert none.value.exit_code == 2 and ssh.SSH_KEY_ENV in none.value.text()
    with pytest.raises(ssh.NoSshKey):
        ssh.key_file_for(str(tmp_path / "missing"), {})


def test_md5_fingerprint_is_digitaloceans() -> None:
    from localcloud.api.shapes import ssh_fingerprint

    assert ssh.md5_fingerprint(ED) == ssh_fingerprint(ED)
    assert ssh.md5_fingerprint("garbage") is None


def test_target_for_a_droplet_pins_its_keys_for_its_public_address(tmp_path: Path) -> None:
    spaces = FakeSpaces({host_keys_key(7): host_keys_document(7, [ED], "t")})
    droplet = {"id": 7, "networks": {"v4": [{"type": "private", "ip_address": "10.1.0.2"},
                                           {"type": "public", "ip_address": "10.213.0.7"}]}}
    t = ssh.target_for(droplet, spaces, tmp_path / "key", known_hosts_dir=tmp_path / "pinned")
    assert t == ssh.SshTarget("10.213.0.7", tmp_path / "key", tmp_path / "pinned" / "7")
    assert t.known_hosts.read_text().startswith("10.213.0.7 ssh-ed25519 ")
    with pytest.raises(ssh.Unreachable):
        ssh.target_for({"id": 8, "networks": {"v4": []}}, spaces, tmp_path / "key")


class FakeCloud:
    def __init__(self, holder: int | None) -> None:
        self.holder = holder

    def reserved_ip(self, ip: str) -> dict:
        return {"ip": ip, "droplet": {"id": self.holder} if self.holder else None}


def test_the_default_droplet_is_the_reserved_ip_holder() -> None:
    from firstboot.config import Deploy, ReservedIpSpec

    deploy = Deploy(reserved_ip=ReservedIpSpec("address", "127.0.0.9"))
    assert ssh.resolve_droplet_id(FakeCloud(42), deploy, None, None) == 42
    assert ssh.resolve_droplet_id(FakeCloud(42), deploy, None, 5) == 5
    with pytest.raises(ssh.NoDroplet) as unassigned:
        ssh.resolve_droplet_id(FakeCloud(None), deploy, None, None)
    assert "127.0.0.9" in unassigned.value.text() and "--droplet" in unassigned.value.text()
    with pytest.raises(ssh.NoDroplet):
        ssh.resolve_droplet_id(FakeCloud(42), Deploy(reserved_ip=ReservedIpSpec("none")), None, None)
