"""`python -m localcloud up --api-only | env | status | down` as a user runs them: a real daemon process,
its pidfile and log, the printed environment driving pydo, state kept across a restart."""

from __future__ import annotations

import os
import shlex
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.localcloud_support import ValidatingSession

pytestmark = pytest.mark.integration
pytest_plugins = ["tests.localcloud_fixtures"]
REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def localcloud(home: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-m", "localcloud", "--home", str(home), *args], env=env,
                          capture_output=True, text=True, timeout=90, cwd=REPO)
    if check:
        assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def exports(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        assert line.startswith("export "), line
        key, _, value = line[len("export "):].partition("=")
        out[key] = shlex.split(value)[0]
    return out


@pytest.fixture
def daemon_home(tmp_path: Path):
    home = tmp_path / "lc"
    yield home
    localcloud(home, "down", check=False)


def test_up_env_pydo_status_down_and_state_across_restart(daemon_home: Path, do_openapi_spec, monkeypatch):
    import pydo
    from azure.core.pipeline.transport import RequestsTransport

    port = free_port()
    localcloud(daemon_home, "up", "--api-only", "--host", "127.0.0.1", "--port", str(port))
    pid = (daemon_home / "api.pid").read_text().strip()
    assert (daemon_home / "logs" / "api.log").exists()
    assert oct((daemon_home / "credentials.json").stat().st_mode & 0o777) == "0o600"

    # Idempotent: a second `up` keeps the running server.
    localcloud(daemon_home, "up", "--api-only", "--host", "127.0.0.1", "--port", str(port))
    assert (daemon_home / "api.pid").read_text().strip() == pid

    env = exports(localcloud(daemon_home, "env").stdout)
    assert env["DIGITALOCEAN_API_URL"] == f"https://127.0.0.1:{port}"
    assert set(env) >= {"DIGITALOCEAN_TOKEN", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "SPACES_ENDPOINT",
                        "SPACES_KEY", "SPACES_SECRET", "REGISTRY"}
    # pydo configured only by what `env` printed (requests reads REQUESTS_CA_BUNDLE from the environment).
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    session = ValidatingSession(do_openapi_spec, cafile=None)
    client = pydo.Client(token=os.environ["DIGITALOCEAN_TOKEN"], endpoint=os.environ["DIGITALOCEAN_API_URL"],
                         transport=RequestsTransport(session=session, session_owner=False), retry_total=0)
    client.domains.create({"name": "example.net"})
    assert client.domains.get("example.net")["domain"]["name"] == "example.net"

    status = localcloud(daemon_home, "status").stdout
    assert '"running": true' in status and f'"pid": {pid}' in status

    localcloud(daemon_home, "down")
    assert localcloud(daemon_home, "status", check=False).returncode == 3
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()

    localcloud(daemon_home, "up", "--api-only", "--host", "127.0.0.1", "--port", str(port))
    assert (daemon_home / "api.pid").read_text().strip() != pid
    assert client.domains.get("example.net")["domain"]["name"] == "example.net"
    assert session.exchanges >= 3 and not session.errors


def test_up_reports_a_server_that_cannot_start(tmp_path: Path):
    home = tmp_path / "lc"
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = localcloud(home, "up", "--api-only", "--host", "127.0.0.1", "--port", str(port), check=False)
    assert proc.returncode == 1
    assert "Address already in use" in proc.stderr


def test_api_only_with_spaces_on_free_ports_keeps_them_and_stops_them(daemon_home: Path):
    """`up --api-only --with-spaces --port 0` (what `odoo-droplet local up --api-only` asks for): the API and
    moto's S3 behind its loopback front, on ports the kernel chose, the same ones again on a second `up`,
    printed by `env`, and closed by `down`."""
    import boto3

    localcloud(daemon_home, "up", "--api-only", "--with-spaces", "--port", "0")
    env = exports(localcloud(daemon_home, "env").stdout)
    localcloud(daemon_home, "up", "--api-only", "--with-spaces", "--port", "0")
    assert exports(localcloud(daemon_home, "env").stdout) == env  # idempotent: the same ports
    api_port = int(env["DIGITALOCEAN_API_URL"].rsplit(":", 1)[1])
    spaces_port = int(env["SPACES_ENDPOINT"].rsplit(":", 1)[1])
    assert env["SPACES_ENDPOINT"].startswith("http://127.0.0.1:") and 9000 not in (api_port, spaces_port)

    s3 = boto3.client("s3", endpoint_url=env["SPACES_ENDPOINT"], region_name="nyc3",
                      aws_access_key_id=env["SPACES_KEY"], aws_secret_access_key=env["SPACES_SECRET"])
    s3.create_bucket(Bucket="api-only")
    s3.put_object(Bucket="api-only", Key="k", Body=b"v")
    assert s3.get_object(Bucket="api-only", Key="k")["Body"].read() == b"v"

    localcloud(daemon_home, "down")
    for port in (api_port, spaces_port):
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
