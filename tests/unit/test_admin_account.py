"""No default admin and the public URL (issue 9, Build 1-2): the install sets the admin password, login and
web.base.url (frozen) through `odoo shell` with the script on stdin; the admin_login and base_url gates
fail a deploy that kept Odoo's default password or a wrong URL, and it rolls back."""

from __future__ import annotations

import dataclasses
import json
import stat
from dataclasses import replace

import jsonschema
import pytest

from firstboot import gates as G
from firstboot.config import OdooSpec, PostgresSpec, Secrets
from firstboot.contract.envfile import parse_env
from firstboot.inputs import load_inputs
from firstboot.plans.admin import (
    DONE_MARKER,
    admin_failure,
    admin_script,
    plan_admin,
    public_base_url,
)
from firstboot.state import load_state
from tests.unit.agent_fakes import Crash
from tests.unit.test_agent_flow import GOOD, IP, OTHER, PRIOR, World, base_deploy, schema

PUBLIC = "https://erp.example.test"


def _shell_calls(w: World) -> list[tuple[str, ...]]:
    return [c for c in w.droplet.calls if c[:2] == ("docker", "compose") and "shell" in c]


def _gate(attempt: dict, name: str) -> dict:
    return next(g for g in attempt["gates"] if g["name"] == name)


# ------------------------------------------------------------------------------------------------ the plan


def test_public_url_is_the_domain_else_the_reserved_ip_else_the_droplets_address():
    assert public_base_url("erp.example.com", "203.0.113.7", "198.51.100.2") == "https://erp.example.com"
    assert public_base_url(None, "203.0.113.7", "198.51.100.2") == "https://203.0.113.7"
    assert public_base_url(None, None, "198.51.100.2") == "https://198.51.100.2"
    assert public_base_url(None, None, None) is None


def test_password_only_on_a_database_this_deploy_created_and_once():
    assert plan_admin(fresh_db=True, done=False) == "password"
    assert plan_admin(fresh_db=False, done=False) == "base_url_only"
    assert plan_admin(fresh_db=True, done=True) == "skip"


@pytest.mark.parametrize("password", ["plain-password-123", "q'uo\"te\\s\n)\nimport os#", "ünï-cødé-pässwörd"])
def test_the_script_carries_any_password_as_a_literal(password):
    script = admin_script(PUBLIC, password, "it@example.com")
    # Run it against a recorder, as `odoo shell` runs it (with `env` in scope).
    seen: dict = {}

    class Rec:
        def write(self, vals):
            seen["admin"] = vals

    class Icp:
        def sudo(self):
            return self

        def set_param(self, k, v):
            seen[k] = v

    class Cr:
        def commit(self):
            seen["committed"] = True

    class Env:
        cr = Cr()

        def ref(self, xmlid):
            assert xmlid == "base.user_admin"
            return Rec()

        def __getitem__(self, model):
            assert model == "ir.config_parameter"
            return Icp()

    exec(script, {"env": Env(), "print": lambda *a: seen.setdefault("printed", a)})  # noqa: S102 - the script under test
    assert seen["admin"] == {"password": password, "login": "it@example.com"}
    assert seen["web.base.url"] == PUBLIC and seen["web.base.url.freeze"] == "True"
    assert seen["committed"] is True and seen["printed"] == (DONE_MARKER,)


def test_script_without_password_sets_only_the_url_and_refuses_what_is_not_https():
    script = admin_script(PUBLIC)
    assert "admin.write" not in script and "web.base.url.freeze" in script
    with pytest.raises(ValueError):
        admin_script("http://erp.example.test")
    with pytest.raises(ValueError):
        admin_script(PUBLIC, "")


def test_shell_failure_needs_the_marker():
    assert admin_failure(0, f"INFO ...\n{DONE_MARKER}\n") is None
    assert "exited 0" in (admin_failure(0, "Traceback ... KeyError") or "")
    assert "exited 1" in (admin_failure(1, "") or "")


# ------------------------------------------------------------------------------------------------ the gates


