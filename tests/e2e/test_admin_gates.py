"""No default admin, the public URL, and their gates, end to end on the local cloud (issue 9).

Three droplets from the snapshot, side by side: `admin_ok` (tag 18.0) takes the reserved IP R; `keepadmin`
(tag 18.0-keepadmin: its `odoo shell` ignores password writes) and `wrongbaseurl` (18.0-wrongbaseurl: it
stores http://localhost:8069 as web.base.url) are configured with R too, must fail their gate, roll back to
18.0-prior and leave R where it is. Then, from outside as an attacker would, through R: admin/admin is
refused and the real admin password gets a session; web.base.url was the public URL from the deploy on.

Set ODL_E2E_SNAPSHOT_ID to reuse a snapshot baked from this commit.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from firstboot import gates as G
from firstboot.contract.layout import Layout
from firstboot.probes import LoopbackHttp
from localcloud.testing import Api
from tests.e2e.test_firstboot import (  # noqa: F401 - `snapshot` is the module's fixture, imported to be used
    FAULT_TIMEOUT,
    Fleet,
    check_proofs,
    snapshot,
)

pytestmark = pytest.mark.e2e

SCENARIOS = {"keepadmin": ("18.0-keepadmin", "admin_login"), "wrongbaseurl": ("18.0-wrongbaseurl", "base_url")}
PARAMS_SQL = ("SELECT key || '=' || value FROM ir_config_parameter "
              "WHERE key IN ('web.base.url', 'web.base.url.freeze') ORDER BY key")


@pytest.fixture(scope="module")
def admin_fleet(snapshot: dict[str, Any], timings: dict[str, float]) -> Iterator[Fleet]:  # noqa: F811
    env = {k: v for k, v in snapshot["env"].items() if k not in ("DB_PASSWORD", "ADMIN_PASSWD")}
    f = Fleet(Api(env), int(snapshot["snapshot_id"]), env)
    t0 = time.monotonic()
    try:
        r = f.new_ip("R1")  # assert_ip_untouched-style checks read it under this name
        f.start("happy", reserved_ip=r)
        for name, (tag, _) in SCENARIOS.items():
            f.start(name, tag=tag, reserved_ip=r, timeout=FAULT_TIMEOUT)
        f.in_parallel({name: (lambda n=name: f.finish(n)) for name in ("happy", *SCENARIOS)})
        timings["admin gates e2e: 3 droplets"] = time.monotonic() - t0
        yield f
    finally:
        f.cleanup()


def stored_params(f: Fleet, name: str) -> dict[str, str]:
    """web.base.url and its freeze as stored, read with SQL in the droplet's db container."""
    b = f.get(name)
    out = b.sh('docker exec "$(docker ps -qf label=com.docker.compose.service=db)" '
               f'psql -U {b.deploy.postgres.user} -d {b.deploy.odoo.database} -Atc "{PARAMS_SQL}"')
    return dict(line.split("=", 1) for line in out.split() if "=" in line)


def login_from_outside(f: Fleet, ip: str, login: str, password: str) -> G.HttpResult:
    d = f.get("happy").deploy
    host = d.edge.domain or ip
    return LoopbackHttp().authenticate(f"https://{host}", d.odoo.database, login, password, connect_host=ip,
                                       port=443, tls=True, host_header=host, timeout=20)


def public_url(f: Fleet) -> str:
    return f"https://{f.get('happy').deploy.edge.domain}"


def test_a_deploy_leaves_no_default_admin_and_the_public_url_frozen(admin_fleet: Fleet) -> None:
    b = admin_fleet.get("happy")
    assert b.final and b.final["status"] == "success", b.final
    # Right after the deploy, before anyone but the gate (which found it frozen) logged in.
    assert stored_params(admin_fleet, "happy") == {"web.base.url": public_url(admin_fleet),
                                                   "web.base.url.freeze": "True"}
    doc = check_proofs(b, "success")
    gates = {g["name"]: g for g in doc["gates"]}
    assert gates["admin_login"]["passed"] and gates["base_url"]["passed"], gates
    r1 = admin_fleet.ips["R1"]
    assert admin_fleet.api.holder(r1) == b.droplet_id
    # From outside, through the reserved IP, as an attacker would try it.
    outcome, why = G.rpc_login(login_from_outside(admin_fleet, r1, "admin", "admin"))
    assert outcome == "refused", (outcome, why)
    assert b.secrets.odoo_admin_password
    outcome, why = G.rpc_login(login_from_outside(admin_fleet, r1, "admin", b.secrets.odoo_admin_password))
    assert outcome == "session", (outcome, why)
    # The master password is stored hashed in odoo.conf.
    conf = b.sh(f"grep '^admin_passwd' {Layout().stack_dir}/odoo.conf", check=False)
    assert conf.startswith("admin_passwd = $pbkdf2-sha512$600000$") and b.secrets.admin_passwd not in conf


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_a_tag_that_keeps_the_default_admin_or_a_wrong_url_rolls_back(admin_fleet: Fleet, name: str) -> None:
    b = admin_fleet.get(name)
    assert b.final and b.final["status"] == "rolled_back", b.final
    doc = check_proofs(b, "rolled_back")
    _, gate = SCENARIOS[name]
    assert gate in doc["rollback"]["failing_gates"], doc["rollback"]
    assert doc["odoo_tag"] == "18.0-prior" and all(g["passed"] for g in doc["gates"]), doc["gates"]
    # The reserved IP stayed on the healthy droplet, assigned once.
    r1 = admin_fleet.ips["R1"]
    assert not doc["cutover"]["assigned"] and admin_fleet.api.holder(r1) == admin_fleet.get("happy").droplet_id
    assert len(admin_fleet.assigns(r1)) == 1
    # The prior tag's database has the real password and the public URL.
    assert stored_params(admin_fleet, name)["web.base.url"] == public_url(admin_fleet)
