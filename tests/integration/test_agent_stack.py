"""The agent's core against the real Docker engine, Compose v2 and PostgreSQL, with the local cloud's
odoo stand-in images (no registry reachable here; the stand-in keeps odoo:18.0's interface).

Real: docker compose up/run/ps/exec, pg_isready, psql on ir_module_module, dropdb, `odoo -i` exit codes,
the container that survives its killed client. Not here: host nginx, systemctl and iptables (the host is
shared; the rendered nginx site has its own live test and the e2e runs all of it inside a droplet), so
edge probes go straight to Odoo's ports, published on free loopback ports instead of 8069/8072.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import pytest

from firstboot.clock import SystemClock
from firstboot.config import (
    BuildInfo,
    Deploy,
    EdgeSpec,
    GatesSpec,
    OdooSpec,
    PostgresSpec,
    RedisSpec,
    RegistrySpec,
    Resources,
)
from firstboot.contract.layout import Layout
from firstboot.core import Agent, Renderers
from firstboot.inputs import load_inputs
from firstboot.probes import LoopbackHttp, run_command
from firstboot.state import atomic_write, load_state

pytestmark = pytest.mark.integration

REG = "10.213.0.1:5000"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def need_images(*refs: str) -> None:
    """The stand-in images this test runs; built (Docker-cached, seconds when present) when missing, so the
    test does not depend on another test module having built them first on a fresh machine."""
    missing = [ref for ref in refs
               if subprocess.run(["docker", "image", "inspect", ref], capture_output=True).returncode != 0]
    if missing:
        from localcloud import services
        from localcloud.home import Home

        services.build_standin_images(Home.from_env(), REG)
    for ref in missing:
        if subprocess.run(["docker", "image", "inspect", ref], capture_output=True).returncode != 0:
            pytest.fail(f"{ref} missing after building the stand-ins (localcloud.services.build_standin_images)")


class PortMappedHttp:
    """LoopbackHttp with Odoo's fixed ports moved to free ones, and the edge (443, nginx) sent straight to
    Odoo: 8069 for pages, 8072 (gevent) for /websocket, as the rendered nginx site routes them."""

    def __init__(self, http_port: int, gevent_port: int) -> None:
        self.inner, self.http_port, self.gevent_port = LoopbackHttp(), http_port, gevent_port

    def get(self, url, *, connect_host, port, tls, host_header, timeout, follow=0):
        return self.inner.get(url, connect_host=connect_host, port=self.http_port, tls=False,
                              host_header=host_header, timeout=timeout, follow=follow)

    def websocket(self, url, *, connect_host, port, tls, host_header, origin, timeout):
        return self.inner.websocket(url, connect_host=connect_host, port=self.gevent_port, tls=False,
                                    host_header=host_header, origin=origin, timeout=timeout)

    def authenticate(self, base_url, database, login, password, *, connect_host, port, tls, host_header, timeout):
        return self.inner.authenticate(base_url, database, login, password, connect_host=connect_host,
                                       port=self.http_port, tls=False, host_header=host_header, timeout=timeout)


def no_metadata():
    raise AssertionError("this deploy has nothing to cut over: the metadata service must not be asked")


class HostRunner:
    """Real commands, except the host-level ones this shared machine must not have changed."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, ...]] = []
        self.kill_install_client = False

    def __call__(self, args, *, timeout, stdin=None, env=None):
        from firstboot.gates import CommandResult

        self.calls.append(tuple(args))
        if args[0] in ("nginx", "systemctl", "iptables"):
            return CommandResult(tuple(args), 0, "", "")
        if self.kill_install_client and "--name" in args and "run" in args:
            self.kill_install_client = False
            return self._die_mid_install(args)
        return run_command(args, timeout=timeout, stdin=stdin, env=env)

    def _die_mid_install(self, args):
        """Start the install, then SIGKILL its compose client once the container runs: the agent's
        death as systemd would deal it. Raises, like the dead process that never returns."""
        name = args[args.index("--name") + 1]
        p = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            r = subprocess.run(["docker", "inspect", "-f", "{{.State.Running}}", name], capture_output=True,
                               text=True)
            if r.stdout.strip() == "true":
                break
            time.sleep(0.2)  # polling a condition with a deadline
        os.kill(p.pid, signal.SIGKILL)
        p.wait(10)
        raise KeyboardInterrupt("agent killed mid-install")