def _rpc(result: object = None, error: str | None = None, status: int = 200) -> G.HttpResult:
    if status != 200:
        return G.HttpResult("u", status, 3, "<html>502 Bad Gateway</html>")
    if error:
        body = {"jsonrpc": "2.0", "id": 1, "error": {"code": 200, "message": "Odoo Server Error",
                                                     "data": {"name": error, "message": "Access Denied"}}}
    else:
        body = {"jsonrpc": "2.0", "id": 1, "result": result}
    return G.HttpResult("u", 200, 5, json.dumps(body))


SESSION, DENIED = _rpc({"uid": 2, "is_system": True}), _rpc(error="odoo.exceptions.AccessDenied")


def test_admin_login_passes_only_with_a_session_and_the_default_refused():
    assert G.admin_login(SESSION, [DENIED, DENIED], "admin").passed
    kept = G.admin_login(SESSION, [SESSION], "admin")
    assert not kept.passed and kept.terminal and "default password `admin` is accepted" in kept.detail
    refused = G.admin_login(DENIED, [DENIED], "it@example.com")
    assert not refused.passed and refused.terminal and "refused" in refused.detail
    starting = G.admin_login(_rpc(status=502), [], "admin")
    assert not starting.passed and not starting.terminal  # Odoo not answering yet: try again
    assert not G.admin_login(SESSION, [], "admin").passed  # the default password must have been tried
    other = G.admin_login(SESSION, [_rpc(error="odoo.exceptions.AccessError")], "admin")
    assert not other.passed and not other.terminal
    # An older database: its password is not ours to check; the default must still be refused.
    assert G.admin_login(None, [DENIED], "admin").passed
    assert G.admin_login(None, [SESSION], "admin").terminal


def test_base_url_must_be_the_public_url_and_frozen():
    ok = G.base_url({"web.base.url": PUBLIC, "web.base.url.freeze": "True"}, PUBLIC)
    assert ok.passed and PUBLIC in ok.detail
    local = G.base_url({"web.base.url": "http://localhost:8069", "web.base.url.freeze": "True"}, PUBLIC)
    assert not local.passed and local.terminal and "localhost" in local.detail
    loose = G.base_url({"web.base.url": PUBLIC}, PUBLIC)
    assert not loose.passed and "freeze" in loose.detail
    assert not G.base_url({"web.base.url": PUBLIC, "web.base.url.freeze": "False"}, PUBLIC).passed
    assert not G.base_url(None, PUBLIC, "connection refused").passed
    assert not G.base_url({"web.base.url": PUBLIC, "web.base.url.freeze": "True"}, None).passed


# ------------------------------------------------------------------------------------------------ the agent


def test_a_deploy_sets_the_admin_password_login_and_frozen_url_with_no_secret_on_a_command_line(tmp_path):
    d = base_deploy()
    w = World(tmp_path, deploy=replace(d, odoo=replace(d.odoo, admin_email="it@example.test")))
    st = w.run()
    assert st.status == "success"
    assert w.droplet.admin == {"login": "it@example.test", "password": w.secrets.odoo_admin_password}
    assert w.droplet.params == {"web.base.url": PUBLIC, "web.base.url.freeze": "True"}
    doc = w.deploy_status()
    jsonschema.validate(doc, schema())
    assert _gate(doc, "admin_login")["passed"] and _gate(doc, "base_url")["passed"]
    # The gate logged in as the e-mail with the real password, and tried the default one for both logins.
    logins = [r["login"] for r in w.http.requests if "login" in r]
    assert logins[:3] == ["it@example.test", "it@example.test", "admin"]
    assert all(r["connect"] == "127.0.0.1" and r["port"] == 443 for r in w.http.requests if "login" in r)
    # Once, after the install, through odoo shell with the script on stdin only.
    assert len(_shell_calls(w)) == 1 and len(w.droplet.shell_scripts) == 1
    for call in w.droplet.calls:
        for value in w.secrets.values():
            assert value not in " ".join(call)
    assert st.attempts[0].install["admin"]["password_set"] is True
    text = w.all_written_text()
    for value in w.secrets.values():
        assert value not in text


