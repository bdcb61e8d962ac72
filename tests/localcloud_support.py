"""Test support for the local cloud: the official-spec validator and an HTTP client that uses it.

Every exchange a test has with the local DO API goes through `ValidatingSession` (tests' own calls, and
pydo's through `pydo_client`), whose response hook validates the request and the response (body for its
status code) against DigitalOcean's OpenAPI spec, as if sent to https://api.digitalocean.com. A
mismatch raises at the call and is also recorded in `errors`, which the fixtures assert empty.

The spec: the repository's trimmed copy (localcloud/openapi/, the operations the local cloud serves, made
by scripts/trim_do_openapi.py); $DO_OPENAPI_SPEC points at another file, e.g. the full bundled spec. Load
it once per session (`do_openapi()` is cached).

Fixtures (do_openapi_spec, memory_cloud, validating_session, pydo_client) are in
tests/localcloud_fixtures.py: `pytest_plugins = ["tests.localcloud_fixtures"]` in a test module.
"""

from __future__ import annotations

import copy
import functools
import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import requests
import yaml
from openapi_core import OpenAPI
from openapi_core.contrib.requests import RequestsOpenAPIRequest, RequestsOpenAPIResponse

from localcloud.api import ApiServer
from localcloud.backend import MemoryBackend

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SPEC = REPO / "localcloud" / "openapi" / "DigitalOcean-public.v2.trimmed.yaml"
DO_SERVER = "https://api.digitalocean.com"

__all__ = ["LocalCloud", "SpecObserver", "ValidatingSession", "do_openapi", "start_memory_cloud"]


@functools.cache
def do_openapi() -> OpenAPI:
    from openapi_core import Config

    path = Path(os.environ.get("DO_OPENAPI_SPEC") or DEFAULT_SPEC)
    if not path.exists():
        raise FileNotFoundError(f"DigitalOcean's OpenAPI spec not found at {path} (set DO_OPENAPI_SPEC)")
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    spec = yaml.load(path.read_text(), Loader=loader)  # noqa: S506 - a safe loader
    spec["servers"] = [{"url": DO_SERVER}]
    _drop_read_only_from_parameters(spec)
    # The spec has a few `default: null` inside oneOf that fail strict spec validation: skip that step.
    return OpenAPI.from_dict(spec, config=Config(spec_validator_cls=None))


def _drop_read_only_from_parameters(spec: dict[str, Any]) -> None:
    """`readOnly` means "response only" for properties; the spec also reaches it from a few path
    parameters (ssh_key_identifier → ssh_key_id, ssh_key_fingerprint), where openapi-core then rejects
    every request. Parameters are input by definition, so their schemas get an inlined copy without
    the flag; the shared schemas (used as properties) are left as they are."""
    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                target: Any = spec
                for part in node["$ref"][2:].split("/"):
                    target = target[part.replace("~1", "/").replace("~0", "~")]
                return resolve(copy.deepcopy(target))
            return {k: resolve(v) for k, v in node.items() if k != "readOnly"}
        if isinstance(node, list):
            return [resolve(v) for v in node]
        return node

    params = list(spec.get("components", {}).get("parameters", {}).values())
    for item in spec["paths"].values():
        for op in item.values():
            if isinstance(op, dict):
                params += [p for p in op.get("parameters", []) if "$ref" not in p]
        if isinstance(item.get("parameters"), list):
            params += [p for p in item["parameters"] if "$ref" not in p]
    for p in params:
        if "schema" in p and '"readOnly"' in json.dumps(_refs_closure(spec, p["schema"])):
            p["schema"] = resolve(p["schema"])


def _refs_closure(spec: dict[str, Any], node: Any, depth: int = 0) -> Any:
    """The schema with its $refs expanded a few levels (enough to see a readOnly)."""
    if depth > 4:
        return None
    if isinstance(node, dict):
        if "$ref" in node:
            target: Any = spec
            for part in node["$ref"][2:].split("/"):
                target = target[part.replace("~1", "/").replace("~0", "~")]
            return _refs_closure(spec, target, depth + 1)
        return {k: _refs_closure(spec, v, depth) for k, v in node.items()}
    if isinstance(node, list):
        return [_refs_closure(spec, v, depth) for v in node]
    return node


