"""Backups, the restore drill and restores on local droplets (issue 11).

One droplet is deployed from the baked snapshot with `odoo-droplet droplet` (it takes the reserved IP); rows are
written into its database and a file into its filestore the way Odoo keeps them; then the operator's commands
run as an operator runs them (subprocesses, over SSH with the local cloud's key and the pinned host keys).
What is checked is what the operator and the business would notice: the timer is there, `backup-now` says the
set is in Spaces and Spaces holds every part with the checksum the manifest names, the manifest counts the rows
the database has, `backups` lists it, a Spaces outage keeps the set on the droplet until Spaces answers, a
backup killed in the middle leaves nothing that claims to be complete, the drill proves a set and catches one
whose filestore lacks a file, `restore` takes the business back to a backup (a safety backup first), a new
droplet with `database.source: latest` serves the same rows, files and database.uuid, and a corrupt set is
refused at first boot with nothing cut over.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import secrets
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
from botocore.config import Config

from localcloud import docker_backend as db
from tests.e2e.conftest import REPO, poll

pytestmark = pytest.mark.e2e

STACK = "/etc/odoo-droplet/stack"
PENDING = "/var/lib/odoo-droplet/backups/pending"
STAGING = "/var/lib/odoo-droplet/backups/staging"
AGENT = "PYTHONPATH=/opt/odoo-droplet python3 -m firstboot.agent"
SPACES_BLOCK = "OUTPUT -d 10.213.0.1 -p tcp --dport 9000 -j REJECT --reject-with tcp-reset"


@dataclass
class Droplet:
    id: int
    project: str
    env: dict[str, str]
    workdir: Path
    config: Path

    def sh(self, script: str, timeout: float = 300, check: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(["docker", "exec", db.container_name(self.id), "bash", "-c", script],
                              capture_output=True, text=True, timeout=timeout, check=False,
                              stdin=subprocess.DEVNULL)
        if check:
            assert proc.returncode == 0, f"{script!r} in the droplet: {proc.returncode} {proc.stderr[-2000:]!r}"
        return proc

    def psql(self, sql: str) -> str:
        return self.sh(f"docker compose -p {self.project} -f {STACK}/docker-compose.yml exec -T db "
                       f"psql -U odoo -d odoo -At -v ON_ERROR_STOP=1 -c \"{sql}\"").stdout.strip()

    def cli(self, command: str, *args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "builder", command, "--config", str(self.config), *args],
                              cwd=self.workdir, env={**self.env, "PYTHONPATH": str(REPO)}, capture_output=True,
                              text=True, timeout=timeout, stdin=subprocess.DEVNULL)

    def bucket(self) -> Any:
        s3 = boto3.client("s3", endpoint_url=self.env["SPACES_ENDPOINT"], region_name="nyc3",
                          aws_access_key_id=self.env["SPACES_KEY"], aws_secret_access_key=self.env["SPACES_SECRET"],
                          config=Config(retries={"max_attempts": 2}))
        return s3, f"{self.project}-proofs"

    def objects(self, prefix: str) -> dict[str, bytes]:
        s3, bucket = self.bucket()
        listed = s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])
        return {o["Key"]: s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read() for o in listed}


def settings_yaml(project: str) -> str:
    return f"""project: {project}