@pytest.mark.parametrize("fault,failing_gate", [
    ("keep_admin", "admin_login"),
    ("wrong_base_url", "base_url"),
])
def test_a_tag_that_keeps_the_default_admin_or_a_wrong_url_rolls_back(tmp_path, fault, failing_gate):
    w = World(tmp_path, behaviour={GOOD: fault}, holder=OTHER)
    st = w.run()
    assert st.status == "rolled_back"
    doc = w.deploy_status()
    jsonschema.validate(doc, schema())
    first, second = doc["attempts"]
    assert first["tag"] == GOOD and not _gate(first, failing_gate)["passed"]
    assert second["tag"] == PRIOR and second["passed"] is True
    # Terminal: the failing round ended the attempt at once, not at the verify deadline.
    assert doc["phases"]["verify"]["seconds"] < w.deploy.gates.timeout_seconds
    assert w.api.assigns == [] and f"stays on droplet {OTHER}" in doc["cutover"]["reason"]
    # The prior tag's fresh database got the password and URL again.
    assert len(w.droplet.shell_scripts) == 2
    assert w.droplet.admin["password"] == w.secrets.odoo_admin_password
    assert w.droplet.params["web.base.url"] == PUBLIC


def test_killed_after_the_install_sets_the_admin_once_on_resume(tmp_path):
    w = World(tmp_path)
    w.droplet.crash_on = " shell -d "
    with pytest.raises(Crash):
        w.run()
    st = load_state(w.paths.state_json)
    assert st and st.attempts[0].db_initialised and "admin" not in st.attempts[0].install
    st = w.run()
    assert st.status == "success" and w.droplet.install_runs == [GOOD]
    assert w.droplet.admin["password"] == w.secrets.odoo_admin_password
    assert len(w.droplet.shell_scripts) == 1  # the crashed call never reached odoo


def test_an_existing_database_keeps_its_admin_password_but_gets_the_url(tmp_path):
    d = replace(base_deploy(), postgres=PostgresSpec(mode="managed", host="db-do-user.ondigitalocean.com",
                                                      port=25060, sslmode="require"))
    w = World(tmp_path, deploy=d)
    w.droplet.images.discard("postgres:16")
    w.droplet.db_exists = True
    w.droplet.modules = {m: ("18.0.1.0", "installed") for m in ("base", "web", "mail")}
    w.droplet.admin = {"login": "boss@example.test", "password": "the-business-own-password"}
    w.droplet.params = {"web.base.url": "http://old.example.test"}
    st = w.run()
    assert st.status == "success" and w.droplet.install_runs == []
    assert w.droplet.admin == {"login": "boss@example.test", "password": "the-business-own-password"}
    assert w.droplet.params == {"web.base.url": PUBLIC, "web.base.url.freeze": "True"}
    gate = _gate(w.deploy_status(), "admin_login")
    assert gate["passed"] and "existing database" in gate["detail"]


def test_without_a_domain_the_url_is_the_reserved_ip(tmp_path):
    d = base_deploy()
    w = World(tmp_path, deploy=replace(d, edge=replace(d.edge, domain=None), dns=None))
    st = w.run()
    assert st.status == "success"
    assert w.droplet.params["web.base.url"] == f"https://{IP}"


# ------------------------------------------------------------------------------------------------ inputs


def test_a_console_droplet_generates_its_admin_password_into_the_credentials_file(tmp_path):
    w = World(tmp_path, user_data=False)
    st = w.run()
    assert st.status == "success"
    cred = w.paths.credentials
    assert stat.S_IMODE(cred.stat().st_mode) == 0o600
    creds = parse_env(cred.read_text())
    assert len(creds["ODOO_ADMIN_PASSWORD"]) >= 24
    assert w.droplet.admin["password"] == creds["ODOO_ADMIN_PASSWORD"]
    assert "admin" in cred.read_text().splitlines()[1]  # the header says which password is which
    assert load_inputs(w.paths).secrets.odoo_admin_password == creds["ODOO_ADMIN_PASSWORD"]  # stable
    assert creds["ODOO_ADMIN_PASSWORD"] not in w.all_written_text().replace(cred.read_text(), "")


def test_an_older_credentials_file_gains_an_admin_password_and_keeps_the_others(tmp_path):
    w = World(tmp_path, user_data=False)
    w.paths.credentials.parent.mkdir(parents=True, exist_ok=True)
    w.paths.credentials.write_text("DB_PASSWORD=kept-db-password-1\nADMIN_PASSWD=kept-master-password\n")
    secrets = load_inputs(w.paths).secrets
    assert (secrets.db_password, secrets.admin_passwd) == ("kept-db-password-1", "kept-master-password")
    assert secrets.odoo_admin_password and len(secrets.odoo_admin_password) >= 24
    assert stat.S_IMODE(w.paths.credentials.stat().st_mode) == 0o600


