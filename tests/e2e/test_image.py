"""`odoo-droplet image` end to end on the local cloud: Debian's Packer 1.6.6 runs the project's template
against the local DO API, and the snapshot it leaves is what DigitalOcean's marketplace rules and the
first-boot agent expect.

The bake runs once per session (`baked_snapshot` in conftest.py). The image rules are checked on the
snapshot itself — the committed image exported to a directory, plus the volume that carries its inner
/var/lib/docker (localcloud/docker_backend/snapshots.py) — so nothing a first boot does can hide or cause a finding.
What only a running system shows (the unit enabled, `docker compose`, the pre-loaded images, fresh SSH
host keys) is checked on droplets made from it with no user-data, as "create droplet from snapshot" in
DigitalOcean's console does.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from localcloud import docker_backend as db
from localcloud.home import Home
from tests.e2e.conftest import REPO, generated_secrets, poll, run_cli
from tests.localcloud_support import ValidatingSession, do_openapi

pytestmark = pytest.mark.e2e

SNAPSHOT_TAGS = ["odoo-droplet-snapshot", "odoo-demo-snapshot"]  # builder/packer.py snapshot_tags()
SECRET_NAMES = ("DB_PASSWORD", "ADMIN_PASSWD", "DIGITALOCEAN_TOKEN", "SPACES_KEY", "SPACES_SECRET", "REGISTRY_TOKEN")
HISTORY_FILES = {
    ".bash_history",
    ".python_history",
    ".lesshst",
    ".viminfo",
    ".psql_history",
    ".mysql_history",
    ".zsh_history",
    ".wget-hsts",
    ".sqlite_history",
    ".node_repl_history",
}
KEY_NAMES = {"id_rsa", "id_dsa", "id_ecdsa", "id_ed25519", "id_ecdsa_sk", "id_ed25519_sk"}


def api(env: dict[str, str]) -> ValidatingSession:
    """Every exchange with the local API validated against DigitalOcean's spec."""
    return ValidatingSession(do_openapi(), env["SSL_CERT_FILE"], env["DIGITALOCEAN_TOKEN"])


def state_image(env: dict[str, str], image_id: int) -> dict[str, Any]:
    """The local cloud's own record of a snapshot (its Docker image ref); the API does not expose it."""
    home = Home.from_env(env).root
    return json.loads((home / "state.json").read_text())["images"][str(image_id)]


def docker(*args: str, timeout: float = 600, **kw: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout, **kw)


# ---------------------------------------------------------------- the command and the API


def test_image_prints_one_json_object_and_the_snapshot_is_listed_with_its_tags(baked_snapshot):
    out = baked_snapshot["output"]
    assert {"ok", "snapshot_id", "snapshot_name", "tags"} <= set(out) and out["ok"] is True
    assert re.fullmatch(r"odoo-demo-1\.0\.0-[0-9a-f]{12}", out["snapshot_name"]), out
    assert sorted(out["tags"]) == sorted(SNAPSHOT_TAGS)
    # Packer's progress was streamed (stderr in --json mode), through to the snapshot step.
    assert "Provisioning with shell script" in baked_snapshot["log"]
    assert f"Creating snapshot: {out['snapshot_name']}" in baked_snapshot["log"]
    env = baked_snapshot["env"]
    s = api(env)
    url = env["DIGITALOCEAN_API_URL"]
    private = s.get(f"{url}/v2/images", params={"private": "true", "per_page": 200}).json()["images"]
    mine = [i for i in private if i["id"] == out["snapshot_id"]]
    assert len(mine) == 1 and mine[0]["name"] == out["snapshot_name"] and mine[0]["type"] == "snapshot"
    assert sorted(mine[0]["tags"]) == sorted(SNAPSHOT_TAGS)
    for tag in SNAPSHOT_TAGS:
        tagged = s.get(f"{url}/v2/images", params={"tag_name": tag, "per_page": 200}).json()["images"]
        assert out["snapshot_id"] in [i["id"] for i in tagged]
    assert not s.errors, "\n".join(s.errors)


