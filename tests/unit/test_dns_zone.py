"""builder/dns_zone.py: the DNS zone checked before anything is created, through the real `Cloud.call` over
the stand-in for pydo's client (tests/unit/test_cli_errors.py's FakeDo)."""

from __future__ import annotations

from typing import Any

import pytest

from builder.dns_zone import check_dns_zone, zone_refusal
from builder.doclient import Cloud
from builder.errors import EXIT_BAD_INPUT, Refused
from firstboot.config import DnsSpec
from tests.unit.test_cli_errors import FakeDo, default_answers, error_body, http_error

DNS = DnsSpec("example.com", "erp", 60)


def cloud(**answers: Any) -> tuple[Cloud, FakeDo]:
    api = FakeDo({**default_answers(), **answers})
    return Cloud(api, say=lambda s: None, sleep=lambda s: None), api


def test_an_existing_record_is_probed_with_a_no_op_update_of_the_same_data() -> None:
    seen: list[tuple[str, int, dict]] = []

    def patch(zone: str, record_id: int, body: dict | None = None) -> dict:
        seen.append((zone, record_id, body or {}))
        return {"domain_record": {"id": record_id}}

    c, api = cloud(**{"domains.list_records": lambda zone, type=None, name=None: {"domain_records": [
        {"id": 9, "type": "A", "name": "www", "data": "10.0.0.9"},
        {"id": 11, "type": "A", "name": "erp", "data": "10.0.0.1"}]}, "domains.patch_record": patch})
    line = check_dns_zone(c, DNS)
    assert seen == [("example.com", 11, {"type": "A", "data": "10.0.0.1"})]  # the record's own data: no change
    assert "may update erp.example.com" in line and not api.changed_anything()


def test_no_record_yet_is_fine_and_nothing_is_written() -> None:
    c, api = cloud(**{"domains.list_records": lambda zone, type=None, name=None: {"domain_records": []}})
    assert "has no A record yet" in check_dns_zone(c, DNS)
    assert "domains.patch_record" not in api.calls and not api.changed_anything()


def test_the_droplets_own_token_is_the_one_checked_for_the_write() -> None:
    operator, op_api = cloud()
    droplet, dr_api = cloud(**{"domains.patch_record": http_error(403, "forbidden", "not authorized")})
    with pytest.raises(Refused) as err:
        check_dns_zone(operator, DNS, writer=droplet, writer_token="DROPLET_TOKEN")
    assert "DROPLET_TOKEN lacks the `domain` scope (domain:update)" in err.value.message
    assert err.value.exit_code == EXIT_BAD_INPUT and err.value.details == {"zone": "example.com",
                                                                             "missing": "domain:update"}
    assert op_api.calls == ["domains.get"] and dr_api.calls[0] == "domains.get"


def test_a_missing_zone_and_a_refused_token_are_refusals_and_a_busy_api_is_not() -> None:
    c, _ = cloud(**{"domains.get": error_body("not_found", "The resource was not found.")})
    with pytest.raises(Refused, match="the DNS zone example.com .dns.domain. does not exist"):
        check_dns_zone(c, DNS)
    missing = zone_refusal("example.com", 401, token="DIGITALOCEAN_TOKEN", doing="reading")
    assert missing is not None and "DIGITALOCEAN_TOKEN was refused (401)" in missing.message
    assert zone_refusal("example.com", 503, token="DIGITALOCEAN_TOKEN", doing="reading") is None
    assert zone_refusal("example.com", 429, token="DIGITALOCEAN_TOKEN", doing="reading") is None


# ---------------------------------------------------------------- `status` says where the record stands

class ProofBucket:
    """What `status` reads from Spaces: keys, JSON documents, URLs."""

    def __init__(self, docs: dict[str, dict]) -> None:
        self.docs = docs

    def get_json(self, key: str) -> dict | None:
        return self.docs.get(key)

    def keys(self, prefix: str) -> list[str]:
        return [k for k in self.docs if k.startswith(prefix)]

    def sizes(self, prefix: str) -> dict[str, int]:  # the backups `status` lists: none here
        return {}

    def url(self, key: str) -> str:
        return f"s3://acme-proofs/{key}"


@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
@pytest.mark.parametrize("state", ["failed", "moved"])
def test_status_prints_the_record_and_exits_1_while_it_failed(state: str, as_json: bool, monkeypatch, tmp_path,
                                                               capsys) -> None:
    import functools

    import builder.commands.options as options
    from builder.cli import main
    from builder.spaces import Spaces
    from tests.unit.test_cli_errors import SECRETS, settings_with_dns

    monkeypatch.chdir(tmp_path)
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("DIGITALOCEAN_API_URL", raising=False)
    (tmp_path / "deploy.yaml").write_text(settings_with_dns())
    api = FakeDo(default_answers())
    monkeypatch.setattr(options, "make_client", lambda target: api)
    monkeypatch.setattr(options, "Cloud", functools.partial(Cloud, sleep=lambda seconds: None))
    dns = ({"status": "moved", "record": "erp.acme.example", "target": "159.203.0.7", "action": "updated",
            "at": "2026-11-27T03:25:00Z", "attempts": 4, "since": "2026-11-27T03:05:00Z"} if state == "moved" else
           {"status": "failed", "record": "erp.acme.example", "target": "159.203.0.7", "reason": "GET ...: 503",
            "at": "2026-11-27T03:20:00Z", "attempts": 3, "retrying": True, "since": "2026-11-27T03:05:00Z"})
    bucket = ProofBucket({"state/last_good.json": {"deploy_id": "deploy-20261127-030000"},
                          "proofs/deploy-20261127-030000/deploy_status.json": {"cutover": {"dns": dns}}})
    monkeypatch.setattr(Spaces, "for_deploy", classmethod(lambda cls, deploy, secrets: bucket))
    code = main(["status", "--config", str(tmp_path / "deploy.yaml")] + (["--json"] if as_json else []))
    out, err = capsys.readouterr()
    assert code == (1 if state == "failed" else 0), err
    if as_json:
        import json

        data = json.loads(out)
        assert data["dns"] == dns and data["dns_deploy"] == "deploy-20261127-030000"
    elif state == "failed":
        assert "dns: FAILED: erp.acme.example -> 159.203.0.7 not set (GET ...: 503; 3 attempts)" in out
    else:
        assert "dns: erp.acme.example -> 159.203.0.7 (updated at 2026-11-27T03:25:00Z)" in out