class _AsIfDigitalOcean(RequestsOpenAPIRequest):
    @property
    def host_url(self) -> str:
        return DO_SERVER


class ValidatingSession(requests.Session):
    """A requests Session that validates each /v2 exchange against the spec and trusts only `cafile`."""

    def __init__(self, openapi: OpenAPI, cafile: str | None, token: str | None = None,
                 unauthenticated: bool = False):
        super().__init__()
        # unauthenticated=True: the test sends no/a wrong token on purpose; the spec's security requirement
        # is then the one request check skipped (the 401 response is still validated).
        self.unauthenticated = unauthenticated
        self.openapi = openapi
        if cafile is not None:
            # Ignore REQUESTS_CA_BUNDLE from the environment: it would override `verify`.
            self.trust_env = False
            self.verify = cafile
        # cafile None: trust what the environment names (REQUESTS_CA_BUNDLE), as a user's shell would.
        self.errors: list[str] = []
        self.exchanges = 0
        self._lock = threading.Lock()
        if token:
            self.headers["Authorization"] = f"Bearer {token}"
        self.hooks["response"].append(self._validate)

    def _validate(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        path = urlsplit(response.request.url or "").path
        if not path.startswith("/v2"):
            return
        req = _AsIfDigitalOcean(response.request)
        problems = [f"request: {e}" for e in self.openapi.iter_request_errors(req)
                    if not (self.unauthenticated and type(e).__name__ == "SecurityValidationError")]
        if not problems:
            res = RequestsOpenAPIResponse(response)
            problems += [f"response: {e!r}" for e in self.openapi.iter_response_errors(req, res)]
        with self._lock:
            self.exchanges += 1
            if problems:
                detail = (f"{response.request.method} {path} -> {response.status_code}: "
                          + "; ".join(problems) + f"\nbody: {response.text[:2000]}")
                self.errors.append(detail)
                raise AssertionError("exchange does not match DigitalOcean's spec: " + detail)


class SpecObserver:
    """Server-side twin of ValidatingSession: an ApiServer `observer` that validates every exchange the
    server has, whoever the client is (Packer's Go client, pydo in a subprocess, curl)."""

    def __init__(self, openapi: OpenAPI):
        self.openapi = openapi
        self.errors: list[str] = []
        self.exchanges = 0
        self._lock = threading.Lock()

    def __call__(self, method: str, target: str, headers: dict[str, str], body: bytes, status: int,
                 resp_headers: dict[str, str], resp_body: bytes) -> None:
        from openapi_core.testing import MockRequest, MockResponse

        parts = urlsplit(target)
        if not parts.path.startswith("/v2"):
            return
        lower = {k.lower(): v for k, v in headers.items()}
        req = MockRequest(DO_SERVER, method, parts.path, args=parse_qsl(parts.query, keep_blank_values=True),
                          headers=headers, data=body or None,
                          content_type=lower.get("content-type", "application/json"))
        problems = [f"request: {e}" for e in self.openapi.iter_request_errors(req)
                    # A 401 answers a request sent without valid auth on purpose (tests of 401).
                    if not (status == 401 and type(e).__name__ == "SecurityValidationError")]
        if not problems:
            res = MockResponse(resp_body, status, resp_headers)
            problems += [f"response: {e!r}" for e in self.openapi.iter_response_errors(req, res)]
        with self._lock:
            self.exchanges += 1
            if problems:
                self.errors.append(f"{method} {target} -> {status}: " + "; ".join(problems)
                                   + f"\nrequest body: {body[:1000]!r}\nresponse body: {resp_body[:2000]!r}")


@dataclass
class LocalCloud:
    server: ApiServer
    backend: MemoryBackend
    home: Path

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def token(self) -> str:
        return self.server.token

    @property
    def cafile(self) -> str:
        return str(self.home / "ca" / "ca.pem")


def start_memory_cloud(home: Path, backend: MemoryBackend | None = None, **kw: Any) -> LocalCloud:
    backend = backend or MemoryBackend()
    return LocalCloud(ApiServer(home, backend, "127.0.0.1", 0, **kw).start(), backend, home)