def test_the_output_of_image_carries_no_secret(baked_snapshot):
    env = baked_snapshot["env"]
    text = baked_snapshot["log"] + json.dumps(baked_snapshot["output"])
    leaked = [name for name in SECRET_NAMES if env.get(name) and env[name] in text]
    assert leaked == []


def config_for_project(tmp_path: Path, project: str, odoo_tag: str = "18.0") -> Path:
    """examples/deploy.yaml under a project name of its own: what this run bakes (snapshot name, build
    droplet tag) cannot be confused with another bake on the shared local cloud running meanwhile."""
    text = (REPO / "examples/deploy.yaml").read_text()
    assert "project: odoo-demo\n" in text and 'tag: "18.0"' in text
    config = tmp_path / "deploy.yaml"
    text = text.replace("project: odoo-demo\n", f"project: {project}\n").replace('tag: "18.0"', f'tag: "{odoo_tag}"')
    config.write_text(text)
    return config


def made_by(s: ValidatingSession, url: str, project: str) -> tuple[list[str], list[int]]:
    """(snapshot names, build droplet ids) the local cloud has for `project`."""
    images = s.get(f"{url}/v2/images", params={"private": "true", "per_page": 200}).json()["images"]
    droplets = s.get(f"{url}/v2/droplets", params={"tag_name": f"{project}-image-build"}).json()["droplets"]
    return [i["name"] for i in images if i["name"].startswith(f"{project}-")], [d["id"] for d in droplets]


def test_a_wrong_token_is_named_and_nothing_is_created(local_cloud_env, tmp_path):
    env = {
        **local_cloud_env,
        "DB_PASSWORD": "x" * 24,
        "ADMIN_PASSWD": "y" * 24,
        "DIGITALOCEAN_TOKEN": "wrong-" + "0" * 58,
    }
    s = api(local_cloud_env)
    url = local_cloud_env["DIGITALOCEAN_API_URL"]
    config = config_for_project(tmp_path, "odl-e2e-badtoken")
    assert made_by(s, url, "odl-e2e-badtoken") == ([], [])
    proc = run_cli(
        "image", "--config", str(config), "--json", "--workdir", str(tmp_path / "packer"), env=env, timeout=300
    )
    assert proc.returncode == 2, proc.stderr
    assert "DIGITALOCEAN_TOKEN" in proc.stderr and "401" in proc.stderr
    result = json.loads(proc.stdout)
    assert result["ok"] is False and result["api_status"] == 401
    assert "Creating droplet" not in proc.stderr  # Packer never started
    assert made_by(s, url, "odl-e2e-badtoken") == ([], [])
    assert env["DIGITALOCEAN_TOKEN"] not in proc.stderr + proc.stdout
    assert not s.errors, "\n".join(s.errors)


def test_an_odoo_tag_the_registry_lacks_fails_the_bake_with_the_cause_and_leaves_nothing(local_cloud_env, tmp_path):
    """A typo in odoo.tag: the pre-pull fails on the build droplet; Packer stops and destroys it."""
    config = config_for_project(tmp_path, "odl-e2e-badtag", odoo_tag="18.0-no-such-tag")
    env = {**local_cloud_env, **generated_secrets()}
    s = api(env)
    url = env["DIGITALOCEAN_API_URL"]
    assert made_by(s, url, "odl-e2e-badtag") == ([], [])
    proc = run_cli(
        "image", "--config", str(config), "--json", "--workdir", str(tmp_path / "packer"), env=env, timeout=1800
    )
    assert proc.returncode == 1, proc.stderr[-3000:]
    result = json.loads(proc.stdout)
    assert result["ok"] is False and result["build_droplets_left"] == []
    assert result["error"].startswith("40-images.sh failed:"), result["error"]
    assert "10.213.0.1:5000/odoo:18.0-no-such-tag" in result["error"] and "not found" in result["error"]
    assert f"error: the image build failed: {result['error']}" in proc.stderr
    assert "Destroying droplet" in proc.stderr  # Packer cleaned up after itself
    assert made_by(s, url, "odl-e2e-badtag") == ([], [])
    assert not [n for n in SECRET_NAMES if env.get(n) and env[n] in proc.stdout + proc.stderr]
    assert not s.errors, "\n".join(s.errors)


