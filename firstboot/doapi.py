"""A small DigitalOcean API v2 client for the droplet itself (standard library only): reserved IP
get/assign with the action polled to `completed`, and the DNS A record.

Why not pydo here: the droplet runs Debian's python3 with no PyPI packages. And pydo's default retry
policy re-sends a POST on 429/5xx, which for an assign could move the IP twice. Here a POST is never
re-sent blindly: after any error the client first reads the reserved IP (and its actions) and only
re-sends when the droplet does not hold it and no assign is in progress.
"""

from __future__ import annotations

import json
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from firstboot.plans.dns import PAST_TENSE, RETRY_STATUSES, fqdn, plan_a_record, retry_wait


class NoApiToken(RuntimeError):
    """secrets.env holds no DIGITALOCEAN_TOKEN: the droplet cannot ask the API anything."""


class DoApiError(RuntimeError):
    def __init__(self, method: str, path: str, status: int, body: str) -> None:
        super().__init__(f"{method} {path}: {status} {body[:200]}")
        self.status = status
        self.body = body


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    data: Any


@dataclass
class AssignResult:
    ip: str
    droplet_id: int
    already: bool  # the droplet held the IP before we sent anything
    posts: int  # assign requests sent (the point: at most one that DO accepted)
    action_id: int | None = None
    log: list[str] = field(default_factory=list)


