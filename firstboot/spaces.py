"""Spaces (S3) for the droplet: the signed client and an outbox so no proof is ever lost. The object
keys are the contract's (firstboot/contract/keys.py); firstboot/publishing.py decides what goes where.

AWS Signature V4 is implemented here with hmac/hashlib (about 40 lines) rather than Debian's
python3-boto3: the snapshot then needs no extra package, the agent and the publish timer share one code
path, and retries stay ours (bounded, visible in the log) instead of boto's plus ours.

Outbox: before an upload is tried, an entry (S3 key -> local file, or inline content) is written to
the outbox directory (Layout.outbox); it is deleted only after Spaces answered 200. Whatever failed waits there
for odoo-droplet-publish.timer, which runs `python3 -m firstboot.agent publish`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from firstboot.state import atomic_write


class SpacesError(RuntimeError):
    pass


def _sign(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def sigv4_headers(method: str, url: str, region: str, access_key: str, secret_key: str, body: bytes,
                  now: dt.datetime, content_type: str | None = None) -> dict[str, str]:
    """Headers for an S3 request signed with AWS Signature Version 4 (pure; path-style URL)."""
    u = urllib.parse.urlsplit(url)
    amz_date = now.strftime("%Y%m%dT%H%M%SZ")
    day = now.strftime("%Y%m%d")
    payload_hash = hashlib.sha256(body).hexdigest()
    headers = {"host": u.netloc, "x-amz-content-sha256": payload_hash, "x-amz-date": amz_date}
    if content_type:
        headers["content-type"] = content_type
    signed = ";".join(sorted(headers))
    canonical_headers = "".join(f"{k}:{headers[k].strip()}\n" for k in sorted(headers))
    query = "&".join(
        f"{urllib.parse.quote(k, safe='-_.~')}={urllib.parse.quote(v, safe='-_.~')}"
        for k, v in sorted(urllib.parse.parse_qsl(u.query, keep_blank_values=True)))
    canonical = "\n".join([method, urllib.parse.quote(urllib.parse.unquote(u.path or "/"), safe="/-_.~"), query, canonical_headers,
                           signed, payload_hash])
    scope = f"{day}/{region}/s3/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    k = _sign(_sign(_sign(_sign(("AWS4" + secret_key).encode(), day), region), "s3"), "aws4_request")
    signature = hmac.new(k, to_sign.encode(), hashlib.sha256).hexdigest()
    out = {k2: v for k2, v in headers.items() if k2 != "host"}
    out["Authorization"] = (f"AWS4-HMAC-SHA256 Credential={access_key}/{scope}, SignedHeaders={signed}, "
                            f"Signature={signature}")
    return out


@dataclass
class Spaces:
    endpoint: str
    region: str
    bucket: str
    access_key: str
    secret_key: str
    timeout: float = 15.0
    attempts: int = 4
    sleep: Callable[[float], None] = time.sleep
    now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)

    def _url(self, key: str) -> str:
        return f"{self.endpoint.rstrip('/')}/{self.bucket}/{urllib.parse.quote(key, safe='/-_.~')}"

    def _once(self, method: str, key: str, body: bytes = b"", content_type: str | None = None
              ) -> tuple[int, bytes]:
        url = self._url(key)
        headers = sigv4_headers(method, url, self.region, self.access_key, self.secret_key, body, self.now(),
                                content_type)
        req = urllib.request.Request(url, data=body if method == "PUT" else None, method=method,
                                     headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as r:  # noqa: S310
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()
        except (urllib.error.URLError, OSError) as e:
            return 0, str(e).encode()

    def _with_retries(self, method: str, key: str, body: bytes = b"", content_type: str | None = None
                      ) -> tuple[int, bytes]:
        status, data = 0, b""
        for attempt in range(self.attempts):
            status, data = self._once(method, key, body, content_type)
            if status not in (0, 429, 500, 502, 503, 504):
                return status, data
            if attempt + 1 < self.attempts:
                self.sleep(min(8.0, 0.5 * 2**attempt))
        return status, data

    def put(self, key: str, body: bytes, content_type: str = "application/octet-stream") -> None:
        status, data = self._with_retries("PUT", key, body, content_type)
        if status != 200:
            raise SpacesError(f"PUT {key}: {status} {data[:200]!r}")

    def get(self, key: str) -> bytes | None:
        """The object, or None when it does not exist."""
        status, data = self._with_retries("GET", key)
        if status == 404:
            return None
        if status != 200:
            raise SpacesError(f"GET {key}: {status} {data[:200]!r}")
        return data

    def get_json(self, key: str) -> Any:
        data = self.get(key)
        return json.loads(data) if data is not None else None


def content_type_for(name: str) -> str:
    return "application/json" if name.endswith(".json") else "text/plain; charset=utf-8"


class Outbox:
    """Durable queue of uploads. One JSON file per S3 key; the newest entry for a key wins."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory

    def _entry_path(self, key: str) -> Path:
        return self.dir / (hashlib.sha256(key.encode()).hexdigest()[:24] + ".json")

    def add_file(self, key: str, path: Path) -> None:
        atomic_write(self._entry_path(key), json.dumps({"key": key, "file": str(path)}))

    def add_content(self, key: str, content: str) -> None:
        atomic_write(self._entry_path(key), json.dumps({"key": key, "content": content}))

    def pending(self) -> list[dict[str, Any]]:
        if not self.dir.exists():
            return []
        out = []
        for p in sorted(self.dir.glob("*.json")):
            try:
                entry = json.loads(p.read_text())
            except ValueError:
                continue
            entry["_path"] = str(p)
            out.append(entry)
        return out

    def drain(self, spaces: Spaces) -> tuple[list[str], list[str]]:
        """Upload every pending entry; returns (uploaded keys, errors). Failed entries stay."""
        done, errors = [], []
        for entry in self.pending():
            key = entry["key"]
            try:
                if "content" in entry:
                    body = entry["content"].encode()
                else:
                    body = Path(entry["file"]).read_bytes()
            except OSError as e:
                errors.append(f"{key}: {e}")
                continue
            try:
                spaces.put(key, body, content_type_for(key))
            except SpacesError as e:
                # Spaces is down or refusing: the rest would fail the same way; all stay queued.
                errors.append(str(e))
                break
            Path(entry["_path"]).unlink(missing_ok=True)
            done.append(key)
        return done, errors