# ---------------------------------------------------------------- the snapshot's own filesystem


@pytest.fixture(scope="module")
def snapshot_fs(baked_snapshot, tmp_path_factory) -> Path:
    """The committed image's filesystem, extracted (`docker create` + `docker export`): what every droplet
    made from the snapshot starts from, before any boot has touched it."""
    ref = state_image(baked_snapshot["env"], baked_snapshot["snapshot_id"])["_ref"]
    root = tmp_path_factory.mktemp("snapshot-fs")
    cid = docker("create", ref, "/bin/true", timeout=120, check=True).stdout.strip()
    try:
        export = subprocess.Popen(["docker", "export", cid], stdout=subprocess.PIPE)
        untar = subprocess.run(
            ["tar", "-x", "-C", str(root), "--no-same-owner"], stdin=export.stdout, capture_output=True, timeout=900
        )
        assert export.wait(timeout=60) == 0 and untar.returncode == 0, untar.stderr[-2000:]
    finally:
        docker("rm", "-f", cid, timeout=120)
    return root


@pytest.fixture(scope="module")
def snapshot_volume(baked_snapshot) -> str:
    """The Docker volume holding the snapshot's inner /var/lib/docker (its pre-loaded images)."""
    ref = state_image(baked_snapshot["env"], baked_snapshot["snapshot_id"])["_ref"]
    labels = json.loads(docker("image", "inspect", "-f", "{{json .Config.Labels}}", ref, check=True).stdout)
    volume = labels[db.LABEL_VOLUME]
    # Not an empty volume (a search of one finds nothing, trivially): the inner engine's image index.
    repos = docker(
        "run",
        "--rm",
        "--network",
        "none",
        "-v",
        f"{volume}:/vol:ro",
        db.ROOTFS_IMAGE,
        "cat",
        "/vol/image/overlay2/repositories.json",
        timeout=300,
    )
    assert repos.returncode == 0, repos.stderr
    assert "10.213.0.1:5000/odoo:18.0-prior" in repos.stdout and "postgres:16" in repos.stdout
    return volume


def files_under(root: Path, rel: str) -> Iterator[Path]:
    base = root / rel
    return (p for p in base.rglob("*") if p.is_file() and not p.is_symlink()) if base.exists() else iter(())


def test_snapshot_firewall_is_on_with_ssh_http_https_only(snapshot_fs):
    assert re.search(r"^ENABLED=yes$", (snapshot_fs / "etc/ufw/ufw.conf").read_text(), re.M)
    assert 'DEFAULT_INPUT_POLICY="DROP"' in (snapshot_fs / "etc/default/ufw").read_text()
    for rules_file, chain in (("user.rules", "ufw-user-input"), ("user6.rules", "ufw6-user-input")):
        rules = (snapshot_fs / "etc/ufw" / rules_file).read_text()
        accepts = re.findall(rf"^-A {chain} .*-j ACCEPT$", rules, re.M)
        assert sorted(accepts) == sorted(f"-A {chain} -p tcp --dport {port} -j ACCEPT" for port in (22, 80, 443))
    assert (snapshot_fs / "etc/systemd/system/multi-user.target.wants/ufw.service").is_symlink()


def test_snapshot_has_no_password(snapshot_fs):
    fields = dict(line.split(":")[:2] for line in (snapshot_fs / "etc/shadow").read_text().splitlines())
    assert fields["root"] in ("*", "!", "!*")
    # '*' or '!...' (locked): no password can log in. Anything else is a hash, or empty (no password at all).
    usable = [user for user, field in fields.items() if not (field == "*" or field.startswith("!"))]
    assert usable == []