def test_user_data_without_an_admin_password_gets_one_generated_and_a_warning(tmp_path):
    w = World(tmp_path)
    env = {k: v for k, v in w.secrets.to_env().items() if k != "ODOO_ADMIN_PASSWORD"}
    w.paths.secrets_env.write_text("".join(f"{k}={v}\n" for k, v in env.items()))
    inputs = load_inputs(w.paths)
    assert inputs.secrets.odoo_admin_password
    assert inputs.secrets.odoo_admin_password == parse_env(w.paths.credentials.read_text())["ODOO_ADMIN_PASSWORD"]
    assert any("ODOO_ADMIN_PASSWORD" in warning for warning in inputs.warnings)


def test_the_admin_password_is_a_secret_like_the_others():
    s = Secrets.from_env({"DB_PASSWORD": "d" * 16, "ADMIN_PASSWD": "m" * 16, "ODOO_ADMIN_PASSWORD": "o" * 16})
    assert s.odoo_admin_password == "o" * 16 and "o" * 16 in s.values()
    assert s.to_env()["ODOO_ADMIN_PASSWORD"] == "o" * 16
    assert s.redact("pw=" + "o" * 16) == "pw=<redacted>" and s.redacted().odoo_admin_password == "<redacted>"
    assert dataclasses.fields(OdooSpec)[-1].name == "admin_email" and OdooSpec().admin_email is None


# ------------------------------------------------------------------------------------------------ the probe


@pytest.fixture
def odoo_rpc():
    """A loopback server answering /web/session/authenticate as Odoo does (plain HTTP: the TLS path is the
    GET probe's, tests/unit/test_agent_probes.py)."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    seen: dict[str, list] = {"auth": [], "destroy": []}

    class H(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            if self.path == "/web/session/destroy":
                seen["destroy"].append(self.headers.get("Cookie"))
                answer: dict = {"jsonrpc": "2.0", "id": None, "result": None}
            else:
                params = body["params"]
                seen["auth"].append((self.headers["Host"], self.headers["Content-Type"], params))
                if (params["login"], params["password"]) == ("admin", "the-real-one-123"):
                    answer = {"jsonrpc": "2.0", "id": 1, "result": {"uid": 2}}
                else:
                    answer = {"jsonrpc": "2.0", "id": 1, "error": {"code": 200, "message": "Odoo Server Error",
                              "data": {"name": "odoo.exceptions.AccessDenied", "message": "Access Denied"}}}
            data = json.dumps(answer).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Set-Cookie", "session_id=SECRETSESSIONID42; Path=/; HttpOnly")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True).start()
    yield srv.server_address[1], seen
    srv.shutdown()
    srv.server_close()


def test_the_login_probe_posts_json_rpc_and_ends_the_session_it_opened(odoo_rpc):
    from firstboot.probes import LoopbackHttp

    port, seen = odoo_rpc

    def login(password: str) -> G.HttpResult:
        return LoopbackHttp().authenticate(PUBLIC, "odoo", "admin", password, connect_host="127.0.0.1", port=port,
                                           tls=False, host_header="erp.example.test", timeout=5)

    ok = login("the-real-one-123")
    assert G.rpc_login(ok) == ("session", "uid 2") and ok.url == f"{PUBLIC}/web/session/authenticate"
    assert seen["auth"][-1] == ("erp.example.test", "application/json",
                                {"db": "odoo", "login": "admin", "password": "the-real-one-123"})
    assert seen["destroy"] == ["session_id=SECRETSESSIONID42"]  # logged out at once
    # Nothing of the session or the password in what the gate records.
    assert "SECRETSESSIONID42" not in json.dumps(ok.headers) + ok.body and "the-real-one-123" not in repr(ok)
    refused = login("admin")
    assert G.rpc_login(refused)[0] == "refused" and len(seen["destroy"]) == 1
    down = LoopbackHttp().authenticate(PUBLIC, "odoo", "admin", "x", connect_host="127.0.0.1", port=1, tls=False,
                                       host_header="erp.example.test", timeout=2)
    assert down.status == 0 and G.rpc_login(down)[0] == "no answer"
