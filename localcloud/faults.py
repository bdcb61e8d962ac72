"""Fault knobs: make the local cloud misbehave on purpose, as the real one sometimes does.

- HTTP faults: a METHOD + path pattern (fnmatch, on the path without the query, e.g. "/v2/droplets*")
  answers 429 (with `retry-after`), 403 (a token without the scope) or a 5xx, for the next N matching
  requests.
- Action faults: actions of a type (fnmatch on the action type: "assign_ip", "snapshot", "*") take
  `delay` seconds longer and/or end "errored", for the next N actions (or all, when times is None).
- Service faults: stop or start the S3 endpoint ("spaces") or the registry ("registry"); the server
  delegates to localcloud.services.

The server exposes them at `/_localcloud/faults` (outside /v2, same bearer token): POST a fault, GET the
list, DELETE to clear all. `FaultClient` is the Python helper tests use.
"""

from __future__ import annotations

import fnmatch
import json
import ssl
import threading
import urllib.request
from dataclasses import asdict, dataclass
from typing import Any

ADMIN_PATH = "/_localcloud/faults"
SERVICES = ("spaces", "registry")


class FaultError(ValueError):
    """A fault description that does not make sense (answered 422)."""


@dataclass
class HttpFault:
    method: str
    path: str
    status: int
    remaining: int
    retry_after: int = 1

    def matches(self, method: str, path: str) -> bool:
        return (self.method in ("*", method.upper())) and fnmatch.fnmatchcase(path, self.path)


@dataclass
class ActionFault:
    type: str
    delay: float
    error: bool
    remaining: int | None  # None: every matching action until cleared

    def matches(self, action_type: str) -> bool:
        return fnmatch.fnmatchcase(action_type, self.type)


@dataclass(frozen=True)
class ActionEffect:
    delay: float = 0.0
    error: bool = False


class FaultBook:
    """The faults in force; thread-safe. Lives in the server process (not persisted: tests set them)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.http: list[HttpFault] = []
        self.actions: list[ActionFault] = []

    def add(self, body: dict[str, Any]) -> dict[str, Any]:
        """Add a fault from its JSON description; returns it as stored. Raises FaultError."""
        kind = body.get("kind")
        if kind == "http":
            status = body.get("status")
            times = body.get("times", 1)
            if status not in (403, 429, 500, 502, 503, 504):
                raise FaultError("status must be 403, 429, 500, 502, 503 or 504")
            if not isinstance(times, int) or times < 1:
                raise FaultError("times must be a positive integer")
            f = HttpFault(str(body.get("method", "*")).upper(), str(body.get("path", "*")), status, times,
                          int(body.get("retry_after", 1)))
            with self._lock:
                self.http.append(f)
            return {"kind": "http", **asdict(f)}
        if kind == "action":
            times = body.get("times")
            if times is not None and (not isinstance(times, int) or times < 1):
                raise FaultError("times must be a positive integer or null")
            delay = float(body.get("delay", 0))
            if delay < 0 or delay > 600:
                raise FaultError("delay must be between 0 and 600 seconds")
            a = ActionFault(str(body.get("type", "*")), delay, bool(body.get("error", False)), times)
            with self._lock:
                self.actions.append(a)
            return {"kind": "action", **asdict(a)}
        raise FaultError("kind must be http, action or service")

    def take_http(self, method: str, path: str) -> HttpFault | None:
        """The fault this request should get, if any (consumes one of its N times)."""
        with self._lock:
            for f in self.http:
                if f.remaining > 0 and f.matches(method, path):
                    f.remaining -= 1
                    self.http = [h for h in self.http if h.remaining > 0]
                    return f
        return None

    def take_action(self, action_type: str) -> ActionEffect:
        """Combined effect of the action faults matching this action (consumes one time of each)."""
        delay, error = 0.0, False
        with self._lock:
            for a in self.actions:
                if a.matches(action_type) and (a.remaining is None or a.remaining > 0):
                    delay += a.delay
                    error = error or a.error
                    if a.remaining is not None:
                        a.remaining -= 1
            self.actions = [a for a in self.actions if a.remaining is None or a.remaining > 0]
        return ActionEffect(delay, error)

    def clear(self) -> None:
        with self._lock:
            self.http.clear()
            self.actions.clear()

    def listing(self) -> dict[str, Any]:
        with self._lock:
            return {"http": [asdict(f) for f in self.http], "actions": [asdict(a) for a in self.actions]}


class FaultClient:
    """Python helper for the fault endpoint: `FaultClient(url, token, cafile).http("POST", "/v2/droplets", 429)`."""

    def __init__(self, api_url: str, token: str, cafile: str | None = None, timeout: float = 30):
        self.url = api_url.rstrip("/") + ADMIN_PATH
        self.token = token
        self.ctx = ssl.create_default_context(cafile=cafile)
        self.timeout = timeout

    def _call(self, method: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url, data=data, method=method, headers={
            "Authorization": f"Bearer {self.token}", "Content-Type": "application/json"})
        with urllib.request.urlopen(req, context=self.ctx, timeout=self.timeout) as resp:
            raw = resp.read()
        return json.loads(raw) if raw else {}

    def http(self, method: str, path: str, status: int, times: int = 1, retry_after: int = 1) -> dict[str, Any]:
        return self._call("POST", {"kind": "http", "method": method, "path": path, "status": status,
                                   "times": times, "retry_after": retry_after})

    def slow_actions(self, delay: float, type: str = "*", times: int | None = None) -> dict[str, Any]:
        return self._call("POST", {"kind": "action", "type": type, "delay": delay, "times": times})

    def errored_actions(self, type: str = "*", times: int | None = 1) -> dict[str, Any]:
        return self._call("POST", {"kind": "action", "type": type, "error": True, "times": times})

    def stop_service(self, name: str) -> dict[str, Any]:
        return self._call("POST", {"kind": "service", "service": name, "state": "stopped"})

    def start_service(self, name: str) -> dict[str, Any]:
        return self._call("POST", {"kind": "service", "service": name, "state": "running"})

    def listing(self) -> dict[str, Any]:
        return self._call("GET")

    def clear(self) -> dict[str, Any]:
        return self._call("DELETE")