def test_snapshot_has_no_default_user_and_no_passwordless_sudo(snapshot_fs):
    """Debian's cloud images make a `debian` user with passwordless sudo; the snapshot has none, and cloud-init
    on its droplets makes none (users: [], root by key)."""
    users = [line.split(":") for line in (snapshot_fs / "etc/passwd").read_text().splitlines()]
    assert "debian" not in [u[0] for u in users]
    assert [u[0] for u in users if 1000 <= int(u[2]) < 65534] == []  # no login user at all but root
    sudoers = [snapshot_fs / "etc/sudoers", *(snapshot_fs / "etc/sudoers.d").glob("*")]
    rules = [f"{p.name}: {line}" for p in sudoers if p.is_file() for line in p.read_text().splitlines()
             if "NOPASSWD" in line and not line.lstrip().startswith("#")]
    assert rules == []
    cfg = (snapshot_fs / "etc/cloud/cloud.cfg.d/80-odoo-droplet-users.cfg").read_text()
    assert re.search(r"^users: \[\]$", cfg, re.M) and re.search(r"^disable_root: false$", cfg, re.M)


def test_snapshot_keeps_the_metadata_service_for_root_in_its_firewall(snapshot_fs):
    rules = (snapshot_fs / "etc/ufw/before.rules").read_text()
    assert "-A ufw-before-output -d 169.254.169.254/32 -m owner ! --uid-owner 0 -j REJECT" in rules
    assert "-A DOCKER-USER -d 169.254.169.254/32 -j REJECT" in rules


def test_snapshot_sshd_drop_in_unattended_upgrades_and_hidepid(snapshot_fs):
    sshd = (snapshot_fs / "etc/ssh/sshd_config.d/50-odoo-droplet.conf").read_text()
    for line in ("PermitRootLogin prohibit-password", "PasswordAuthentication no", "X11Forwarding no",
                 "AllowTcpForwarding no", "AllowAgentForwarding no"):
        assert re.search(rf"^{line}$", sshd, re.M), line
    assert (snapshot_fs / "var/lib/dpkg/info/unattended-upgrades.list").is_file()
    assert 'APT::Periodic::Unattended-Upgrade "1";' in (snapshot_fs / "etc/apt/apt.conf.d/20auto-upgrades").read_text()
    assert (snapshot_fs / "etc/systemd/system/sysinit.target.wants/odoo-droplet-hidepid.service").is_symlink()


def test_snapshot_has_no_authorized_keys_ssh_host_keys_or_history(snapshot_fs):
    found = [
        str(p.relative_to(snapshot_fs))
        for p in snapshot_fs.rglob("*")
        if p.name in ("authorized_keys", "authorized_keys2")
        or p.name in HISTORY_FILES
        or (p.name in KEY_NAMES or p.name.removesuffix(".pub") in KEY_NAMES)
    ]
    assert found == []
    assert sorted(p.name for p in (snapshot_fs / "etc/ssh").glob("ssh_host_*")) == []
    # DigitalOcean's image check also warns on any file in a user's ~/.ssh (known_hosts included).
    homes = [snapshot_fs / "root", *(snapshot_fs / "home").glob("*")]
    assert [str(p) for h in homes for p in (h / ".ssh").glob("*")] == []


def test_snapshot_has_no_digitalocean_agent(snapshot_fs):
    """DigitalOcean's image check fails an image carrying its monitoring agent (installed per droplet)."""
    assert not (snapshot_fs / "var/opt/digitalocean").exists()
    assert not (snapshot_fs / "opt/digitalocean").exists()


def _package_files(root: Path) -> dict[str, str]:
    """path -> md5 of every file Debian's packages shipped (var/lib/dpkg/info/*.md5sums)."""
    shipped: dict[str, str] = {}
    for sums in (root / "var/lib/dpkg/info").glob("*.md5sums"):
        for line in sums.read_text(errors="replace").splitlines():
            md5, _, path = line.partition("  ")
            shipped["/" + path.strip()] = md5
    return shipped