class DoApi:
    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout: float = 20.0,
        max_attempts: int = 8,
        max_wait: float = 60.0,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.base = base_url.rstrip("/")
        self.token = token
        self.timeout = timeout
        self.max_attempts = max_attempts
        self.max_wait = max_wait  # cap on one retry-after / backoff wait
        self.sleep = sleep
        self.monotonic = monotonic
        self.ssl_context = ssl_context

    # --- transport -------------------------------------------------------------------------------
    def request(self, method: str, path: str, body: dict[str, Any] | None = None) -> Response:
        """One HTTP exchange; status 0 means no answer (connection error or timeout)."""
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method, headers={
            "Authorization": f"Bearer {self.token}", "Content-Type": "application/json",
            "Accept": "application/json", "User-Agent": "odoo-droplet-firstboot"})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout, context=self.ssl_context) as r:  # noqa: S310
                raw = r.read()
                return Response(r.status, {k.lower(): v for k, v in r.headers.items()}, _json(raw))
        except urllib.error.HTTPError as e:
            raw = e.read()
            return Response(e.code, {k.lower(): v for k, v in (e.headers or {}).items()}, _json(raw))
        except (urllib.error.URLError, OSError) as e:
            return Response(0, {}, {"message": str(e)})

    def _wait_for(self, resp: Response, attempt: int) -> float:
        """How long before asking again (firstboot/plans/dns.py `retry_wait`: retry-after on 429 and 5xx)."""
        wait = retry_wait(resp.status, resp.headers.get("retry-after"), attempt, max_wait=self.max_wait)
        return wait if wait is not None else min(self.max_wait, 0.5 * 2**attempt)

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """For idempotent requests (GET, PUT, DELETE): retried on 429 (after retry-after) and 5xx."""
        resp = Response(0, {}, None)
        for attempt in range(self.max_attempts):
            resp = self.request(method, path, body)
            if resp.status not in RETRY_STATUSES and resp.status != 0:
                break
            self.sleep(self._wait_for(resp, attempt))
        if not 200 <= resp.status < 300:
            raise DoApiError(method, path, resp.status, json.dumps(resp.data))
        return resp.data

    # --- reserved IPs -----------------------------------------------------------------------------
    def get_reserved_ip(self, ip: str) -> dict[str, Any]:
        return self.call("GET", f"/v2/reserved_ips/{ip}")["reserved_ip"]

    def holder(self, ip: str) -> int | None:
        droplet = self.get_reserved_ip(ip).get("droplet") or None
        return int(droplet["id"]) if droplet and droplet.get("id") is not None else None

    def reserved_ip_actions(self, ip: str) -> list[dict[str, Any]]:
        return self.call("GET", f"/v2/reserved_ips/{ip}/actions?per_page=50").get("actions", [])

    def get_action(self, ip: str, action_id: int) -> dict[str, Any]:
        return self.call("GET", f"/v2/reserved_ips/{ip}/actions/{action_id}")["action"]

    def wait_action(self, ip: str, action_id: int, timeout: float = 120.0) -> dict[str, Any]:
        deadline = self.monotonic() + timeout
        delay = 0.2
        while True:
            action = self.get_action(ip, action_id)
            if action.get("status") in ("completed", "errored"):
                return action
            if self.monotonic() >= deadline:
                raise TimeoutError(f"action {action_id} on {ip} still {action.get('status')} after {timeout}s")
            self.sleep(delay)
            delay = min(delay * 2, 5.0)

    def assign_reserved_ip(self, ip: str, droplet_id: int, timeout: float = 300.0) -> AssignResult:
        """Assign `ip` to `droplet_id` and wait for it. Safe against 429/5xx: every re-send is preceded
        by a look at the IP's holder and pending actions."""
        result = AssignResult(ip, droplet_id, already=False, posts=0)
        deadline = self.monotonic() + timeout
        for attempt in range(self.max_attempts):
            ri = self.get_reserved_ip(ip)
            holder = (ri.get("droplet") or {}).get("id")
            if holder == droplet_id and not ri.get("locked"):
                result.already = result.posts == 0
                result.log.append(f"{ip} is held by droplet {droplet_id}")
                return result
            pending = [a for a in self.reserved_ip_actions(ip) if a.get("status") == "in-progress"]
            if pending or ri.get("locked"):
                # An action (perhaps our own assign whose answer was lost) is still running: wait for it
                # and look again rather than sending a second one.
                for a in pending:
                    result.log.append(f"waiting for in-progress action {a.get('id')} ({a.get('type')})")
                    self.wait_action(ip, int(a["id"]), max(1.0, deadline - self.monotonic()))
                if not pending:
                    self.sleep(min(self.max_wait, 0.5 * 2**attempt))
                continue
            if self.monotonic() >= deadline:
                break
            resp = self.request("POST", f"/v2/reserved_ips/{ip}/actions",
                                {"type": "assign", "droplet_id": droplet_id})
            result.posts += 1
            result.log.append(f"POST assign -> {resp.status}")
            if resp.status in (200, 201, 202):
                action = (resp.data or {}).get("action", {})
                result.action_id = action.get("id")
                if action.get("status") != "completed" and result.action_id is not None:
                    action = self.wait_action(ip, int(result.action_id), max(1.0, deadline - self.monotonic()))
                if action.get("status") == "errored":
                    raise DoApiError("POST", f"/v2/reserved_ips/{ip}/actions", 200, "assign action errored")
                continue  # loop once more: confirm the holder from the reserved IP itself
            if resp.status in RETRY_STATUSES or resp.status in (0, 422):
                self.sleep(self._wait_for(resp, attempt))
                continue
            raise DoApiError("POST", f"/v2/reserved_ips/{ip}/actions", resp.status, json.dumps(resp.data))
        raise TimeoutError(f"could not confirm {ip} on droplet {droplet_id}: {'; '.join(result.log)}")

    # --- DNS --------------------------------------------------------------------------------------
    def upsert_a_record(self, domain: str, name: str, ip: str, ttl: int = 60) -> RecordResult:
        """Make `name`.`domain` answer `ip`: the A records of the name are listed, the ones pointing elsewhere
        updated, one created only when there is none (plans/dns.py `plan_a_record`). Safe to run again: a
        create whose answer was lost is seen at the next listing, never posted twice blindly. Bounded:
        `max_attempts` rounds, each read retried on 429/5xx after retry-after; a final error (401, 403, 404,
        422) raises DoApiError at once."""
        path = f"/v2/domains/{domain}/records"
        query = urllib.parse.urlencode({"type": "A", "name": fqdn(domain, name), "per_page": 200})
        for attempt in range(self.max_attempts):
            records = self.call("GET", f"{path}?{query}").get("domain_records", [])
            change = plan_a_record(records, domain=domain, name=name, ip=ip, ttl=ttl)
            if change.action == "none":
                return RecordResult(change.record, ip, "none" if attempt == 0 else "create", attempt + 1)
            if change.action == "update":
                for record_id in change.update_ids:
                    self.call("PUT", f"{path}/{record_id}", dict(change.body or {}))
                return RecordResult(change.record, ip, "update", attempt + 1)
            resp = self.request("POST", path, dict(change.body or {}))
            if resp.status in (200, 201):
                return RecordResult(change.record, ip, "create", attempt + 1)
            wait = retry_wait(resp.status, resp.headers.get("retry-after"), attempt, max_wait=self.max_wait)
            if wait is None:
                raise DoApiError("POST", path, resp.status, json.dumps(resp.data))
            self.sleep(wait)  # then list again before re-posting: the lost answer may have created it
        raise TimeoutError(f"DNS A {fqdn(domain, name)}: gave up after {self.max_attempts} attempts")


@dataclass(frozen=True)
class RecordResult:
    record: str  # the FQDN
    ip: str
    action: str  # create | update | none (plans/dns.py)
    attempts: int

    def __str__(self) -> str:
        return f"A {self.record} {PAST_TENSE[self.action]} -> {self.ip}"


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw) if raw else {}
    except ValueError:
        return {"raw": raw[:200].decode(errors="replace")}
