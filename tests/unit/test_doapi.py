"""firstboot/doapi.py against a tiny HTTP server on loopback that answers like DigitalOcean's API for
reserved IPs, their actions and DNS records, including 429 with retry-after, 500 after the work was done
(the lost answer), and 422 while an action is pending. The point: exactly ONE assignment."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from firstboot.doapi import DoApi, DoApiError

IP = "127.0.0.100"
ME, OTHER = 4242, 1111
TOKEN = "test-token-not-secret"


class FakeDO:
    """State and scripted faults. `post_faults`: for each assign POST in order, None (normal), "429"
    (refused, not applied), "500-after" (applied, answer lost), "500" (not applied)."""

    def __init__(self) -> None:
        self.holder: int | None = OTHER
        self.assignments: list[int] = []  # applied assignments
        self.posts = 0
        self.post_faults: list[str | None] = []
        self.get_faults: list[str | None] = []
        self.actions: dict[int, dict[str, Any]] = {}
        self.action_polls_left: dict[int, int] = {}
        self.in_progress_polls = 0  # how many GETs an action stays in-progress
        self.records: list[dict[str, Any]] = []
        self.record_posts = 0
        self.record_post_faults: list[str | None] = []
        self.auth_seen: set[str] = set()
        self.lock = threading.Lock()

    def _apply_assign(self, droplet_id: int) -> dict[str, Any]:
        aid = 1000 + len(self.actions)
        self.assignments.append(droplet_id)
        self.holder = droplet_id
        status = "in-progress" if self.in_progress_polls else "completed"
        self.actions[aid] = {"id": aid, "status": status, "type": "assign_ip", "resource_id": 1,
                             "resource_type": "reserved_ip"}
        self.action_polls_left[aid] = self.in_progress_polls
        return self.actions[aid]

    def locked(self) -> bool:
        return any(a["status"] == "in-progress" for a in self.actions.values())


def make_handler(do: FakeDO):
    class H(BaseHTTPRequestHandler):
        def log_message(self, *a):  # quiet
            pass

        def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
            raw = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(raw)

        def do_GET(self):
            with do.lock:
                do.auth_seen.add(self.headers.get("Authorization", ""))
                u = urlsplit(self.path)
                if do.get_faults:
                    f = do.get_faults.pop(0)
                    if f == "429":
                        return self._send(429, {"id": "too_many_requests"}, {"retry-after": "3"})
                    if f == "500":
                        return self._send(500, {"id": "server_error"})
                    if f == "503-retry-after":
                        return self._send(503, {"id": "server_error"}, {"retry-after": "7"})
                if u.path == f"/v2/reserved_ips/{IP}":
                    droplet = {"id": do.holder, "name": f"d{do.holder}"} if do.holder else None
                    return self._send(200, {"reserved_ip": {"ip": IP, "droplet": droplet, "locked": do.locked(),
                                                            "region": {"slug": "nyc3"}}})
                if u.path == f"/v2/reserved_ips/{IP}/actions":
                    return self._send(200, {"actions": list(do.actions.values())})
                if u.path.startswith(f"/v2/reserved_ips/{IP}/actions/"):
                    aid = int(u.path.rsplit("/", 1)[1])
                    if do.action_polls_left.get(aid, 0) > 0:
                        do.action_polls_left[aid] -= 1
                    else:
                        do.actions[aid]["status"] = "completed"
                    return self._send(200, {"action": do.actions[aid]})
                if u.path == "/v2/domains/example.test/records":
                    q = parse_qs(u.query)
                    recs = [r for r in do.records if r["type"] == q.get("type", ["A"])[0]
                            and f"{r['name']}.example.test" == q.get("name", [""])[0]]
                    return self._send(200, {"domain_records": recs})
                return self._send(404, {"id": "not_found"})

        def do_POST(self):
            with do.lock:
                u = urlsplit(self.path)
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if u.path == f"/v2/reserved_ips/{IP}/actions":
                    do.posts += 1
                    if do.locked():
                        return self._send(422, {"id": "unprocessable_entity", "message": "locked"})
                    f = do.post_faults.pop(0) if do.post_faults else None
                    if f == "429":
                        return self._send(429, {"id": "too_many_requests"}, {"retry-after": "2"})
                    if f == "500":
                        return self._send(500, {"id": "server_error"})
                    action = do._apply_assign(body["droplet_id"])
                    if f == "500-after":
                        return self._send(500, {"id": "server_error"})  # done, but the answer is lost
                    return self._send(201, {"action": action})
                if u.path == "/v2/domains/example.test/records":
                    do.record_posts += 1
                    rec = {"id": 10 + len(do.records), **body}
                    f = do.record_post_faults.pop(0) if do.record_post_faults else None
                    if f == "403":
                        return self._send(403, {"id": "forbidden", "message": "You are not authorized"})
                    if f == "500":
                        return self._send(500, {"id": "server_error"})
                    do.records.append(rec)
                    if f == "500-after":
                        return self._send(500, {"id": "server_error"})
                    return self._send(201, {"domain_record": rec})
                return self._send(404, {"id": "not_found"})

        def do_PUT(self):
            with do.lock:
                u = urlsplit(self.path)
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                rid = int(u.path.rsplit("/", 1)[1])
                for r in do.records:
                    if r["id"] == rid:
                        r.update(body)
                        return self._send(200, {"domain_record": r})
                return self._send(404, {"id": "not_found"})

    return H


@pytest.fixture
def do_server():
    do = FakeDO()
    srv = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(do))
    t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    t.start()
    yield do, f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


class Sleeps:
    def __init__(self) -> None:
        self.calls: list[float] = []
        self.t = 0.0

    def sleep(self, s: float) -> None:
        self.calls.append(s)
        self.t += s

    def monotonic(self) -> float:
        return self.t


def client(url: str, sleeps: Sleeps) -> DoApi:
    return DoApi(url, TOKEN, sleep=sleeps.sleep, monotonic=sleeps.monotonic, timeout=5)


def test_assign_plain(do_server):
    do, url = do_server
    res = client(url, Sleeps()).assign_reserved_ip(IP, ME)
    assert do.assignments == [ME] and do.posts == 1 and res.posts == 1 and not res.already
    assert do.auth_seen == {f"Bearer {TOKEN}"}


def test_429_waits_retry_after_then_assigns_once(do_server):
    do, url = do_server
    do.post_faults = ["429"]
    s = Sleeps()
    res = client(url, s).assign_reserved_ip(IP, ME)
    assert do.assignments == [ME]
    assert do.posts == 2 and res.posts == 2  # the 429 was refused, not applied: one real assignment
    assert 2.0 in s.calls  # waited what retry-after said


def test_500_after_the_work_is_done_sends_no_second_assign(do_server):
    do, url = do_server
    do.post_faults = ["500-after"]
    res = client(url, Sleeps()).assign_reserved_ip(IP, ME)
    assert do.assignments == [ME]
    assert do.posts == 1 and res.posts == 1  # it looked, saw the IP on this droplet, and stopped
    assert any("held by droplet 4242" in line for line in res.log)


def test_500_with_action_still_in_progress_waits_for_it(do_server):
    do, url = do_server
    do.post_faults = ["500-after"]
    do.in_progress_polls = 3
    res = client(url, Sleeps()).assign_reserved_ip(IP, ME)
    assert do.assignments == [ME] and do.posts == 1
    assert any("waiting for in-progress action" in line for line in res.log)
    assert all(a["status"] == "completed" for a in do.actions.values())


def test_500_not_applied_is_resent_once(do_server):
    do, url = do_server
    do.post_faults = ["500", "429"]
    res = client(url, Sleeps()).assign_reserved_ip(IP, ME)
    assert do.assignments == [ME] and do.posts == 3 and res.posts == 3


def test_already_holding_sends_nothing(do_server):
    do, url = do_server
    do.holder = ME
    res = client(url, Sleeps()).assign_reserved_ip(IP, ME)
    assert res.already and res.posts == 0 and do.posts == 0 and do.assignments == []


def test_action_polled_to_completed(do_server):
    do, url = do_server
    do.in_progress_polls = 2
    res = client(url, Sleeps()).assign_reserved_ip(IP, ME)
    assert do.assignments == [ME] and do.posts == 1
    assert do.actions[res.action_id]["status"] == "completed"


def test_get_retries_429_and_500(do_server):
    do, url = do_server
    do.get_faults = ["429", "500"]
    s = Sleeps()
    assert client(url, s).holder(IP) == OTHER
    assert s.calls[0] == 3.0


def test_get_gives_up_bounded(do_server):
    do, url = do_server
    do.get_faults = ["500"] * 50
    s = Sleeps()
    with pytest.raises(DoApiError) as e:
        client(url, s).holder(IP)
    assert e.value.status == 500 and len(s.calls) == 8


def test_dns_create_update_noop(do_server):
    do, url = do_server
    api = client(url, Sleeps())
    assert api.upsert_a_record("example.test", "erp", "127.0.0.100").action == "create"
    assert api.upsert_a_record("example.test", "erp", "127.0.0.100").action == "none"
    res = api.upsert_a_record("example.test", "erp", "127.0.0.101")
    assert res.action == "update" and str(res) == "A erp.example.test updated -> 127.0.0.101"
    assert [(r["name"], r["data"]) for r in do.records] == [("erp", "127.0.0.101")]
    assert do.record_posts == 1  # created once, then found and updated in place


def test_dns_post_lost_answer_does_not_duplicate(do_server):
    do, url = do_server
    do.record_post_faults = ["500-after"]
    out = client(url, Sleeps()).upsert_a_record("example.test", "erp", "127.0.0.100")
    assert out.action == "create" and out.attempts == 2 and len(do.records) == 1 and do.record_posts == 1


def test_dns_every_stale_a_record_of_the_name_is_updated_none_created(do_server):
    do, url = do_server
    do.records = [{"id": 1, "type": "A", "name": "erp", "data": "127.0.0.9", "ttl": 60},
                  {"id": 2, "type": "A", "name": "erp", "data": "127.0.0.100", "ttl": 60},
                  {"id": 3, "type": "A", "name": "www", "data": "127.0.0.9", "ttl": 60}]
    res = client(url, Sleeps()).upsert_a_record("example.test", "erp", "127.0.0.100")
    assert res.action == "update" and do.record_posts == 0
    assert [(r["id"], r["data"]) for r in do.records] == [(1, "127.0.0.100"), (2, "127.0.0.100"), (3, "127.0.0.9")]


def test_dns_retried_through_429_and_503_honouring_retry_after_then_moved(do_server):
    do, url = do_server
    do.get_faults = ["429", "503-retry-after"]
    s = Sleeps()
    res = client(url, s).upsert_a_record("example.test", "erp", "127.0.0.100")
    assert res.action == "create" and [r["data"] for r in do.records] == ["127.0.0.100"]
    assert s.calls == [3.0, 7.0]  # each wait is the retry-after the API sent


def test_dns_gives_up_bounded_on_5xx(do_server):
    do, url = do_server
    do.get_faults = ["500"] * 50
    s = Sleeps()
    with pytest.raises(DoApiError) as e:
        client(url, s).upsert_a_record("example.test", "erp", "127.0.0.100")
    assert e.value.status == 500 and len(s.calls) == 8 and do.records == []


def test_dns_refused_is_final_not_retried(do_server):
    do, url = do_server
    do.record_post_faults = ["403"]
    s = Sleeps()
    with pytest.raises(DoApiError) as e:
        client(url, s).upsert_a_record("example.test", "erp", "127.0.0.100")
    assert e.value.status == 403 and s.calls == [] and do.record_posts == 1