def test_snapshot_has_no_private_key_but_what_packages_ship_unchanged(snapshot_fs):
    """Private keys anywhere outside /etc/ssl/certs: files named like keys, and any file holding a PEM
    private key. A file a Debian package ships, unchanged (its md5sums entry matches), is test data of that
    package (certbot's, for one) — the same on every Debian machine, not a key of this build."""
    proc = subprocess.run(
        ["grep", "-r", "-l", "-I", "-Z", "--", "PRIVATE KEY-----", str(snapshot_fs)], capture_output=True, timeout=900
    )
    assert proc.returncode in (0, 1), proc.stderr
    holders = {Path(p.decode()) for p in proc.stdout.split(b"\0") if p}
    # Symlinks are left out: an absolute one would resolve on this host, not in the snapshot.
    named = {
        p
        for p in snapshot_fs.rglob("*")
        if not p.is_symlink() and p.is_file() and (p.suffix in (".pem", ".key") or p.name in KEY_NAMES)
    }
    shipped = _package_files(snapshot_fs)
    leftovers = []
    for path in sorted(holders | named):
        rel = "/" + str(path.relative_to(snapshot_fs))
        if rel.startswith(("/etc/ssl/certs/", "/usr/share/ca-certificates/")) and path in named - holders:
            continue  # CA certificates: public
        md5 = hashlib.md5(path.read_bytes()).hexdigest()  # noqa: S324 - compared with dpkg's md5sums
        if shipped.get(rel) == md5:
            continue
        if path not in holders and b"PRIVATE KEY" not in path.read_bytes():
            continue  # a public certificate with a .pem name (e.g. a CA bundle a tool ships)
        leftovers.append(rel)
    assert leftovers == []
    assert sorted(p.name for p in (snapshot_fs / "etc/ssl/private").glob("*")) == []


def test_snapshot_has_no_leftover_logs(snapshot_fs):
    nonempty = [str(p.relative_to(snapshot_fs)) for p in files_under(snapshot_fs, "var/log") if p.stat().st_size]
    assert nonempty == []


def test_snapshot_cloud_init_state_is_clean(snapshot_fs):
    cloud = snapshot_fs / "var/lib/cloud"
    left = sorted(p.name for p in cloud.iterdir()) if cloud.exists() else []
    # seed/: where the local cloud mounts each droplet's NoCloud seed (DigitalOcean has none); empty here.
    assert set(left) <= {"seed"}, left
    assert [p for p in (cloud / "seed").rglob("*") if p.is_file()] == []
    assert (snapshot_fs / "etc/machine-id").read_text() == ""  # each droplet gets its own id


def test_snapshot_carries_the_agent_and_what_it_runs(snapshot_fs):
    assert (snapshot_fs / "opt/odoo-droplet/firstboot/__init__.py").is_file()
    assert (snapshot_fs / "etc/systemd/system/odoo-droplet-firstboot.service").is_file()
    # Enabled = a symlink in some target's .wants/ (absolute, so it is looked at, not followed, here).
    wants = [
        d / "odoo-droplet-firstboot.service"
        for d in (snapshot_fs / "etc/systemd/system").glob("*.wants")
        if (d / "odoo-droplet-firstboot.service").is_symlink()
    ]
    assert wants, "odoo-droplet-firstboot.service is not enabled"
    baked = json.loads((snapshot_fs / "etc/odoo-droplet/baked.json").read_text())
    assert baked["tag"] == "18.0" and baked["prior_tag"] == "18.0-prior"
    assert (snapshot_fs / "etc/odoo-droplet/deploy.json").stat().st_mode & 0o777 == 0o600
    for binary in ("usr/sbin/nginx", "usr/bin/certbot", "usr/sbin/dockerd", "usr/sbin/ufw"):
        assert (snapshot_fs / binary).exists(), binary
    plugin = snapshot_fs / "usr/local/lib/docker/cli-plugins/docker-compose"
    target = Path(os.readlink(plugin)) if plugin.is_symlink() else plugin.relative_to(snapshot_fs)
    assert (snapshot_fs / str(target).lstrip("/")).is_file()  # the link resolved inside the snapshot
    assert not (snapshot_fs / "etc/nginx/sites-enabled/default").exists()
    assert not (snapshot_fs / "root/.docker").exists()  # no registry login left
    assert (snapshot_fs / "usr/bin/cloud-init").is_file()  # DigitalOcean's image rules: cloud-init present
    # Per-droplet material made at first boot is never shared between droplets through the snapshot.
    for per_droplet in (
        "etc/odoo-droplet/secrets.env",
        "etc/odoo-droplet/tls",
        "etc/odoo-droplet/stack",
        "root/odoo-droplet-credentials",
        "etc/nginx/sites-enabled/odoo.conf",
    ):
        assert not (snapshot_fs / per_droplet).exists(), per_droplet
    assert list((snapshot_fs / "var/lib/odoo-droplet").iterdir()) == []


