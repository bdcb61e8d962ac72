"""`odoo-droplet droplet`: create a droplet from the snapshot and follow its first boot to a verdict.

Safe to run again: before the create request, an intent (deploy id + settings digest + a random nonce) is
written to .state/droplet-intent.json; the droplet carries the tag odl-<deploy id>-<nonce> (a deploy id has
one-second resolution, so two runs in the same second — another project's, another machine's — would
otherwise share a tag and a re-run could follow someone else's droplet). A re-run with the same settings
after an interrupted run reuses that deploy id and looks for the tagged droplet before creating one, so a
client killed after its POST never leads to two droplets.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from builder.doclient import ApiError, Cloud, ip_of
from builder.errors import DeployFailed, SpacesError
from builder.progress import Follower, is_finished
from builder.reserved_ip import reserved_ip_holder
from builder.spaces import Spaces
from builder.ssh import NoSshKey, key_file_for, md5_fingerprint, public_key_of
from firstboot.config import Deploy, ReservedIpSpec, Secrets
from firstboot.contract.ids import deploy_id_for
from firstboot.contract.keys import RESERVED_IP_KEY, proof_key, proofs_dir_key
from firstboot.contract.layout import Layout

INTENT_FILE = Path(".state/droplet-intent.json")


def deploy_tag(deploy_id: str, nonce: str = "") -> str:
    return f"odl-{deploy_id}-{nonce}" if nonce else f"odl-{deploy_id}"


def new_nonce() -> str:
    return secrets.token_hex(4)


def settings_digest(deploy: Deploy) -> str:
    data = deploy.to_dict()
    data.pop("deploy_id", None)
    data.pop("build", None)
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


def pick_snapshot(snapshots: list[dict], project: str, wanted: str | None = None) -> dict | None:
    """The named snapshot (name or id), else the newest whose name starts with `{project}-`."""
    if wanted:
        for s in snapshots:
            if wanted in (s.get("name"), str(s.get("id"))):
                return s
        return None
    own = [s for s in snapshots if str(s.get("name", "")).startswith(f"{project}-")]
    return max(own, key=lambda s: (s.get("created_at", ""), s.get("id", 0)), default=None)


def droplet_body(deploy: Deploy, deploy_id: str, image_id: int, user_data: str | None,
                 nonce: str = "") -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": f"{deploy.project}-{deploy_id.removeprefix('deploy-')}",
        "region": deploy.droplet.region,
        "size": deploy.droplet.size,
        "image": image_id,
        "tags": sorted({*deploy.droplet.tags, deploy.project, deploy_tag(deploy_id, nonce)}),
        "monitoring": True,
    }
    if deploy.droplet.ssh_keys:
        body["ssh_keys"] = [int(k) if k.isdigit() else k for k in deploy.droplet.ssh_keys]
    if user_data is not None:
        body["user_data"] = user_data
    return body


@dataclass
class Intent:
    deploy_id: str
    digest: str
    nonce: str = ""

    @classmethod
    def load(cls, path: Path) -> Intent | None:
        try:
            data = json.loads(path.read_text())
            return cls(data["deploy_id"], data["digest"], data.get("nonce", ""))
        except (OSError, ValueError, KeyError):
            return None

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.__dict__))
        tmp.replace(path)


@dataclass
class DeployResult:
    droplet_id: int | None = None
    deploy_id: str = ""
    status: str = "failed"
    cutover: bool = False
    reserved_ip: str | None = None
    reserved_ip_holder: int | None = None  # who holds the reserved IP when the command ends (asked the API)
    url: str | None = None
    proofs: str | None = None
    address: str | None = None
    gates: list[dict] = field(default_factory=list)
    error: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "gates"} | {"gates": self.gates}


@dataclass
class Deployer:
    cloud: Cloud
    spaces: Spaces | None
    say: Callable[[str], None]
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    intent_file: Path = INTENT_FILE
    poll_seconds: float = 3.0
    environ: Mapping[str, str] = field(default_factory=lambda: os.environ)

    def with_operator_key(self, deploy: Deploy) -> Deploy:
        """The droplet accepts the settings' `droplet.ssh_keys`; with none, the operator's own key (ODL_SSH_KEY or
        droplet.ssh_key_file: on the local cloud, its account key) when the account has it, so the SSH channel
        (builder/ssh.py) reaches the droplet with the key it holds."""
        if deploy.droplet.ssh_keys:
            return deploy
        try:
            key_file = key_file_for(deploy.droplet.ssh_key_file, self.environ)
        except NoSshKey:
            return deploy
        public_key = public_key_of(key_file)
        fingerprint = md5_fingerprint(public_key) if public_key else None
        if fingerprint is None:
            self.say(f"  (no public key beside {key_file}: the droplet gets no SSH key)")
            return deploy
        try:  # listed, not fetched by fingerprint: a fingerprint in a URL path is percent-encoded by pydo
            registered = {k.get("fingerprint") for k in self.cloud.paged(
                "list SSH keys", self.cloud.client.ssh_keys.list, "ssh_keys")}
        except ApiError as err:
            self.say(f"  (cannot list the account's SSH keys: {err}; the droplet gets none)")
            return deploy
        if fingerprint not in registered:
            self.say(f"  (the account has no SSH key {fingerprint}: the droplet gets none; register it or name "
                     "keys in droplet.ssh_keys)")
            return deploy
        self.say(f"  SSH key {fingerprint} ({key_file}) goes to the droplet")
        return replace(deploy, droplet=replace(deploy.droplet, ssh_keys=(fingerprint,)))

    def resolve_reserved_ip(self, deploy: Deploy) -> Deploy:
        """`auto`: reuse the address recorded in Spaces or create one; an address: check it exists here."""
        rip = deploy.reserved_ip
        if rip.mode == "none":
            return deploy
        if rip.mode == "address":
            try:
                found = self.cloud.reserved_ip(rip.address or "")
            except ApiError as err:
                if err.status == 404:
                    raise ApiError(404, f"reserved IP {rip.address}", "this account has no such reserved IP",
                                   "check reserved_ip in the settings (or use auto)") from None
                raise
            region = (found.get("region") or {}).get("slug")
            if region and region != deploy.droplet.region:
                raise ApiError(422, f"reserved IP {rip.address}", f"it lives in {region}, the droplet in "
                               f"{deploy.droplet.region}", "reserved IPs move only within one region")
            return deploy
        assert self.spaces is not None  # settings validation: auto needs spaces
        recorded = self.spaces.get_json(RESERVED_IP_KEY)
        if recorded and recorded.get("ip"):
            try:
                self.cloud.reserved_ip(recorded["ip"])
                return replace(deploy, reserved_ip=ReservedIpSpec("address", recorded["ip"]))
            except ApiError as err:
                if err.status != 404:
                    raise
                self.say(f"  reserved IP {recorded['ip']} recorded in Spaces no longer exists; creating another")
        created = self.cloud.create_reserved_ip(deploy.droplet.region)
        ip = created["ip"]
        self.spaces.put_json(RESERVED_IP_KEY, {"ip": ip, "region": deploy.droplet.region})
        self.say(f"  created reserved IP {ip} in {deploy.droplet.region} (recorded in {self.spaces.url(RESERVED_IP_KEY)})")
        return replace(deploy, reserved_ip=ReservedIpSpec("address", ip))

    def find_or_create(self, deploy: Deploy, deploy_id: str, image_id: int, user_data: str | None,
                       nonce: str = "") -> dict:
        tag = deploy_tag(deploy_id, nonce)

        def mine() -> list[dict]:
            return [d for d in self.cloud.droplets(tag) if deploy.project in (d.get("tags") or [])]

        existing = mine()
        if existing:
            self.say(f"  droplet {existing[0]['id']} with tag {tag} exists already (an earlier run): following it")
            return existing[0]
        body = droplet_body(deploy, deploy_id, image_id, user_data, nonce)
        try:
            return self.cloud.create_droplet(body)
        except ApiError as err:
            if err.status not in (None, 429, 500, 502, 503, 504):
                raise
            # The request may have gone through: look before trying again.
            for _ in range(3):
                found = mine()
                if found:
                    return found[0]
                self.sleep(2)
            return self.cloud.create_droplet(body)

    def wait_active(self, droplet_id: int, timeout: float = 600) -> dict:
        deadline = self.clock() + timeout
        while True:
            d = self.cloud.droplet(droplet_id)
            if d.get("status") == "active" and ip_of(d):
                return d
            if self.clock() > deadline:
                raise DeployFailed(f"droplet {droplet_id} not active after {timeout:.0f} s (status {d.get('status')})",
                                   details={"droplet_id": droplet_id})
            self.sleep(self.poll_seconds)

    def follow(self, deploy_id: str, timeout: float) -> dict | None:
        """Poll proofs/<deploy_id>/status.json in Spaces, printing phases; the last status seen."""
        if self.spaces is None:
            return None
        follower, status, unreachable = Follower(), None, 0
        deadline = self.clock() + timeout
        key = proof_key(deploy_id, "status.json")
        self.say(f"  following the first boot through {self.spaces.url(key)} (the agent updates it at every phase)")
        while self.clock() < deadline:
            try:
                status = self.spaces.get_json(key) or status
                unreachable = 0
            except SpacesError as err:
                unreachable += 1
                if unreachable == 1:
                    self.say(f"  (cannot read progress: {err}; still waiting)")
            if status:
                for line in follower.lines(status):
                    self.say(line)
                if is_finished(status):
                    return status
            self.sleep(self.poll_seconds)
        return status

    def run(self, deploy: Deploy, secrets: Secrets, *, snapshot: str | None, user_data: bool,
            render_user_data: Callable[[Deploy, Secrets], str], now: dt.datetime) -> DeployResult:
        digest = settings_digest(deploy)
        intent = Intent.load(self.intent_file)
        if intent and intent.digest == digest:
            deploy_id = intent.deploy_id
            self.say(f"resuming {deploy_id} (an earlier run with these settings did not finish)")
        else:
            deploy_id = deploy_id_for(now)
            intent = Intent(deploy_id, digest, new_nonce())
        result = DeployResult(deploy_id=deploy_id)

        snap = pick_snapshot(self.cloud.snapshots(), deploy.project, snapshot)
        if snap is None:
            which = f"named {snapshot}" if snapshot else f"named {deploy.project}-*"
            raise ApiError(404, "snapshot", f"no snapshot {which}", "build one with `make image`")
        self.say(f"snapshot {snap['name']} ({snap['id']})")

        if user_data:
            deploy = self.resolve_reserved_ip(replace(deploy, deploy_id=deploy_id))
            result.reserved_ip = deploy.reserved_ip.address
            data = render_user_data(deploy, secrets)
        else:
            deploy, data = replace(deploy, deploy_id=deploy_id), None
        intent.save(self.intent_file)
        deploy = self.with_operator_key(deploy)
        droplet = self.find_or_create(deploy, deploy_id, int(snap["id"]), data, intent.nonce)
        result.droplet_id = int(droplet["id"])
        self.say(f"droplet {result.droplet_id} ({droplet.get('name')}) created; waiting for it to boot")
        droplet = self.wait_active(result.droplet_id)
        result.address = ip_of(droplet)
        host = deploy.edge.domain or result.reserved_ip or result.address
        result.url = f"https://{host}/web/login"
        if not user_data:
            self.intent_file.unlink(missing_ok=True)
            result.status, result.error = "success", None
            self.say(f"droplet {result.droplet_id} is active at {result.address}; with no user-data it keeps its "
                     f"proofs on the droplet, makes its own passwords ({Layout().credentials}) and takes no IP")
            return result
        if self.spaces is not None:
            result.proofs = self.spaces.url(proofs_dir_key(deploy_id))
        budget = deploy.gates.install_timeout_seconds + 2 * deploy.gates.timeout_seconds + 900
        status = self.follow(deploy_id, budget)
        if status is None or not is_finished(status):
            result.error = f"the first boot did not finish within {budget} s; see {result.proofs or 'the droplet'}"
            return result
        result.status = status.get("status") or "failed"
        cut = status.get("cutover") or {}
        result.cutover = bool(cut.get("assigned")) if deploy.reserved_ip.mode != "none" else bool(cut.get("dns"))
        result.error = status.get("error_message")
        if self.spaces is not None:
            final = self.spaces.get_json(proof_key(deploy_id, "deploy_status.json")) or {}
            result.gates = final.get("gates", [])
        result.reserved_ip_holder = self.holder_of(result.reserved_ip)
        self.intent_file.unlink(missing_ok=True)
        return result

    def holder_of(self, ip: str | None) -> int | None:
        """The droplet the reserved IP points to now: what the operator checks after a rollback."""
        try:
            return reserved_ip_holder(self.cloud, ip)
        except ApiError as err:
            self.say(f"  (cannot read reserved IP {ip}: {err})")
            return None


def exit_code(result: DeployResult, deploy: Deploy) -> int:
    """0 only when the gates passed and the configured cutover happened."""
    wants_cutover = deploy.reserved_ip.mode != "none" or deploy.dns is not None
    if result.status == "success" and (result.cutover or not wants_cutover):
        return 0
    return 1
