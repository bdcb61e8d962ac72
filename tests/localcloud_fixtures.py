"""Fixtures for tests that talk to the local DO API: `pytest_plugins = ["tests.localcloud_fixtures"]`.

do_openapi_spec (session): DigitalOcean's spec as an openapi-core validator. memory_cloud: an ApiServer on
127.0.0.1 (free port) over the in-process MemoryBackend, in a temporary state dir. validating_session: a
requests Session with its token whose every exchange is validated. pydo_client: pydo pointed at it,
validated the same way.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from openapi_core import OpenAPI

from tests.localcloud_support import LocalCloud, SpecObserver, ValidatingSession, do_openapi, start_memory_cloud


@pytest.fixture(scope="session")
def do_openapi_spec() -> OpenAPI:
    return do_openapi()


@pytest.fixture
def spec_observer(do_openapi_spec: OpenAPI) -> Iterator[SpecObserver]:
    observer = SpecObserver(do_openapi_spec)
    yield observer
    assert not observer.errors, "\n".join(observer.errors)


@pytest.fixture
def memory_cloud(tmp_path: Path, spec_observer: SpecObserver) -> Iterator[LocalCloud]:
    """The API on the MemoryBackend; every exchange it has (any client) is validated by spec_observer."""
    cloud = start_memory_cloud(tmp_path / "localcloud", observer=spec_observer)
    yield cloud
    cloud.server.stop()


@pytest.fixture
def validating_session(do_openapi_spec: OpenAPI, memory_cloud: LocalCloud) -> Iterator[ValidatingSession]:
    s = ValidatingSession(do_openapi_spec, memory_cloud.cafile, memory_cloud.token)
    yield s
    assert not s.errors, "\n".join(s.errors)


@pytest.fixture
def pydo_client(do_openapi_spec: OpenAPI, memory_cloud: LocalCloud) -> Iterator[Any]:
    """pydo as the builder uses it (endpoint + CA), its transport validated; retries off (see backend.py)."""
    import pydo
    from azure.core.pipeline.transport import RequestsTransport

    session = ValidatingSession(do_openapi_spec, memory_cloud.cafile)
    client = pydo.Client(token=memory_cloud.token, endpoint=memory_cloud.url,
                         transport=RequestsTransport(session=session, session_owner=False,
                                                     connection_verify=memory_cloud.cafile),
                         retry_total=0)
    client.validating_session = session
    yield client
    assert session.exchanges > 0
    assert not session.errors, "\n".join(session.errors)
