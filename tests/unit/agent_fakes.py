"""In-process stand-ins for what the agent drives on a droplet, for unit tests of its core only.

`FakeDroplet` answers the commands the agent runs (docker, docker compose, psql, nginx, iptables,
openssl) the way the real tools do, from a small model: which images exist, which services run, what
the database holds. Each image tag can misbehave the way DESIGN.md lists (crash loop, never ready,
failed install, unknown module, no gevent port). It is not the e2e: that runs the real tools on the
local cloud.
"""

from __future__ import annotations

import ast
import datetime as dt
import functools
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from firstboot.config import Secrets
from firstboot.contract.layout import Layout
from firstboot.core import Renderers
from firstboot.gates import CommandResult, HttpResult
from firstboot.render.odoo_conf import render_odoo_conf
from firstboot.spaces import SpacesError

LOGIN_HTML = '<html><form class="oe_login_form"><input name="login"/><input name="password"/></form></html>'


class Crash(BaseException):
    """The agent process dying (SIGKILL, power loss) at a given command: nothing of it is caught."""


class FakeClock:
    def __init__(self, start: dt.datetime | None = None) -> None:
        self.t = 0.0
        self.start = start or dt.datetime(2026, 11, 27, 3, 0, 0, tzinfo=dt.UTC)

    def now(self) -> dt.datetime:
        return self.start + dt.timedelta(seconds=self.t)

    def monotonic(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += seconds


@dataclass
class FakeDroplet:
    root: Path
    behaviour: dict[str, str] = field(default_factory=dict)  # tag -> ok | crash_loop | never_ready | ...
    images: set[str] = field(default_factory=set)
    pull_works: bool = False
    db_exists: bool = False
    db_down: bool = False
    modules: dict[str, tuple[str, str]] = field(default_factory=dict)  # name -> (version, state)
    up: set[str] = field(default_factory=set)
    restarts: int = 0
    iptables: set[tuple[str, ...]] = field(default_factory=set)  # (chain, *rule) present
    install_runs: list[str] = field(default_factory=list)  # tags the install ran with
    drops: int = 0
    crash_on: str | None = None  # substring of a command at which the agent "dies"
    install_container: dict[str, Any] | None = None  # an install left running by a dead agent
    calls: list[tuple[str, ...]] = field(default_factory=list)
    nginx_t_fails: bool = False
    certbot_works: bool = True
    managed_calls: int = 0
    known_modules: tuple[str, ...] = ("base", "web", "mail", "sale")
    # res_users 2 and ir_config_parameter as `-i base` leaves them, then as `odoo shell` scripts change them
    admin: dict[str, str] = field(default_factory=lambda: {"login": "admin", "password": "admin"})
    params: dict[str, str] = field(default_factory=dict)
    shell_scripts: list[str] = field(default_factory=list)

    # --- what the stack runs ----------------------------------------------------------------------
    @property
    def compose_file(self) -> Path:
        return Layout(self.root).stack_dir / "docker-compose.yml"

    def odoo_tag(self) -> str:
        m = re.search(r"image: \S+/odoo:(\S+)", self.compose_file.read_text())
        assert m, "no odoo image in the compose file"
        return m.group(1).strip("'\"")

    def mode(self) -> str:
        return self.behaviour.get(self.odoo_tag(), "ok")

    # --- the runner -------------------------------------------------------------------------------
    def __call__(self, args: tuple[str, ...], *, timeout: float, stdin: str | None = None,
                 env: Any = None) -> CommandResult:
        self.calls.append(tuple(args))
        line = " ".join(args)
        if self.crash_on and self.crash_on in line:
            self.crash_on = None
            self._on_crash(line)
            raise Crash(line)
        return self._dispatch(tuple(args), line, stdin or "")

    def _on_crash(self, line: str) -> None:
        if " run -T --name odl-install-" in line:
            # The agent died; the install container it started goes on under dockerd.
            name = line.split("--name ")[1].split()[0]
            self._requested = tuple(line.split(" -i ")[1].split()[0].split(","))
            self.install_container = {"name": name, "tag": self.odoo_tag()}

    def ok(self, args: tuple[str, ...], out: str = "") -> CommandResult:
        return CommandResult(args, 0, out, "")

    def fail(self, args: tuple[str, ...], err: str, rc: int = 1) -> CommandResult:
        return CommandResult(args, rc, "", err)

    def _dispatch(self, a: tuple[str, ...], line: str, stdin: str) -> CommandResult:
        if a[:2] == ("docker", "info"):
            return self.ok(a, "20.10.24\n")
        if a[:3] == ("docker", "image", "inspect"):
            ref = a[-1]
            if ref in self.images:
                return self.ok(a, f'["{ref.split(":")[0]}@sha256:{abs(hash(ref)):064d}"] sha256:{"ab" * 32}\n')
            return self.fail(a, f"Error: No such image: {ref}")
        if a[:2] == ("docker", "pull"):
            if self.pull_works:
                self.images.add(a[2])
                return self.ok(a)
            return self.fail(a, "Error response from daemon: Get https://registry/v2/: dial tcp: no route")
        if a[0] == "openssl":
            Path(a[a.index("-keyout") + 1]).write_text("KEY")
            Path(a[a.index("-out") + 1]).write_text("CERT")
            return self.ok(a)
        if a[0] == "iptables":
            if a[1] == "-C":
                return self.ok(a) if a[2:] in self.iptables else self.fail(a, "Bad rule")
            if a[1] == "-I":  # -I CHAIN 1 RULE...
                self.iptables.add((a[2], *a[4:]))
                return self.ok(a)
            return self.fail(a, "unexpected iptables call")
        if a[:2] == ("nginx", "-t"):
            if self.nginx_t_fails:
                return self.fail(a, "nginx: [emerg] unknown directive")
            return self.ok(a, "", )
        if a[0] == "systemctl":
            return self.ok(a)
        if a[0] == "certbot":
            if not self.certbot_works:
                return self.fail(a, "Certbot failed to authenticate some domains (authenticator: webroot)")
            live = Layout(self.root).letsencrypt_live / a[a.index("-d") + 1]
            live.mkdir(parents=True, exist_ok=True)
            (live / "fullchain.pem").write_text("CERT")
            (live / "privkey.pem").write_text("KEY")
            return self.ok(a)
        if a[:3] == ("docker", "run", "--rm"):
            return self.ok(a, "101\n")
        if a[:2] == ("docker", "inspect") and a[2].startswith("odl-install-"):
            if self.install_container and self.install_container["name"] == a[2]:
                return self.ok(a, "[{}]")
            return self.fail(a, f"Error: No such object: {a[2]}")
        if a[:2] == ("docker", "wait"):
            ic = self.install_container
            assert ic and ic["name"] == a[2]
            rc = self._install(ic["tag"])
            self.install_container["rc"] = rc
            return self.ok(a, f"{rc}\n")
        if a[:2] == ("docker", "logs"):
            return self.ok(a, "odoo: modules loaded (from the resumed container)\n")
        if a[:2] == ("docker", "rm"):
            if self.install_container and self.install_container["name"] == a[-1]:
                self.install_container = None
            return self.ok(a)
        if a[:2] == ("docker", "inspect"):
            return self.ok(a, json.dumps([self._inspect(n) for n in a[2:]]))
        if a[:2] == ("docker", "compose"):
            return self._compose(a, a[6:], stdin)
        raise AssertionError(f"unexpected command: {line}")

    def _compose(self, a: tuple[str, ...], sub: tuple[str, ...], stdin: str) -> CommandResult:
        verb = sub[0]
        if verb == "up":
            services = [s for s in sub[1:] if not s.startswith("-")]
            self.up.update(services)
            return self.ok(a)
        if verb in ("stop", "rm"):
            self.up.difference_update(s for s in sub[1:] if not s.startswith("-"))
            return self.ok(a)
        if verb == "ps":
            return self.ok(a, "\n".join(json.dumps({"Name": f"odoo-{s}-1", "Service": s, "State": "running"})
                                        for s in sorted(self.up)) + "\n")
        if verb == "logs":
            return self.ok(a, "odoo-1 | INFO odoo: HTTP service running\n")
        if verb == "exec":
            svc, cmd = sub[2], sub[3:]
            if svc not in self.up:
                return self.fail(a, f"service {svc} is not running")
            if cmd[0] == "pg_isready":
                if self.db_down:
                    return CommandResult(a, 2, "/var/run/postgresql:5432 - no response\n", "")
                return self.ok(a, "/var/run/postgresql:5432 - accepting connections\n")
            if cmd[0] == "redis-cli":
                return self.ok(a, "PONG\n")
            if cmd[0] == "psql":
                return self._psql(a, cmd, stdin)
            if cmd[0] == "dropdb":
                self.drops += 1
                self.db_exists = False
                self.modules.clear()
                self._reset_base()
                return self.ok(a)
        if verb == "run" and "--name" in sub:
            return self._run_install(a, sub)
        if verb == "run" and "shell" in sub:
            return self._shell(a, stdin)
        if verb == "run" and "--entrypoint" in sub:
            # Managed PostgreSQL: the client tools run in a one-off odoo container.
            self.managed_calls += 1
            entry = sub[sub.index("--entrypoint") + 1]
            if entry == "pg_isready":
                return self.ok(a, f"{sub[sub.index('-h') + 1]}:25060 - accepting connections\n")
            script = sub[-1]
            database = script.rsplit("-d ", 1)[1].split()[0]
            if "DROP DATABASE" in stdin:
                self.drops += 1
                self.db_exists = False
                self.modules.clear()
                self._reset_base()
                return self.ok(a)
            return self._psql(a, ("psql", "-d", database), stdin)
        raise AssertionError(f"unexpected compose command: {' '.join(a)}")

    def _psql(self, a: tuple[str, ...], cmd: tuple[str, ...], stdin: str) -> CommandResult:
        database = cmd[cmd.index("-d") + 1]
        if "pg_database" in stdin:
            return self.ok(a, "1\n" if self.db_exists else "")
        if "ir_config_parameter" in stdin:
            if not self.db_exists:
                return self.fail(a, f'psql: error: FATAL:  database "{database}" does not exist')
            keys = re.findall(r"'([a-z.]+)'", stdin)
            return self.ok(a, "".join(f"{k}|{self.params[k]}\n" for k in sorted(keys) if k in self.params))
        if "ir_module_module" in stdin:
            if database != "postgres" and not self.db_exists:
                return self.fail(a, f'psql: error: FATAL:  database "{database}" does not exist')
            rows = [f"{n}|{v}|{s}" for n, (v, s) in sorted(self.modules.items())]
            return self.ok(a, "\n".join(rows) + ("\n" if rows else ""))
        raise AssertionError(f"unexpected SQL: {stdin}")

    def _install(self, tag: str) -> int:
        """`odoo -d DB -i MODS --stop-after-init` with `tag`: what Odoo 18 leaves behind."""
        self.install_runs.append(tag)
        mode = self.behaviour.get(tag, "ok")
        requested = self._requested
        if not self.db_exists:
            self._reset_base()
        self.db_exists = True
        if mode == "install_fails":
            self.modules.update({"base": ("18.0.1.3", "installed")})
            self.modules.update({m: ("", "to install") for m in requested if m != "base"})
            return 255
        for m in requested:
            if m in self.known_modules and not (mode == "unknown_module" and m == requested[-1]):
                self.modules[m] = ("18.0.1.0", "installed")
        return 0  # an unknown module only logs a warning

    def _run_install(self, a: tuple[str, ...], sub: tuple[str, ...]) -> CommandResult:
        self._requested = tuple(sub[sub.index("-i") + 1].split(","))
        rc = self._install(self.odoo_tag())
        return CommandResult(a, rc, "INFO odoo.modules.loading: loading 1 modules...\n", "")

    _requested: tuple[str, ...] = ()

    def _reset_base(self) -> None:
        """What `-i base` creates: admin/admin and web.base.url on localhost until an admin logs in."""
        self.admin = {"login": "admin", "password": "admin"}
        self.params = {"web.base.url": "http://localhost:8069"}

    def _shell(self, a: tuple[str, ...], script: str) -> CommandResult:
        """`odoo shell` with the agent's script on stdin (firstboot/plans/admin.py): its writes, read back
        as data (never exec'd); `keep_admin` ignores the password, `wrong_base_url` stores localhost."""
        self.shell_scripts.append(script)
        if not self.db_exists:
            return self.fail(a, "KeyError: 'res.users'")
        mode = self.mode()
        m = re.search(r"^admin\.write\((.*)\)$", script, re.M)
        if m:
            vals = ast.literal_eval(m.group(1))
            if mode == "keep_admin":
                vals.pop("password", None)
            self.admin.update(vals)
        for key, value in re.findall(r"^icp\.set_param\(('[^']*'), (.*)\)$", script, re.M):
            k, v = ast.literal_eval(key), ast.literal_eval(value)
            self.params[k] = "http://localhost:8069" if (k == "web.base.url" and mode == "wrong_base_url") else v
        printed = re.findall(r"^print\((.*)\)$", script, re.M)
        return self.ok(a, "".join(ast.literal_eval(p) + "\n" for p in printed))

    def authenticate(self, login: str, password: str) -> HttpResult:
        url = "https://erp.example.test/web/session/authenticate"
        if "odoo" not in self.up or self.mode() in ("crash_loop", "never_ready"):
            return HttpResult(url, 502, 3, "<html>502 Bad Gateway</html>")
        if login == self.admin["login"] and password == self.admin["password"]:
            return HttpResult(url, 200, 8, json.dumps({"jsonrpc": "2.0", "id": 1, "result": {"uid": 2}}))
        return HttpResult(url, 200, 8, json.dumps({"jsonrpc": "2.0", "id": 1, "error": {
            "code": 200, "message": "Odoo Server Error",
            "data": {"name": "odoo.exceptions.AccessDenied", "message": "Access Denied"}}}))

    def _inspect(self, name: str) -> dict[str, Any]:
        svc = name.split("-")[1]
        status, restarts = "running", 0
        if svc == "odoo" and self.mode() == "crash_loop":
            self.restarts += 1
            status, restarts = "restarting", self.restarts
        return {"Name": "/" + name, "RestartCount": restarts,
                "State": {"Status": status, "StartedAt": "2026-11-27T03:00:00Z",
                          **({"Health": {"Status": "healthy"}} if status == "running" else {})}}

    # --- HTTP -------------------------------------------------------------------------------------
    def http_answer(self, url: str, port: int) -> HttpResult:
        if "odoo" not in self.up:
            return HttpResult(url, 502 if port == 443 else 0, 3, "<html>502 Bad Gateway</html>",
                              error=None if port == 443 else "ConnectionRefusedError")
        mode = self.mode()
        if mode in ("crash_loop", "never_ready"):
            return HttpResult(url, 502 if port == 443 else 0, 3, "<html>502 Bad Gateway</html>",
                              error=None if port == 443 else "ConnectionRefusedError")
        if "/web/health" in url:
            if "db_server_status" in url:
                if self.db_down:
                    return HttpResult(url, 500, 4, '{"status": "fail", "db_server_status": false}')
                return HttpResult(url, 200, 4, '{"status": "pass", "db_server_status": true}')
            return HttpResult(url, 200, 4, '{"status": "pass"}')
        if "/web/login" in url:
            if self.db_down:
                return HttpResult(url, 500, 9, "Internal Server Error")
            return HttpResult(url, 200, 12, LOGIN_HTML)
        raise AssertionError(url)


class FakeHttp:
    def __init__(self, droplet: FakeDroplet) -> None:
        self.d = droplet
        self.requests: list[dict[str, Any]] = []

    def get(self, url: str, *, connect_host: str, port: int, tls: bool, host_header: str,
            timeout: float, follow: int = 0) -> HttpResult:
        self.requests.append({"url": url, "connect": connect_host, "port": port, "host": host_header})
        return self.d.http_answer(url, port)

    def authenticate(self, base_url: str, database: str, login: str, password: str, *, connect_host: str,
                     port: int, tls: bool, host_header: str, timeout: float) -> HttpResult:
        self.requests.append({"url": f"{base_url}/web/session/authenticate", "connect": connect_host,
                              "port": port, "host": host_header, "login": login})
        return self.d.authenticate(login, password)

    def websocket(self, url: str, *, connect_host: str, port: int, tls: bool, host_header: str,
                  origin: str, timeout: float) -> HttpResult:
        self.requests.append({"url": url, "connect": connect_host, "port": port, "host": host_header,
                              "origin": origin})
        base = self.d.http_answer(url.replace("wss://", "https://") + "/web/health", port)
        if base.status != 200:
            return HttpResult(url, base.status, 3, base.body, error=base.error)
        if self.d.mode() == "no_gevent":
            return HttpResult(url, 502, 3, "<html>502 Bad Gateway</html>")
        return HttpResult(url, 101, 5, "", {"Upgrade": "websocket", "Connection": "Upgrade"})


class FakeSpaces:
    """A bucket in a dict; `down` makes every request fail like an unreachable endpoint."""

    def __init__(self, store: dict[str, bytes] | None = None) -> None:
        self.store = store if store is not None else {}
        self.down = False
        self.attempts, self.timeout = 4, 15.0

    def put(self, key: str, body: bytes, content_type: str = "") -> None:
        if self.down:
            raise SpacesError(f"PUT {key}: 0 connection refused")
        self.store[key] = body

    def get(self, key: str) -> bytes | None:
        if self.down:
            raise SpacesError(f"GET {key}: 0 connection refused")
        return self.store.get(key)

    def get_json(self, key: str) -> Any:
        data = self.get(key)
        return json.loads(data) if data is not None else None


@dataclass
class FakeMetadata:
    droplet: int = 4242
    public: str = "10.213.0.42"

    def droplet_id(self) -> int:
        return self.droplet

    def public_ipv4(self) -> str:
        return self.public


@dataclass
class FakeDoApi:
    """Reserved IP and DNS as DigitalOcean keeps them (the HTTP-level behaviour is test_doapi's)."""

    holders: dict[str, int | None] = field(default_factory=dict)
    assigns: list[tuple[str, int]] = field(default_factory=list)
    records: dict[str, str] = field(default_factory=dict)

    def holder(self, ip: str) -> int | None:
        return self.holders.get(ip)

    def assign_reserved_ip(self, ip: str, droplet_id: int) -> Any:
        from firstboot.doapi import AssignResult

        self.assigns.append((ip, droplet_id))
        self.holders[ip] = droplet_id
        return AssignResult(ip, droplet_id, already=False, posts=1, action_id=7)

    dns_failures: list[Exception] = field(default_factory=list)  # raised, in order, by the next upserts
    max_attempts: int = 8  # DoApi's: the DNS retry lowers it

    def upsert_a_record(self, domain: str, name: str, ip: str, ttl: int = 60) -> Any:
        from firstboot.doapi import RecordResult

        if self.dns_failures:
            raise self.dns_failures.pop(0)
        before = self.records.get(f"{name}.{domain}")
        self.records[f"{name}.{domain}"] = ip
        return RecordResult(f"{name}.{domain}", ip, "create" if before is None else
                            "none" if before == ip else "update", 1)


def fast_renderers() -> Renderers:
    """The real renderers, with the master password hashed in 1,000 rounds instead of Odoo's 600,000: the
    same file, without seconds of PBKDF2 in every test that runs the agent."""
    r = Renderers.default()
    r.odoo_conf = functools.partial(render_odoo_conf, rounds=1000)
    return r


def make_secrets() -> Secrets:
    import secrets as s

    return Secrets.from_env({"DB_PASSWORD": "db-" + s.token_hex(8), "ADMIN_PASSWD": "adm-" + s.token_hex(8),
                             "ODOO_ADMIN_PASSWORD": "odoo-adm-" + s.token_hex(8),
                             "DIGITALOCEAN_TOKEN": "dop_v1_" + s.token_hex(16), "SPACES_KEY": "SK" + s.token_hex(6),
                             "SPACES_SECRET": "ss-" + s.token_hex(12)})
