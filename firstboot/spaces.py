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

import base64
import contextlib
import datetime as dt
import hashlib
import hmac
import json
import os
import shutil
import time
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from firstboot.state import atomic_write


class SpacesError(RuntimeError):
    pass


def _sign(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def sigv4_headers(method: str, url: str, region: str, access_key: str, secret_key: str, body: bytes,
                  now: dt.datetime, content_type: str | None = None, *, payload_hash: str | None = None,
                  extra: dict[str, str] | None = None) -> dict[str, str]:
    """Headers for an S3 request signed with AWS Signature Version 4 (pure; path-style URL). `payload_hash`:
    the body's SHA-256 when the body is a file streamed apart (S3 refuses a body that does not match it);
    `extra`: more headers to sign (lower-case names: x-amz-meta-*, content-md5)."""
    u = urllib.parse.urlsplit(url)
    amz_date = now.strftime("%Y%m%dT%H%M%SZ")
    day = now.strftime("%Y%m%d")
    payload_hash = payload_hash or hashlib.sha256(body).hexdigest()
    headers = {"host": u.netloc, "x-amz-content-sha256": payload_hash, "x-amz-date": amz_date, **(extra or {})}
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

    def _once(self, method: str, key: str, body: bytes | FileBody = b"", content_type: str | None = None,
              query: str = "", headers_out: dict[str, str] | None = None,
              sink: Path | None = None) -> tuple[int, bytes]:
        url = self._url(key) + (f"?{query}" if query else "")
        if isinstance(body, FileBody):
            headers = sigv4_headers(method, url, self.region, self.access_key, self.secret_key, b"", self.now(),
                                    content_type, payload_hash=body.sha256, extra=body.signed_headers())
            headers["Content-Length"] = str(body.size)
        else:
            headers = sigv4_headers(method, url, self.region, self.access_key, self.secret_key, body, self.now(),
                                    content_type)
        try:
            with contextlib.ExitStack() as stack:
                data: Any = body if method == "PUT" else None
                if isinstance(body, FileBody):
                    data = stack.enter_context(body.path.open("rb"))  # streamed: a 1 GB dump is not read into memory
                req = urllib.request.Request(url, data=data, method=method, headers=headers)
                with urllib.request.urlopen(req, timeout=self.timeout) as r:  # noqa: S310
                    if headers_out is not None:
                        headers_out.update({k.lower(): v for k, v in r.headers.items()})
                    if sink is not None and r.status == 200:
                        with sink.open("wb") as f:  # streamed: a 1 GB dump is not held in memory
                            shutil.copyfileobj(r, f, 1 << 20)
                        return r.status, b""
                    return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()
        except (urllib.error.URLError, OSError) as e:
            return 0, str(e).encode()

    def _with_retries(self, method: str, key: str, body: bytes | FileBody = b"", content_type: str | None = None,
                      query: str = "", headers_out: dict[str, str] | None = None) -> tuple[int, bytes]:
        status, data = 0, b""
        for attempt in range(self.attempts):
            status, data = self._once(method, key, body, content_type, query, headers_out)
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

    def get_file(self, key: str, path: Path) -> bool:
        """Download the object into `path` (0600, streamed); False when it does not exist. What arrived is
        the caller's to check (a backup's parts against their manifest's SHA-256)."""
        for attempt in range(self.attempts):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            os.close(fd)
            status, data = self._once("GET", key, sink=path)
            if status == 200:
                return True
            if status == 404:
                path.unlink(missing_ok=True)
                return False
            if status not in (0, 429, 500, 502, 503, 504):
                break
            if attempt + 1 < self.attempts:
                self.sleep(min(8.0, 0.5 * 2**attempt))
        path.unlink(missing_ok=True)
        raise SpacesError(f"GET {key}: {status} {data[:200]!r}")

    def get_json(self, key: str) -> Any:
        data = self.get(key)
        return json.loads(data) if data is not None else None

    def put_file(self, key: str, body: FileBody, content_type: str = "application/octet-stream") -> None:
        """Upload a file streamed from disk, with its SHA-256 and MD5 stored beside it (x-amz-meta-*): S3
        refuses the body unless it matches both (x-amz-content-sha256 is signed, Content-MD5 is checked), so
        what `head` reports afterwards describes the bytes Spaces holds."""
        status, data = self._with_retries("PUT", key, body, content_type)
        if status != 200:
            raise SpacesError(f"PUT {key}: {status} {data[:200]!r}")

    def head(self, key: str) -> dict[str, str] | None:
        """The object's headers (lower-case names), or None when it does not exist."""
        headers: dict[str, str] = {}
        status, data = self._with_retries("HEAD", key, headers_out=headers)
        if status == 404:
            return None
        if status != 200:
            raise SpacesError(f"HEAD {key}: {status} {data[:200]!r}")
        return headers

    def delete(self, key: str) -> None:
        status, data = self._with_retries("DELETE", key)
        if status not in (200, 204, 404):
            raise SpacesError(f"DELETE {key}: {status} {data[:200]!r}")

    def list_sizes(self, prefix: str, max_pages: int = 100) -> dict[str, int]:
        """Every object under `prefix` with its size (ListObjectsV2, bounded pagination)."""
        out: dict[str, int] = {}
        token: str | None = None
        for _ in range(max_pages):
            params = {"list-type": "2", "prefix": prefix, **({"continuation-token": token} if token else {})}
            query = urllib.parse.urlencode(sorted(params.items()), quote_via=urllib.parse.quote)
            status, data = self._with_retries("GET", "", query=query)
            if status != 200:
                raise SpacesError(f"LIST {prefix}: {status} {data[:200]!r}")
            page, token = parse_list_page(data)
            out.update(page)
            if not token:
                break
        return out


@dataclass(frozen=True)
class FileBody:
    """A file to upload, with the digests computed while reading it once (`FileBody.of`)."""

    path: Path
    size: int
    sha256: str  # lowercase hex
    md5_b64: str  # base64 of the MD5 digest, as Content-MD5 wants it

    @classmethod
    def of(cls, path: Path) -> FileBody:
        sha, md5 = hashlib.sha256(), hashlib.md5(usedforsecurity=False)
        size = 0
        with path.open("rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                sha.update(chunk)
                md5.update(chunk)
                size += len(chunk)
        return cls(path, size, sha.hexdigest(), base64.b64encode(md5.digest()).decode())

    @property
    def md5_hex(self) -> str:
        return base64.b64decode(self.md5_b64).hex()

    def signed_headers(self) -> dict[str, str]:
        return {"content-md5": self.md5_b64, SHA256_META: self.sha256, MD5_META: self.md5_hex}


SHA256_META = "x-amz-meta-sha256"  # the SHA-256 of the bytes, as the uploader computed and S3 checked it
MD5_META = "x-amz-meta-md5"  # the MD5 the uploader sent; the object's ETag (S3's own MD5) must equal it

_S3_NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"


def parse_list_page(data: bytes) -> tuple[dict[str, int], str | None]:
    """(key -> size, continuation token) from a ListObjectsV2 answer (pure)."""
    root = ET.fromstring(data)  # noqa: S314 - the answer of the project's own bucket
    ns = _S3_NS if root.tag.startswith(_S3_NS) else ""
    page = {}
    for c in root.findall(f"{ns}Contents"):
        key, size = c.findtext(f"{ns}Key"), c.findtext(f"{ns}Size")
        if key is not None and size is not None and size.isdigit():
            page[key] = int(size)
    truncated = (root.findtext(f"{ns}IsTruncated") or "").lower() == "true"
    token = root.findtext(f"{ns}NextContinuationToken") if truncated else None
    return page, token or None


def verified_sha256(headers: Mapping[str, str]) -> str | None:
    """The SHA-256 a HEAD answer vouches for: the one stored at upload, provided the object's ETag (the MD5
    Spaces computed of what it holds) is the MD5 the uploader sent with it. None: nothing to vouch with."""
    sha, md5 = headers.get(SHA256_META), headers.get(MD5_META)
    etag = headers.get("etag", "").strip('"')
    if not sha or not md5 or etag.lower() != md5.lower():
        return None
    return sha.lower()


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
