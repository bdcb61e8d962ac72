"""The droplet's stdlib Spaces client (firstboot/spaces.py) against moto's S3 server, the engine behind
the local cloud's Spaces: signed PUT/GET, a missing key, and the outbox drained into it."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import boto3
import pytest

from firstboot.contract.keys import LAST_GOOD_KEY
from firstboot.spaces import Outbox, Spaces

pytestmark = pytest.mark.integration


@pytest.fixture
def moto_endpoint():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = Path(sys.executable).parent / "moto_server"
    proc = subprocess.Popen([sys.executable, str(server), "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.1)  # polling the port with a deadline
    else:
        proc.kill()
        pytest.fail("moto_server did not start")
    s3 = boto3.client("s3", endpoint_url=url, region_name="us-east-1", aws_access_key_id="AK",
                      aws_secret_access_key="SK")
    s3.create_bucket(Bucket="odl-proofs")
    yield url, s3
    proc.terminate()
    proc.wait(10)


def test_put_get_and_outbox_against_moto(moto_endpoint, tmp_path):
    url, s3 = moto_endpoint
    sp = Spaces(url, "us-east-1", "odl-proofs", "AK", "SK", timeout=5)
    sp.put(LAST_GOOD_KEY, json.dumps({"tag": "18.0"}).encode(), "application/json")
    assert sp.get_json(LAST_GOOD_KEY) == {"tag": "18.0"}
    assert sp.get_json("state/none.json") is None
    proof = tmp_path / "healthcheck.log"
    proof.write_text("login_page PASS\n")
    box = Outbox(tmp_path / "outbox")
    box.add_file("proofs/deploy-20261127-030000/healthcheck.log", proof)
    done, errors = box.drain(sp)
    assert errors == [] and box.pending() == []
    body = s3.get_object(Bucket="odl-proofs", Key="proofs/deploy-20261127-030000/healthcheck.log")["Body"].read()
    assert body == b"login_page PASS\n"