ship_version: 1.0.0
droplet: {{region: nyc3, size: s-2vcpu-4gb, base_image: debian-12-x64}}
reserved_ip: auto
odoo: {{image: odoo, tag: "18.0", prior_tag: 18.0-prior, modules: [base, web], database: odoo}}
postgres: {{mode: selfhost, image: "postgres:16"}}
edge: {{domain: erp.{project}.test, tls: self-signed}}
spaces: {{region: nyc3, bucket: {project}-proofs}}
gates: {{timeout_seconds: 300, soak_seconds: 0}}
"""


class Cloud:
    """The local cloud's API as the test's own eyes (requests, not the CLI under test), and what it must delete."""

    def __init__(self, env: dict[str, str]) -> None:
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"Bearer {env['DIGITALOCEAN_TOKEN']}"
        self.url, self.verify = env["DIGITALOCEAN_API_URL"].rstrip("/"), env["SSL_CERT_FILE"]
        self.droplets: list[int] = []
        self.reserved_ips: set[str] = set()

    def holder(self, reserved_ip: str) -> int | None:
        doc = self.http.get(f"{self.url}/v2/reserved_ips/{reserved_ip}", timeout=60, verify=self.verify).json()
        droplet = doc["reserved_ip"].get("droplet")
        return int(droplet["id"]) if droplet else None

    def cleanup(self) -> None:
        for droplet_id in self.droplets:
            self.http.delete(f"{self.url}/v2/droplets/{droplet_id}", timeout=120, verify=self.verify)
        for ip in self.reserved_ips:
            self.http.delete(f"{self.url}/v2/reserved_ips/{ip}", timeout=60, verify=self.verify)


def deploy(snapshot: dict[str, Any], cloud: Cloud, workdir: Path, config: Path,
           ) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    """`odoo-droplet droplet --json` as the operator runs it; what it made is remembered for the cleanup."""
    proc = subprocess.run([sys.executable, "-m", "builder", "droplet", "--config", str(config), "--snapshot",
                           str(snapshot["snapshot_id"]), "--json"], cwd=workdir,
                          env={**snapshot["env"], "PYTHONPATH": str(REPO)}, capture_output=True, text=True,
                          timeout=1200, stdin=subprocess.DEVNULL)
    result = json.loads(proc.stdout) if proc.stdout.strip().startswith("{") else {}
    if result.get("droplet_id"):
        cloud.droplets.append(int(result["droplet_id"]))
    if result.get("reserved_ip"):
        cloud.reserved_ips.add(str(result["reserved_ip"]))
    return proc, result


@pytest.fixture(scope="module")
def cloud(baked_snapshot: dict[str, Any]) -> Iterator[Cloud]:
    c = Cloud(baked_snapshot["env"])
    try:
        yield c
    finally:
        c.cleanup()


@pytest.fixture(scope="module")
def deployed(baked_snapshot: dict[str, Any], cloud: Cloud, tmp_path_factory: pytest.TempPathFactory,
             timings: dict[str, float]) -> Droplet:
    project = f"odlbak-{secrets.token_hex(3)}"
    workdir = tmp_path_factory.mktemp("backups")
    config = workdir / "deploy.yaml"
    config.write_text(settings_yaml(project))
    start = time.monotonic()
    proc, result = deploy(baked_snapshot, cloud, workdir, config)
    timings["backups e2e: healthy deploy"] = time.monotonic() - start
    assert proc.returncode == 0, f"deploy failed ({proc.returncode}):\n{proc.stderr[-4000:]}"
    assert result.get("cutover"), result
    return Droplet(int(result["droplet_id"]), project, baked_snapshot["env"], workdir, config)


@pytest.fixture(scope="module")
def with_data(deployed: Droplet) -> dict[str, Any]:
    """Partners written into the business's database, and one attachment kept as Odoo keeps it: a row in
    ir_attachment whose store_fname names a file under the filestore, content-addressed by its SHA-1."""
    d = deployed
    names = [f"Customer {secrets.token_hex(4)}" for _ in range(5)]
    for name in names:
        d.psql(f"INSERT INTO res_partner (name, active) VALUES ('{name}', true)")
    content = f"invoice {secrets.token_hex(16)}\n".encode()
    sha1 = hashlib.sha1(content).hexdigest()
    fname = f"{sha1[:2]}/{sha1}"
    # The file as Odoo's own user writes it, in the data volume the Odoo container mounts.
    d.sh(f"docker exec -i -u odoo {d.project}-odoo-1 sh -c 'mkdir -p /var/lib/odoo/filestore/odoo/{sha1[:2]} && "
         f"cat > /var/lib/odoo/filestore/odoo/{fname}' <<'EOF'\n{content.decode()}EOF")
    d.psql("INSERT INTO ir_attachment (name, type, store_fname, checksum, file_size, mimetype) VALUES "
           f"('invoice.txt', 'binary', '{fname}', '{sha1}', {len(content)}, 'text/plain')")
    return {"partners": int(d.psql("SELECT count(*) FROM res_partner")),
            "attachments": int(d.psql("SELECT count(*) FROM ir_attachment")), "fname": fname}


def test_the_backup_timer_is_installed_by_the_deploy(deployed: Droplet) -> None:
    enabled = deployed.sh("systemctl is-enabled odoo-droplet-backup.timer", check=False)
    assert enabled.stdout.strip() == "enabled", (enabled.stdout, enabled.stderr)
    calendar = deployed.sh("systemctl show -p TimersCalendar odoo-droplet-backup.timer").stdout
    assert "OnCalendar=" in calendar, calendar


def test_backup_now_puts_a_complete_checked_set_in_spaces(deployed: Droplet, with_data: dict[str, Any],
                                                          timings: dict[str, float]) -> None:
    d = deployed
    start = time.monotonic()
    proc = d.cli("backup-now", "--json")
    timings["backups e2e: backup-now (small database)"] = time.monotonic() - start
    assert proc.returncode == 0, f"{proc.stdout}\n{proc.stderr[-3000:]}"
    answer = json.loads(proc.stdout)
    assert answer["status"] == "uploaded" and answer["backup_id"], answer
    assert answer["backup_id"] in answer["location"]
    objects = d.objects(f"backups/odoo/{answer['backup_id']}/")
    manifest_key = next(k for k in objects if k.endswith("manifest.json"))
    manifest = json.loads(objects[manifest_key])
    # Every part the manifest names is in Spaces with the bytes it describes.
    parts = manifest["parts"]
    assert len(parts) >= 2, parts
    for part in parts:
        key = next(k for k in objects if k.endswith("/" + part["name"]))
        assert hashlib.sha256(objects[key]).hexdigest() == part["sha256"], part["name"]
        assert len(objects[key]) == part["size"], part["name"]
    # The manifest counts what the database holds.
    assert manifest["row_counts"]["res_partner"] == with_data["partners"], manifest["row_counts"]
    assert manifest["row_counts"]["ir_attachment"] == with_data["attachments"], manifest["row_counts"]
    assert manifest["database"] == "odoo" and str(manifest["odoo_version"]).startswith("18.0"), manifest
    # Nothing is left on the droplet once Spaces holds it.
    assert d.sh(f"ls -A {PENDING} 2>/dev/null | wc -l").stdout.strip() == "0"

    listed = d.cli("backups", "--json", timeout=300)
    assert listed.returncode == 0, listed.stderr[-2000:]
    backups = json.loads(listed.stdout)["backups"]
    mine = [b for b in backups if b["id"] == answer["backup_id"]]
    assert len(mine) == 1, backups
    assert set(mine[0]) >= {"id", "kind", "created", "size_bytes", "odoo_version", "encrypted", "verified"}
    assert mine[0]["kind"] == "manual" and mine[0]["size_bytes"] == sum(p["size"] for p in parts)
    assert mine[0]["encrypted"] is False


def test_a_filestore_file_missing_fails_the_backup_loudly(deployed: Droplet, with_data: dict[str, Any]) -> None:
    d = deployed
    before = set(d.objects("backups/odoo/"))
    d.sh(f"docker exec -u odoo {d.project}-odoo-1 mv /var/lib/odoo/filestore/odoo/{with_data['fname']} /tmp/held")
    try:
        proc = d.cli("backup-now", "--json")
    finally:
        d.sh(f"docker exec -u odoo {d.project}-odoo-1 mv /tmp/held /var/lib/odoo/filestore/odoo/{with_data['fname']}")
    assert proc.returncode == 1, proc.stdout + proc.stderr[-2000:]
    assert with_data["fname"].split("/")[1] in proc.stdout + proc.stderr, proc.stdout + proc.stderr[-2000:]
    assert set(d.objects("backups/odoo/")) == before  # nothing new claims to be a backup
    assert d.sh(f"ls -A {PENDING} 2>/dev/null | wc -l").stdout.strip() == "0"


def test_spaces_down_keeps_the_set_pending_until_it_answers(deployed: Droplet) -> None:
    """Spaces out of reach for this droplet alone (a REJECT in the droplet, as test_firstboot's outage): the
    set stays on the droplet, `backup-now` says so and exits 1; the publish timer's run uploads it later."""
    d = deployed
    d.sh(f"iptables -I {SPACES_BLOCK}")
    try:
        proc = d.cli("backup-now", "--json")
        pending = d.sh(f"ls -1 {PENDING}").stdout.split()
    finally:
        d.sh(f"iptables -D {SPACES_BLOCK}")
    assert proc.returncode == 1, proc.stdout + proc.stderr[-2000:]
    answer = json.loads(proc.stdout)
    assert answer["status"] == "pending upload", answer
    assert pending == [answer["backup_id"]], pending
    assert not d.objects(f"backups/odoo/{answer['backup_id']}/")
    published = d.sh("systemctl start odoo-droplet-publish.service", check=False)
    assert published.returncode == 0, published.stderr
    objects = poll(lambda: d.objects(f"backups/odoo/{answer['backup_id']}/") or None, 120,
                   "the pending set in Spaces after the publish run", interval=2)
    assert any(k.endswith("manifest.json") for k in objects)
    assert d.sh(f"ls -A {PENDING} | wc -l").stdout.strip() == "0"


def test_a_backup_killed_midway_leaves_no_complete_set_and_the_next_succeeds(deployed: Droplet) -> None:
    d = deployed
    before = set(d.objects("backups/odoo/"))
    # The dump held up (PostgreSQL paused) so the agent is killed while it is in the middle of its work.
    d.sh(f"docker pause {d.project}-db-1")
    try:
        d.sh(f"{{ {AGENT} backup --kind manual >/tmp/killed.out 2>&1 & echo $! > /tmp/killed.pid; }}")
        poll(lambda: d.sh(f"ls -A {STAGING} 2>/dev/null | wc -l").stdout.strip() != "0" or None, 60,
             "the backup's staging folder", interval=0.5)
        d.sh("kill -9 $(cat /tmp/killed.pid)")
    finally:
        d.sh(f"docker unpause {d.project}-db-1")
    assert d.sh(f"ls -A {PENDING} 2>/dev/null | wc -l").stdout.strip() == "0"
    assert set(d.objects("backups/odoo/")) == before
    proc = d.cli("backup-now", "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr[-2000:]
    assert json.loads(proc.stdout)["status"] == "uploaded"
    assert d.sh(f"ls -A {STAGING} 2>/dev/null | wc -l").stdout.strip() == "0"


def newest_backup(d: Droplet) -> dict[str, Any]:
    listed = d.cli("backups", "--json", timeout=300)
    assert listed.returncode == 0, listed.stderr[-2000:]
    backups = json.loads(listed.stdout)["backups"]
    assert backups, "no backup listed"
    return max(backups, key=lambda b: b["created"])


def test_the_drill_restores_a_backup_into_a_scratch_database_checks_it_and_records_it(
        deployed: Droplet, with_data: dict[str, Any], timings: dict[str, float]) -> None:
    d = deployed
    newest = newest_backup(d)
    start = time.monotonic()
    proc = d.cli("backups", "verify", newest["id"], "--json")
    timings["backups e2e: backups verify (small database)"] = time.monotonic() - start
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    answer = json.loads(proc.stdout)
    assert answer["status"] == "passed" and answer["backup_id"] == newest["id"], answer
    assert answer["attachments_checked"] >= 1, answer  # the invoice written by the fixture, at least
    assert str(answer["scratch_database"]).startswith("odoo_drill_"), answer
    # The scratch copy is gone, and only it was neutralised: the business's database is as it was.
    assert "_drill_" not in d.psql("SELECT string_agg(datname, ',') FROM pg_database")
    assert d.psql("SELECT count(*) FROM ir_config_parameter WHERE key = 'database.is_neutralized'") == "0"
    assert int(d.psql("SELECT count(*) FROM res_partner")) == with_data["partners"]
    assert d.sh("test -e /var/lib/odoo-droplet/backups/drill", check=False).returncode == 1
    record = json.loads(d.objects(f"backups/odoo/{newest['id']}/verification.json")
                        [f"backups/odoo/{newest['id']}/verification.json"])
    assert record["passed"] is True, record
    assert newest_backup(d)["verified"], "backups does not show the drilled set as verified"


def test_the_drill_catches_a_backup_whose_filestore_misses_a_file(deployed: Droplet,
                                                                   with_data: dict[str, Any]) -> None:
    """A set consistent with its own manifest (checksums match) whose filestore archive lacks the invoice's file
    (as a backup taken by a careless tool would be): only restoring it and reading every attachment finds it."""
    d = deployed
    taken = d.cli("backup-now", "--json")
    assert taken.returncode == 0, taken.stdout + taken.stderr[-2000:]
    backup_id = json.loads(taken.stdout)["backup_id"]
    prefix = f"backups/odoo/{backup_id}/"
    objects = d.objects(prefix)
    s3, bucket = d.bucket()
    old = tarfile.open(fileobj=io.BytesIO(objects[prefix + "filestore.tar"]))
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as new:
        kept = 0
        for member in old.getmembers():
            if member.name.endswith(with_data["fname"]):
                continue
            new.addfile(member, old.extractfile(member) if member.isfile() else None)
            kept += 1
    assert kept < len(old.getmembers()), "the invoice's file was not in the archive to begin with"

    def put(key: str, body: bytes) -> None:
        md5 = hashlib.md5(body, usedforsecurity=False)
        s3.put_object(Bucket=bucket, Key=key, Body=body, ContentMD5=base64.b64encode(md5.digest()).decode(),
                      Metadata={"sha256": hashlib.sha256(body).hexdigest(), "md5": md5.hexdigest()})

    tar = buf.getvalue()
    manifest = json.loads(objects[prefix + "manifest.json"])
    for part in manifest["parts"]:
        if part["name"] == "filestore.tar":
            part.update(size=len(tar), sha256=hashlib.sha256(tar).hexdigest())
    put(prefix + "filestore.tar", tar)
    put(prefix + "manifest.json", json.dumps(manifest, indent=1, sort_keys=True).encode())

    proc = d.cli("backups", "verify", backup_id, "--json")
    assert proc.returncode == 1, proc.stdout + proc.stderr[-3000:]
    answer = json.loads(proc.stdout)
    assert answer["status"] == "failed", answer
    assert any(with_data["fname"].split("/")[1] in p for p in answer["problems"]), answer["problems"]
    assert "_drill_" not in d.psql("SELECT string_agg(datname, ',') FROM pg_database")
    record = json.loads(d.objects(prefix + "verification.json")[prefix + "verification.json"])
    assert record["passed"] is False, record


def test_restore_puts_a_backup_back_in_place_with_a_safety_backup_first(deployed: Droplet,
                                                                        with_data: dict[str, Any]) -> None:
    d = deployed
    taken = d.cli("backup-now", "--json")
    assert taken.returncode == 0, taken.stdout + taken.stderr[-2000:]
    backup_id = json.loads(taken.stdout)["backup_id"]
    at_backup = int(d.psql("SELECT count(*) FROM res_partner"))
    for n in range(3):  # written after the backup: a restore takes the business back to the backup's rows
        d.psql(f"INSERT INTO res_partner (name, active) VALUES ('After backup {n}', true)")
    proc = d.cli("restore", backup_id, "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    answer = json.loads(proc.stdout)
    assert answer["status"] == "restored" and answer["backup_id"] == backup_id, answer
    assert answer["gates"] and all(g["passed"] for g in answer["gates"]), answer["gates"]
    assert int(d.psql("SELECT count(*) FROM res_partner")) == at_backup
    # The state it replaced is kept twice: the safety backup in Spaces and the set-aside database.
    listed = {b["id"] for b in json.loads(d.cli("backups", "--json", timeout=300).stdout)["backups"]}
    assert answer["safety_backup_id"] in listed, (answer, listed)
    assert "odoo_pre_restore_" in d.psql("SELECT string_agg(datname, ',') FROM pg_database")


def test_a_new_droplet_with_source_latest_serves_the_same_data(deployed: Droplet, with_data: dict[str, Any],
                                                                cloud: Cloud, baked_snapshot: dict[str, Any],
                                                                timings: dict[str, float]) -> None:
    d = deployed
    taken = d.cli("backup-now", "--json")  # the newest complete set: what `latest` must take
    assert taken.returncode == 0, taken.stdout + taken.stderr[-2000:]
    backup_id = json.loads(taken.stdout)["backup_id"]
    uuid = d.psql("SELECT value FROM ir_config_parameter WHERE key = 'database.uuid'")
    partners = int(d.psql("SELECT count(*) FROM res_partner"))
    attachments = int(d.psql("SELECT count(*) FROM ir_attachment"))
    assert uuid
    # The same project, settings and credentials file, with the database taken from Spaces.
    d.config.write_text(settings_yaml(d.project) + "database: {source: latest}\n")
    start = time.monotonic()
    proc, result = deploy(baked_snapshot, cloud, d.workdir, d.config)
    timings["backups e2e: deploy with database.source latest"] = time.monotonic() - start
    assert proc.returncode == 0, f"deploy failed ({proc.returncode}):\n{proc.stderr[-4000:]}"
    assert result.get("cutover") and result["droplet_id"] != d.id, result
    new = Droplet(int(result["droplet_id"]), d.project, d.env, d.workdir, d.config)
    assert cloud.holder(str(result["reserved_ip"])) == new.id
    assert new.psql("SELECT value FROM ir_config_parameter WHERE key = 'database.uuid'") == uuid
    assert int(new.psql("SELECT count(*) FROM res_partner")) == partners
    assert int(new.psql("SELECT count(*) FROM ir_attachment")) == attachments
    sha1 = with_data["fname"].split("/")[1]
    served = new.sh(f"docker exec {d.project}-odoo-1 sha1sum /var/lib/odoo/filestore/odoo/{with_data['fname']}")
    assert served.stdout.split()[0] == sha1
    status = json.loads(new.sh(f"cat /var/lib/odoo-droplet/proofs/{result['deploy_id']}/deploy_status.json").stdout)
    assert status["database"]["status"] == "restored" and status["database"]["backup_id"] == backup_id, status


def test_a_corrupt_backup_is_refused_at_first_boot_and_nothing_cuts_over(deployed: Droplet, cloud: Cloud,
                                                                          baked_snapshot: dict[str, Any]) -> None:
    d = deployed
    newest = newest_backup(d)
    key = f"backups/odoo/{newest['id']}/database.dump"
    s3, bucket = d.bucket()
    body = bytearray(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    body[len(body) // 2] ^= 0xFF  # one byte changed, as a bit rot or a truncated copy would
    s3.put_object(Bucket=bucket, Key=key, Body=bytes(body))
    d.config.write_text(settings_yaml(d.project) + f"database: {{source: {newest['id']}}}\n")
    proc, result = deploy(baked_snapshot, cloud, d.workdir, d.config)
    assert proc.returncode == 1, proc.stdout + proc.stderr[-3000:]
    assert result["status"] == "failed" and not result.get("cutover"), result
    assert "database.dump" in json.dumps(result), result
    holder = cloud.holder(str(result["reserved_ip"]))
    assert holder is not None and holder != result["droplet_id"], holder