def build_stack(root: Path):
    """(make_agent, paths, runner, secrets, cleanup) for a stack rooted at `root`."""
    need_images(f"{REG}/odoo:18.0-good", f"{REG}/odoo:18.0-prior", f"{REG}/odoo:18.0-failinstall",
                f"{REG}/postgres:16", f"{REG}/redis:7")
    project = "odltest" + secrets.token_hex(4)
    p1, p2 = free_port(), free_port()
    deploy = Deploy(
        project=project,
        odoo=OdooSpec(image="odoo", tag="18.0-good", modules=("base", "web"), database="odoo", workers=2),
        postgres=PostgresSpec(image=f"{REG}/postgres:16"),
        redis=RedisSpec(image=f"{REG}/redis:7"),
        edge=EdgeSpec(domain="erp.example.test"),
        registry=RegistrySpec(host=REG),
        gates=GatesSpec(timeout_seconds=120, soak_seconds=3, probe_timeout_seconds=5, install_timeout_seconds=300),
        build=BuildInfo(git_sha="b" * 40),
        deploy_id="deploy-20261127-040000",
    )
    paths = Layout(root)
    paths.etc.mkdir(parents=True)
    atomic_write(paths.baked_json, json.dumps({"prior_tag": "18.0-prior"}))
    sec = {"DB_PASSWORD": "pw-" + secrets.token_hex(8), "ADMIN_PASSWD": "adm-" + secrets.token_hex(8)}
    atomic_write(paths.secrets_env, "".join(f"{k}={v}\n" for k, v in sec.items()))

    real = Renderers.default()

    def compose(d, image_ref):
        text = real.compose(d, image_ref)
        return text.replace("127.0.0.1:8069:8069", f"127.0.0.1:{p1}:8069").replace(
            "127.0.0.1:8072:8072", f"127.0.0.1:{p2}:8072")

    runner = HostRunner()

    def make(tag: str = "18.0-good") -> Agent:
        atomic_write(paths.deploy_json, json.dumps(replace(deploy, odoo=replace(deploy.odoo, tag=tag)).to_dict()))
        renderers = replace(real, compose=compose)
        return Agent(paths, load_inputs(paths), runner, PortMappedHttp(p1, p2), SystemClock(),
                     resources=lambda: Resources(2, 4096, 80), free_disk_gb=lambda: 50.0,
                     spaces=lambda: None, renderers=renderers, metadata=no_metadata)

    def cleanup() -> None:
        subprocess.run(["docker", "rm", "-f", f"odl-install-{deploy.deploy_id}-0",
                        f"odl-install-{deploy.deploy_id}-1"], capture_output=True)
        subprocess.run(["docker", "compose", "-p", project, "-f", str(paths.stack_dir / "docker-compose.yml"),
                        "down", "-v", "-t", "0"], capture_output=True, timeout=120)

    return make, paths, runner, sec, cleanup


@pytest.fixture
def stack():
    # Our own directory, not pytest's tmp_path: pytest prunes old basetemp dirs, and concurrent runs by
    # others on this machine could remove ours while compose still bind-mounts odoo.conf from it.
    root = Path(tempfile.mkdtemp(prefix="odl-agent-it-"))
    make, paths, runner, sec, cleanup = build_stack(root)
    yield make, paths, runner, sec
    cleanup()
    shutil.rmtree(root, ignore_errors=True)


def module_rows(paths: Layout, project: str) -> str:
    r = subprocess.run(["docker", "compose", "-p", project, "-f", str(paths.stack_dir / "docker-compose.yml"), "exec",
                        "-T", "db", "psql", "-At", "-U", "odoo", "-d", "odoo", "-c",
                        "select name, state from ir_module_module where name in ('base','web') order by 1"],
                       capture_output=True, text=True, timeout=60)
    return r.stdout


def test_real_stack_happy_path(stack):
    make, paths, runner, sec = stack
    agent = make()
    st = agent.run_all()
    gates = {g["name"]: g for g in st.attempts[0].gates}
    assert st.status == "success", (st.attempts[0].failed, gates)
    assert all(g["passed"] for g in gates.values())
    assert module_rows(paths, agent.compose.project) == "base|installed\nweb|installed\n"
    proofs = paths.proof_dir(st.deploy_id)
    doc = json.loads((proofs / "deploy_status.json").read_text())
    assert doc["status"] == "success" and doc["cutover"]["reason"].startswith("no reserved IP and no DNS")
    text = "".join(p.read_text(errors="replace") for p in proofs.rglob("*") if p.is_file())
    assert sec["DB_PASSWORD"] not in text and sec["ADMIN_PASSWD"] not in text
    assert "realtime_route PASS" in (proofs / "healthcheck.log").read_text()


def test_real_failed_install_rolls_back_on_a_fresh_database(stack):
    make, paths, runner, sec = stack
    agent = make("18.0-failinstall")
    st = agent.run_all()
    assert st.status == "rolled_back", st.attempts
    assert "exited 255" in st.attempts[0].failed
    assert st.attempts[1].tag == "18.0-prior" and st.attempts[1].passed
    assert st.rollback.database.startswith("dropped")
    assert any("dropdb" in c for c in runner.calls)
    assert module_rows(paths, agent.compose.project) == "base|installed\nweb|installed\n"


def test_real_kill_mid_install_resumes_without_a_second_install(stack):
    make, paths, runner, sec = stack
    runner.kill_install_client = True
    with pytest.raises(KeyboardInterrupt):
        make().run_all()
    st = load_state(paths.state_json)
    assert st and "install" not in st.attempts[0].done
    st = make().run_all()
    assert st.status == "success", st.attempts[0].failed
    assert st.attempts[0].install.get("resumed") is True
    installs = [c for c in runner.calls if "--stop-after-init" in c]
    assert len(installs) == 1  # the killed client's container finished the one install
    assert Path(paths.proof_dir(st.deploy_id) / "module_install.log").read_text().strip()
