"""builder/doclient.py through pydo against the local API (in memory, every exchange checked against
DigitalOcean's spec): the errors pydo returns as bodies instead of raising become ApiError with the status."""

from __future__ import annotations

import pytest

from builder.doclient import ApiError, ApiTarget, Cloud, error_body_status, make_client

pytest_plugins = ["tests.localcloud_fixtures"]


@pytest.fixture
def cloud(memory_cloud) -> Cloud:
    target = ApiTarget(memory_cloud.url, memory_cloud.token, str(memory_cloud.cafile))
    return Cloud(make_client(target), say=lambda _: None, sleep=lambda _: None)


def test_error_bodies_are_recognised_and_answers_are_not() -> None:
    assert error_body_status({"id": "not_found", "message": "gone", "request_id": "x"}) == 404
    assert error_body_status({"id": "unprocessable_entity", "message": "locked"}) == 422
    assert error_body_status({"droplet": {"id": 1}}) is None
    assert error_body_status(None) is None


def test_missing_droplet_and_reserved_ip_are_404s_not_key_errors(cloud: Cloud) -> None:
    with pytest.raises(ApiError) as err:
        cloud.droplet(999_999_999)
    assert err.value.status == 404 and "droplet 999999999" in str(err.value)
    with pytest.raises(ApiError) as err:
        cloud.reserved_ip("127.0.0.250")
    assert err.value.status == 404
    with pytest.raises(ApiError) as err:
        cloud.delete_droplet(999_999_999)
    assert err.value.status == 404


def test_a_real_answer_passes_through(cloud: Cloud) -> None:
    ip = cloud.create_reserved_ip("nyc3")["ip"]
    assert cloud.reserved_ip(ip)["ip"] == ip
    assert [r["ip"] for r in cloud.reserved_ips()] == [ip]
