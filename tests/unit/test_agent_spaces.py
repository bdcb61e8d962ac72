"""Spaces for the droplet (firstboot/spaces.py): our stdlib SigV4 signs exactly as botocore does, and
the outbox keeps every upload until Spaces has taken it."""

from __future__ import annotations

import datetime as dt
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from unittest import mock

import botocore.auth
import pytest
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from firstboot.spaces import Outbox, Spaces, SpacesError, sigv4_headers

NOW = dt.datetime(2026, 11, 27, 3, 4, 5, tzinfo=dt.UTC)


@pytest.mark.parametrize("method,key,body,ctype", [
    ("PUT", "proofs/deploy-20261127-030405/deploy_status.json", b'{"a": 1}', "application/json"),
    ("GET", "state/last_good.json", b"", None),
    ("PUT", "proofs/deploy-20261127-030405/diagnostics/attempt-0-nginx error.log", b"x" * 1000, "text/plain"),
])
def test_sigv4_matches_botocore(method, key, body, ctype):
    from urllib.parse import quote

    url = f"http://10.213.0.1:9000/odl-proofs/{quote(key, safe='/-_.~')}"
    ours = sigv4_headers(method, url, "nyc3", "AKIDTEST", "secret/test+key", body, NOW, ctype)
    headers = {"Content-Type": ctype} if ctype else {}
    req = AWSRequest(method=method, url=url, data=body, headers=headers)
    with mock.patch.object(botocore.auth, "get_current_datetime", return_value=NOW.replace(tzinfo=None)):
        botocore.auth.S3SigV4Auth(Credentials("AKIDTEST", "secret/test+key"), "s3", "nyc3").add_auth(req)
    assert ours["Authorization"] == req.headers["Authorization"]
    assert ours["x-amz-date"] == req.headers["X-Amz-Date"]


class Bucket:
    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.fail_next = 0
        self.auth: list[str] = []


@pytest.fixture
def s3():
    b = Bucket()

    class H(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def _reply(self, status, body=b""):
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_PUT(self):
            data = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            b.auth.append(self.headers.get("Authorization", ""))
            if b.fail_next:
                b.fail_next -= 1
                return self._reply(503)
            b.objects[self.path] = data
            self._reply(200)

        def do_GET(self):
            if self.path in b.objects:
                return self._reply(200, b.objects[self.path])
            self._reply(404, b"<Error><Code>NoSuchKey</Code></Error>")

    srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True).start()
    yield b, f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


def spaces(url: str, sleeps: list[float]) -> Spaces:
    return Spaces(url, "nyc3", "odl-proofs", "AK", "SECRET", timeout=5, sleep=sleeps.append, now=lambda: NOW)


def test_put_get_with_bounded_retries(s3):
    b, url = s3
    sleeps: list[float] = []
    sp = spaces(url, sleeps)
    b.fail_next = 2
    sp.put("state/last_good.json", b'{"tag": "18.0"}', "application/json")
    assert b.objects["/odl-proofs/state/last_good.json"] == b'{"tag": "18.0"}' and len(sleeps) == 2
    assert sp.get_json("state/last_good.json") == {"tag": "18.0"}
    assert sp.get_json("state/missing.json") is None
    assert all(a.startswith("AWS4-HMAC-SHA256 Credential=AK/20261127/nyc3/s3/aws4_request") for a in b.auth)
    b.fail_next = 99
    with pytest.raises(SpacesError):
        sp.put("x", b"y")
    assert len(sleeps) == 2 + 3  # 4 attempts, 3 waits


def test_outbox_keeps_everything_until_spaces_takes_it(s3, tmp_path):
    b, url = s3
    proof = tmp_path / "deploy_status.json"
    proof.write_text('{"status": "success"}')
    box = Outbox(tmp_path / "outbox")
    box.add_file("proofs/d/deploy_status.json", proof)
    box.add_content("state/last_good.json", json.dumps({"tag": "t"}))
    unreachable = Spaces("http://127.0.0.1:9", "nyc3", "odl-proofs", "AK", "SECRET", timeout=2, attempts=1,
                         sleep=lambda s: None)
    done, errors = box.drain(unreachable)
    assert done == [] and errors and len(box.pending()) == 2
    # The newest content for a key wins; a file entry uploads the file as it is at drain time.
    proof.write_text('{"status": "success", "cutover": {"assigned": true}}')
    box.add_content("state/last_good.json", json.dumps({"tag": "t2"}))
    done, errors = box.drain(spaces(url, []))
    assert errors == [] and sorted(done) == ["proofs/d/deploy_status.json", "state/last_good.json"]
    assert box.pending() == []
    assert json.loads(b.objects["/odl-proofs/proofs/d/deploy_status.json"])["cutover"]["assigned"] is True
    assert json.loads(b.objects["/odl-proofs/state/last_good.json"]) == {"tag": "t2"}