def test_no_secret_used_in_the_build_is_anywhere_in_the_snapshot(
    baked_snapshot, snapshot_fs, snapshot_volume, tmp_path
):
    """grep -r -F over the whole exported tree and the inner /var/lib/docker volume, binary files included."""
    env = baked_snapshot["env"]
    values = [env[n] for n in SECRET_NAMES if env.get(n)]
    assert len(values) >= 5  # DB_PASSWORD, ADMIN_PASSWD, DIGITALOCEAN_TOKEN, SPACES_KEY, SPACES_SECRET
    patterns = tmp_path / "patterns"
    patterns.write_text("\n".join(values) + "\n")
    tree = subprocess.run(
        ["grep", "-r", "-l", "-a", "-F", "-f", str(patterns), str(snapshot_fs)],
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert tree.returncode == 1, f"secret found in: {tree.stdout[:2000]} {tree.stderr[:500]}"
    volume = docker(
        "run",
        "--rm",
        "--network",
        "none",
        "-v",
        f"{snapshot_volume}:/vol:ro",
        "-v",
        f"{patterns}:/patterns:ro",
        db.ROOTFS_IMAGE,
        "grep",
        "-r",
        "-l",
        "-a",
        "-F",
        "-f",
        "/patterns",
        "/vol",
        timeout=1800,
    )
    assert volume.returncode == 1, f"secret found in the inner /var/lib/docker: {volume.stdout[:2000]}"
    # The search itself works: a planted value is found the same way.
    probe = snapshot_fs / "tmp" / "odl-probe"
    probe.write_text("xx" + values[0] + "yy")
    try:
        found = subprocess.run(
            ["grep", "-r", "-l", "-a", "-F", "-f", str(patterns), str(snapshot_fs / "tmp")],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert found.returncode == 0 and "odl-probe" in found.stdout
    finally:
        probe.unlink()


# ---------------------------------------------------------------- droplets made from it, no user-data


class ConsoleDroplets:
    """Droplets from the snapshot with no user-data, through the API; deleted at the end of the module."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env, self.url, self.s = env, env["DIGITALOCEAN_API_URL"], api(env)
        self.ids: list[int] = []

    def create(self, name: str, snapshot_id: int) -> int:
        r = self.s.post(
            f"{self.url}/v2/droplets",
            json={
                "name": name,
                "region": "nyc3",
                "size": "s-1vcpu-1gb",
                "image": snapshot_id,
                "tags": ["odl-e2e-image"],
            },
        )
        assert r.status_code == 202, r.text
        self.ids.append(r.json()["droplet"]["id"])
        return self.ids[-1]

    def wait_active(self, droplet_id: int) -> None:
        poll(
            lambda: self.s.get(f"{self.url}/v2/droplets/{droplet_id}").json()["droplet"]["status"] == "active",
            600,
            f"droplet {droplet_id} active",
            interval=1,
        )

    def exec(self, droplet_id: int, *argv: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return db.droplet_exec(droplet_id, argv, timeout=timeout)

    def delete_all(self) -> None:
        for droplet_id in self.ids:
            self.s.delete(f"{self.url}/v2/droplets/{droplet_id}")


@pytest.fixture(scope="module")
def console_droplets(baked_snapshot) -> Iterator[tuple[ConsoleDroplets, int, int]]:
    made = ConsoleDroplets(baked_snapshot["env"])
    try:
        first = made.create("odl-e2e-from-snapshot-1", baked_snapshot["snapshot_id"])
        second = made.create("odl-e2e-from-snapshot-2", baked_snapshot["snapshot_id"])
        for droplet_id in (first, second):
            made.wait_active(droplet_id)
        for droplet_id in (first, second):
            done = made.exec(droplet_id, "cloud-init", "status", "--wait", timeout=600)
            assert "done" in done.stdout, done.stdout + done.stderr
        yield made, first, second
        assert not made.s.errors, "\n".join(made.s.errors)
    finally:
        made.delete_all()


def test_droplet_from_the_snapshot_has_the_agent_enabled_and_compose_v2(console_droplets):
    made, first, _ = console_droplets
    enabled = made.exec(first, "systemctl", "is-enabled", "odoo-droplet-firstboot.service")
    assert enabled.stdout.strip() == "enabled", enabled.stdout + enabled.stderr
    agent = made.exec(
        first,
        "env",
        "PYTHONPATH=/opt/odoo-droplet",
        "python3",
        "-c",
        "import firstboot.config, firstboot.contract.layout; print('ok')",
    )
    assert agent.stdout.strip() == "ok", agent.stderr
    poll(lambda: made.exec(first, "docker", "info").returncode == 0, 180, "the inner Docker engine")
    compose = made.exec(first, "docker", "compose", "version")
    assert compose.returncode == 0 and "Docker Compose version v2" in compose.stdout, compose.stdout + compose.stderr
    for argv in (["nginx", "-v"], ["certbot", "--version"]):
        assert made.exec(first, *argv).returncode == 0, argv


def test_droplet_from_the_snapshot_has_every_baked_image_without_a_registry(console_droplets):
    made, first, _ = console_droplets
    baked = json.loads(made.exec(first, "cat", "/etc/odoo-droplet/baked.json").stdout)
    # No redis: examples/deploy.yaml leaves it off (Odoo 18 Community does not use it).
    assert baked["images"] == ["10.213.0.1:5000/odoo:18.0", "10.213.0.1:5000/odoo:18.0-prior", "postgres:16"]
    poll(lambda: made.exec(first, "docker", "info").returncode == 0, 180, "the inner Docker engine")
    missing = [ref for ref in baked["images"] if made.exec(first, "docker", "image", "inspect", ref).returncode]
    assert missing == []


def test_droplet_from_the_snapshot_has_its_firewall_up(console_droplets):
    made, first, _ = console_droplets
    status = poll(
        lambda: (r := made.exec(first, "ufw", "status")).returncode == 0 and "Status: active" in r.stdout and r.stdout,
        120,
        "ufw active",
    )
    for port in ("22/tcp", "80/tcp", "443/tcp"):
        assert re.search(rf"^{port}\s+ALLOW", status, re.M), status


def test_droplet_from_the_snapshot_has_no_pending_update_as_of_the_build(console_droplets):
    """DigitalOcean's image check: no pending (security) updates. Judged with the package lists baked in
    (no `apt-get update`: the answer must not depend on when the test runs)."""
    made, first, _ = console_droplets
    sim = made.exec(first, "apt-get", "-s", "-o", "Debug::NoLocking=1", "upgrade", "--with-new-pkgs")
    assert sim.returncode == 0, sim.stderr
    assert [line for line in sim.stdout.splitlines() if line.startswith("Inst ")] == []


def test_two_droplets_from_the_snapshot_get_their_own_ssh_host_keys(console_droplets):
    made, first, second = console_droplets

    def host_key(droplet_id: int) -> str:
        r = made.exec(droplet_id, "cat", "/etc/ssh/ssh_host_ed25519_key.pub")
        assert r.returncode == 0, r.stderr
        return r.stdout.split()[1]

    assert host_key(first) != host_key(second)
    ids = [made.exec(d, "cat", "/etc/machine-id").stdout.strip() for d in (first, second)]
    assert ids[0] and ids[1] and ids[0] != ids[1]
