"""The first-boot agent: brings the stack up, proves it healthy, rolls back on its own, leaves proofs,
and only then takes traffic. `python3 -m firstboot.agent run|resume|status|publish`.

The core (`Agent`) gets every side effect injected: a command runner, an HTTP prober, a clock, and
factories for the metadata service, the DO API and Spaces. The unit tests drive the whole phase sequence
in-process with recorded command results; systemd runs it for real (firstboot/systemd/).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import secrets as pysecrets
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from firstboot import gates as G
from firstboot.config import Deploy, Resources, Secrets
from firstboot.contract.passwords import db_password_problem, generate_password
from firstboot.doapi import DoApi, DoApiError
from firstboot.metadata import Metadata, MetadataError
from firstboot.phases import Step, choose_prior_tag, decide, next_step, plan_cutover
from firstboot.probes import (
    Compose,
    Http,
    LoopbackHttp,
    Runner,
    database_exists_query,
    docker_inspect,
    docker_wait,
    image_inspect,
    module_query,
    parse_compose_ps,
    parse_image_digest,
    parse_inspect,
    parse_module_rows,
    run_command,
)
from firstboot.proof import (
    DEPLOY_STATUS,
    HEALTHCHECK_LOG,
    MODULE_INSTALL_LOG,
    STATUS,
    build_deploy_status,
    build_status,
    deploy_id_for,
    healthcheck_line,
    iso,
    module_entries,
)
from firstboot.render.compose import DB_PASSWORD_FILE, render_db_password_file
from firstboot.spaces import LAST_GOOD_KEY, Outbox, Spaces, SpacesError
from firstboot.state import Attempt, Paths, State, atomic_write, load_state, save_state
from firstboot.workers import SizeTooSmall, plan_workers

log = logging.getLogger("odoo-droplet")

MIN_FREE_DISK_GB = 2.0
DOCKER_WAIT_SECONDS = 120
DATA_READY_SECONDS = 180
POLL_SECONDS = 1.0
VERIFY_POLL_SECONDS = 2.0
PULL_SECONDS = 900
MAX_RUNS = 5  # a deploy that crashed this often is not retried by the unit again: publish and stop
KILLED_EXIT_CODES = (137, 143)  # SIGKILL / SIGTERM: the install was interrupted, not refused


class Clock(Protocol):
    def now(self) -> dt.datetime: ...
    def monotonic(self) -> float: ...
    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


@dataclass
class Renderers:
    """The renderers (firstboot/render/), injectable so a test can pin their output."""

    odoo_conf: Callable[..., str]
    compose: Callable[..., str]
    compose_env: Callable[..., str]
    nginx_site: Callable[..., str]
    project_name: Callable[[Deploy], str]

    @classmethod
    def default(cls) -> Renderers:
        from firstboot.render.compose import project_name, render_compose, render_compose_env
        from firstboot.render.nginx import render_nginx_site
        from firstboot.render.odoo_conf import render_odoo_conf

        return cls(render_odoo_conf, render_compose, render_compose_env, render_nginx_site, project_name)


@dataclass
class Inputs:
    deploy: Deploy
    secrets: Secrets
    user_data: bool
    baked: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


# --- inputs -------------------------------------------------------------------------------------------

def parse_env_file(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        k, _, v = line.partition("=")
        v = v.strip()
        if len(v) >= 2 and v[0] == v[-1] and v[0] in "'\"":
            v = v[1:-1]
        out[k.strip()] = v
    return out


def load_inputs(paths: Paths, token: Callable[[int], str] = pysecrets.token_urlsafe) -> Inputs:
    """Settings and secrets. With user-data, cloud-init wrote deploy.json and secrets.env; without it
    (a console-made droplet) the snapshot's baked settings are used and passwords are generated once
    into /root/odoo-droplet-credentials (0600), read back on every later run."""
    baked: dict[str, Any] = {}
    if paths.baked_json.exists():
        baked = json.loads(paths.baked_json.read_text())
    user_data = paths.secrets_env.exists()
    if paths.deploy_json.exists():
        deploy = Deploy.from_dict(json.loads(paths.deploy_json.read_text()))
    elif baked.get("deploy"):
        deploy = Deploy.from_dict(baked["deploy"])
    else:
        deploy = Deploy()
    warnings = []
    if user_data:
        secrets = Secrets.from_env(parse_env_file(paths.secrets_env.read_text()))
        for p in (paths.deploy_json, paths.secrets_env):
            if p.exists() and p.stat().st_mode & 0o077:
                warnings.append(f"{p} was mode {oct(p.stat().st_mode & 0o777)}; set to 0600")
                os.chmod(p, 0o600)
    else:
        if paths.credentials.exists():
            env = parse_env_file(paths.credentials.read_text())
        else:
            env = {"DB_PASSWORD": generate_password(token), "ADMIN_PASSWD": generate_password(token)}
            atomic_write(paths.credentials, (
                "# Generated on first boot of this droplet (it had no user-data). Keep them safe.\n"
                "# ADMIN_PASSWD is Odoo's master password (database manager); DB_PASSWORD is PostgreSQL's.\n"
                + "".join(f"{k}={v}\n" for k, v in env.items())), mode=0o600)
        secrets = Secrets(db_password=env["DB_PASSWORD"], admin_passwd=env["ADMIN_PASSWD"])
    return Inputs(deploy, secrets, user_data, baked, warnings)


# --- the agent ----------------------------------------------------------------------------------------

def certbot_command(deploy: Deploy, webroot: str) -> tuple[str, ...]:
    edge = deploy.edge
    assert edge.domain
    args = ["certbot", "certonly", "--non-interactive", "--agree-tos", "--keep-until-expiring",
            "--webroot", "-w", webroot, "-d", edge.domain,
            # Renewals (Debian's certbot.timer) must reload nginx to serve the new certificate.
            "--deploy-hook", "systemctl reload nginx"]
    args += ["--email", edge.email] if edge.email else ["--register-unsafely-without-email"]
    if edge.acme_server:
        args += ["--server", edge.acme_server]
    return tuple(args)


class StepFailed(RuntimeError):
    """The current attempt cannot go on (recorded in the attempt; the sequence moves to decide)."""


class Fatal(RuntimeError):
    """Nothing can be tried (preflight refused): publish the failure."""


class Agent:
    def __init__(
        self,
        paths: Paths,
        inputs: Inputs,
        runner: Runner,
        http: Http,
        clock: Clock,
        *,
        resources: Callable[[], Resources],
        free_disk_gb: Callable[[], float],
        metadata: Callable[[], Metadata] | None = None,
        doapi: Callable[[], DoApi] | None = None,
        spaces: Callable[[], Spaces | None] | None = None,
        renderers: Renderers | None = None,
        chown: Callable[[Path, int], None] | None = None,
    ) -> None:
        self.paths = paths
        self.inputs = inputs
        self.deploy = inputs.deploy
        self.secrets = inputs.secrets
        self.runner = runner
        self.http = http
        self.clock = clock
        self.resources = resources
        self.free_disk_gb = free_disk_gb
        self.metadata = metadata or (lambda: Metadata())
        self.doapi_factory = doapi or self._default_doapi
        self.spaces_factory = spaces or self._default_spaces
        self.renderers = renderers or Renderers.default()
        self.chown = chown or (lambda p, uid: os.chown(p, uid, 0))
        self.compose = Compose(paths.stack / "docker-compose.yml", self.renderers.project_name(self.deploy))
        self.state: State | None = None

    # --- adapters built from settings -------------------------------------------------------------
    def _default_doapi(self) -> DoApi:
        if not self.secrets.do_token:
            raise RuntimeError("no DIGITALOCEAN_TOKEN in secrets.env")
        return DoApi(self.deploy.endpoints.api_url, self.secrets.do_token, sleep=self.clock.sleep,
                     monotonic=self.clock.monotonic)

    def _default_spaces(self) -> Spaces | None:
        sp = self.deploy.spaces
        if not (sp and self.secrets.spaces_key and self.secrets.spaces_secret):
            return None
        return Spaces(self.deploy.endpoints.spaces_url(sp.region), sp.region, sp.bucket,
                      self.secrets.spaces_key, self.secrets.spaces_secret, sleep=self.clock.sleep,
                      now=self.clock.now)

    # --- helpers ----------------------------------------------------------------------------------
    def run(self, args: tuple[str, ...], timeout: float = 60, stdin: str | None = None) -> G.CommandResult:
        res = self.runner(args, timeout=timeout, stdin=stdin)
        level = logging.DEBUG if res.ok else logging.INFO
        log.log(level, "%s -> %s", self.redact(" ".join(args))[:300], res.returncode)
        return res

    def redact(self, text: str) -> str:
        return self.secrets.redact(text)

    @property
    def proof_dir(self) -> Path:
        assert self.state is not None
        return self.paths.proof_dir(self.state.deploy_id)

    def write_proof(self, name: str, text: str) -> Path:
        path = self.proof_dir / name
        atomic_write(path, self.redact(text), mode=0o600)
        return path

    def append_proof(self, name: str, text: str) -> None:
        path = self.proof_dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a") as f:
            f.write(self.redact(text))

    def save(self) -> None:
        assert self.state is not None
        save_state(self.paths.state_json, self.state)
        self.write_proof(STATUS, json.dumps(build_status(self.state, self.clock.now()), indent=2) + "\n")

    @property
    def domain_host(self) -> str:
        return self.deploy.edge.domain or "localhost"

    @property
    def edge_base(self) -> str:
        return f"https://{self.domain_host}"

    def tag_deploy(self, tag: str) -> Deploy:
        return self.deploy.with_tag(tag)

    def image_ref(self, tag: str) -> str:
        return self.deploy.image_ref(tag=tag)

    # --- the loop ---------------------------------------------------------------------------------
    def start(self) -> State:
        """Load the state or begin a new deploy."""
        st = load_state(self.paths.state_json)
        if st is None:
            now = self.clock.now()
            st = State(deploy_id=self.deploy.deploy_id or deploy_id_for(now), started_at=iso(now),
                       user_data=self.inputs.user_data)
        st.runs += 1
        self.state = st
        self.save()
        return st

    def run_all(self, max_steps: int = 64) -> State:
        st = self.state or self.start()
        self.block_metadata()  # every boot: the rule does not survive a reboot
        if st.runs > MAX_RUNS and next_step(st) is not None and st.fatal is None:
            st.fatal = f"the agent started {st.runs} times without finishing; giving up"
            st.status = "failed"
        for _ in range(max_steps):
            step = next_step(st)
            if step is None:
                break
            self.run_step(step)
        st.current = None
        self.save()
        return st

    def run_step(self, step: Step) -> None:
        st = self.state
        assert st is not None
        key = step.key
        rec = st.phases.get(key, {})
        if rec.get("started") and not rec.get("ended"):
            rec["resumed"] = int(rec.get("resumed", 0)) + 1
        rec.update(started=iso(self.clock.now()), ended=None, seconds=None, ok=None)
        st.phases[key] = rec
        st.current = key
        self.save()
        self.upload_live_status()
        t0 = self.clock.monotonic()
        log.info("phase %s: start", key)
        ok = True
        try:
            getattr(self, "step_" + step.name.replace("-", "_"))(step)
        except StepFailed as e:
            ok = False
            att = st.attempts[step.attempt or 0] if st.attempts else None
            if att is not None:
                att.failed = f"{step.name}: {e}"
                att.passed = False
            log.error("phase %s failed: %s", key, self.redact(str(e)))
        except Fatal as e:
            ok = False
            st.fatal = f"{step.name}: {e}"
            st.status = "failed"
            st.error_message = st.fatal
            log.error("fatal in %s: %s", key, self.redact(str(e)))
        seconds = round(self.clock.monotonic() - t0, 3)
        rec.update(ended=iso(self.clock.now()), seconds=seconds, ok=ok)
        if step.name in ("preflight", "decide", "publish", "cutover", "finalize"):
            st.done.append(step.done_key)
        elif ok:
            st.attempts[step.attempt or 0].done.append(step.name)
        log.info("phase %s: %s in %.1fs", key, "ok" if ok else "failed", seconds)
        st.current = None
        if step.name == "finalize":
            self.write_deploy_status()  # again, now that finalize itself is timed
        self.save()
        if step.name == "finalize":
            self.upload_proofs()  # status.json now says done: the operator's CLI stops following
        else:
            self.upload_live_status()

    # --- preflight --------------------------------------------------------------------------------
    def step_preflight(self, step: Step) -> None:
        st = self.state
        assert st is not None
        for w in self.inputs.warnings:
            log.warning(w)
        problem = db_password_problem(self.secrets.db_password)
        if problem:
            raise Fatal(problem)  # no install could succeed: say why now, not as a wait-for-psql usage error
        res = self.resources()
        st.resources = {"vcpus": res.vcpus, "memory_mb": res.memory_mb, "disk_gb": res.disk_gb}
        try:
            plan = plan_workers(res, self.deploy.odoo.workers)
        except (SizeTooSmall, ValueError) as e:
            raise Fatal(str(e)) from e
        st.resources["workers"] = plan.workers
        free = self.free_disk_gb()
        st.resources["disk_free_gb"] = round(free, 1)
        if free < MIN_FREE_DISK_GB:
            raise Fatal(f"{free:.1f} GB free on / (need {MIN_FREE_DISK_GB})")
        self.wait_docker()
        self.block_metadata()
        self.ensure_self_signed_cert()
        # baked.json (builder/packer.py): "tag" is the tag the snapshot was built for, "prior_tag" the one
        # before it; both images are in the snapshot.
        baked = self.inputs.baked
        baked_tag = next((t for t in (baked.get("tag"), baked.get("prior_tag")) if t and t != self.deploy.odoo.tag),
                         None)
        st.prior_tag, st.prior_source = choose_prior_tag(
            self.last_good_tag(), self.deploy.odoo.prior_tag, baked_tag, self.deploy.odoo.tag)
        att = Attempt(tag=self.deploy.odoo.tag)
        st.attempts = [att]
        # The snapshot carries both tags; a registry is needed only for what it does not carry.
        for ref in self.service_images():
            if not self.ensure_image(ref):
                raise Fatal(f"image {ref} is not on this droplet and cannot be pulled")
        if st.prior_tag and not self.ensure_image(self.image_ref(st.prior_tag)):
            log.warning("prior tag %s: image not present; no rollback possible", st.prior_tag)
            st.prior_source = f"{st.prior_source} (image missing: no rollback)"
            st.prior_tag = None
        if not self.ensure_image(self.image_ref(att.tag)):
            att.failed = f"preflight: image {self.image_ref(att.tag)} not present and the pull failed"
            att.passed = False

    def service_images(self) -> list[str]:
        out = []
        if self.deploy.postgres.mode == "selfhost":
            out.append(self.deploy.postgres.image)
        if self.deploy.redis.enabled:
            out.append(self.deploy.redis.image)
        return out

    def wait_docker(self) -> None:
        deadline = self.clock.monotonic() + DOCKER_WAIT_SECONDS
        while True:
            r = self.run(("docker", "info", "--format", "{{.ServerVersion}}"), timeout=30)
            if r.ok:
                return
            if r.returncode == 127:
                raise Fatal("docker is not installed (the snapshot is missing docker.io)")
            if self.clock.monotonic() >= deadline:
                raise Fatal(f"docker does not answer: {r.stderr.strip()[:200]}")
            self.clock.sleep(POLL_SECONDS)

    def ensure_image(self, ref: str) -> bool:
        assert self.state is not None
        r = self.run(image_inspect(ref), timeout=30)
        if not r.ok:
            log.info("image %s not local; pulling", ref)
            if not self.run(("docker", "pull", ref), timeout=PULL_SECONDS).ok:
                return False
            r = self.run(image_inspect(ref), timeout=30)
            if not r.ok:
                return False
        self.state.images[ref] = parse_image_digest(r.stdout)
        return True

    def ensure_self_signed_cert(self) -> None:
        crt, key = self.paths.tls / "selfsigned.crt", self.paths.tls / "selfsigned.key"
        if crt.exists() and key.exists():
            return
        self.paths.tls.mkdir(parents=True, exist_ok=True)
        name = self.deploy.edge.domain or "localhost"
        r = self.run(("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "825",
                      "-subj", f"/CN={name}", "-addext", f"subjectAltName=DNS:{name}",
                      "-keyout", str(key), "-out", str(crt)), timeout=60)
        if not r.ok:
            raise Fatal(f"openssl could not make a self-signed certificate: {r.stderr.strip()[:200]}")
        if key.exists():
            os.chmod(key, 0o600)

    def last_good_tag(self) -> str | None:
        try:
            sp = self.spaces_factory()
            if sp is None:
                return None
            data = sp.get_json(LAST_GOOD_KEY)
        except (SpacesError, ValueError, OSError) as e:
            log.warning("cannot read %s: %s", LAST_GOOD_KEY, e)
            return None
        return (data or {}).get("tag")

    def block_metadata(self) -> None:
        """Containers must not reach 169.254.169.254 (user-data holds secrets). DOCKER-USER filters what
        Docker forwards from containers; -C first keeps the rule single across runs."""
        assert self.state is not None
        rule = ("DOCKER-USER", "-d", "169.254.169.254/32", "-j", "DROP")
        if self.run(("iptables", "-C", *rule), timeout=15).ok:
            self.state.security["metadata_blocked"] = True
            return
        r = self.run(("iptables", "-I", *rule), timeout=15)
        self.state.security["metadata_blocked"] = r.ok
        if not r.ok:
            # Recorded in the proof; the deploy goes on (Docker may not have made its chain yet: the
            # next call, after docker answers, tries again).
            self.state.security["metadata_block_error"] = r.stderr.strip()[:200]
            log.warning("could not block the metadata service for containers: %s", r.stderr.strip()[:200])
        else:
            self.state.security.pop("metadata_block_error", None)

    # --- configure --------------------------------------------------------------------------------
    def step_configure(self, step: Step) -> None:
        st = self.state
        assert st is not None
        att = st.attempts[step.attempt or 0]
        d = self.tag_deploy(att.tag)
        res = Resources(st.resources["vcpus"], st.resources["memory_mb"], st.resources.get("disk_gb", 25))
        plan = plan_workers(res, self.deploy.odoo.workers)
        stack = self.paths.stack
        stack.mkdir(parents=True, exist_ok=True)
        atomic_write(stack / "docker-compose.yml", self.renderers.compose(d, self.image_ref(att.tag)), 0o600)
        atomic_write(stack / "odoo.env", self.renderers.compose_env(d, self.secrets), 0o600)
        atomic_write(stack / DB_PASSWORD_FILE, render_db_password_file(self.secrets), 0o600)
        conf = stack / "odoo.conf"
        atomic_write(conf, self.renderers.odoo_conf(d, self.secrets, plan), 0o600)
        # The odoo image runs as its own user: the 0600 file must be that user's to be readable.
        uid = self.run(("docker", "run", "--rm", "--network", "none", "--entrypoint", "id",
                        self.image_ref(att.tag), "-u"), timeout=60)
        if uid.ok and uid.stdout.strip().isdigit():
            self.chown(conf, int(uid.stdout.strip()))
        else:
            log.warning("could not read the odoo image's uid; odoo.conf stays root-owned")
        self.configure_nginx(d)
        self.ensure_certificate("configure")

    def tls_files(self) -> tuple[str, str]:
        edge = self.deploy.edge
        if edge.tls == "letsencrypt" and edge.domain:
            live = self.paths.letsencrypt_live / edge.domain
            if (live / "fullchain.pem").exists():
                return str(live / "fullchain.pem"), str(live / "privkey.pem")
        return str(self.paths.tls / "selfsigned.crt"), str(self.paths.tls / "selfsigned.key")

    def ensure_certificate(self, when: str) -> None:
        """Let's Encrypt (or the ACME server configured, pebble on the local cloud) over HTTP-01 through
        nginx's /.well-known/acme-challenge/. Until it succeeds nginx serves the self-signed certificate;
        a failure is recorded, not fatal: the gates probe our own nginx and do not verify certificates.
        Tried at configure (works when the name already reaches this droplet, and on the local cloud)
        and again right after this droplet took the reserved IP."""
        st, edge = self.state, self.deploy.edge
        assert st is not None
        if edge.tls != "letsencrypt" or not edge.domain or not st.user_data:
            st.security.setdefault("certificate", "self-signed")
            return
        if (self.paths.letsencrypt_live / edge.domain / "fullchain.pem").exists():
            st.security["certificate"] = "letsencrypt"
            return
        r = self.run(certbot_command(self.deploy, str(self.paths.acme_webroot)), timeout=300)
        if r.ok and (self.paths.letsencrypt_live / edge.domain / "fullchain.pem").exists():
            st.security["certificate"] = "letsencrypt"
            self.configure_nginx(self.tag_deploy(st.attempts[-1].tag))
            return
        err = (r.stderr or r.stdout).strip().splitlines()
        st.security["certificate"] = f"self-signed (certbot at {when} failed: {err[-1][:200] if err else r.returncode})"

    def configure_nginx(self, d: Deploy) -> None:
        crt, key = self.tls_files()
        site = self.renderers.nginx_site(d, server_name=self.deploy.edge.domain or "_", cert_path=crt,
                                         key_path=key, acme_webroot=str(self.paths.acme_webroot))
        self.paths.acme_webroot.mkdir(parents=True, exist_ok=True)
        avail, enabled = self.paths.nginx_available, self.paths.nginx_enabled
        previous = avail.read_text() if avail.exists() else None
        atomic_write(avail, site, 0o644)
        enabled.parent.mkdir(parents=True, exist_ok=True)
        if not enabled.is_symlink() and not enabled.exists():
            enabled.symlink_to(avail)
        default = self.paths.nginx_default_enabled
        default_target = os.readlink(default) if default.is_symlink() else None
        if default.is_symlink() or default.exists():
            default.unlink()  # Debian's default site also claims port 80 as default_server
        t = self.run(("nginx", "-t"), timeout=30)
        if not t.ok:
            # Leave nginx as it was: the old site back, and no reload.
            if previous is not None:
                atomic_write(avail, previous, 0o644)
            else:
                avail.unlink(missing_ok=True)
                enabled.unlink(missing_ok=True)
            if default_target:
                default.symlink_to(default_target)
            raise StepFailed(f"nginx -t refused the site: {t.stderr.strip()[-300:]}")
        r = self.run(("systemctl", "reload-or-restart", "nginx"), timeout=60)
        if not r.ok:
            raise StepFailed(f"nginx reload failed: {r.stderr.strip()[:300]}")

    # --- start-data -------------------------------------------------------------------------------
    def step_start_data(self, step: Step) -> None:
        services = self.service_names(data_only=True)
        if services:
            r = self.run(self.compose.up(*services), timeout=300)
            if not r.ok:
                raise StepFailed(f"compose up {' '.join(services)}: {r.stderr.strip()[-300:]}")
        self.wait_data_ready()

    def service_names(self, data_only: bool = False) -> list[str]:
        out = []
        if self.deploy.postgres.mode == "selfhost":
            out.append("db")
        if self.deploy.redis.enabled:
            out.append("redis")
        return out if data_only else ["odoo", *out]

    def wait_data_ready(self) -> None:
        """PostgreSQL accepting connections and Redis answering PONG, polled to a deadline."""
        deadline = self.clock.monotonic() + DATA_READY_SECONDS
        need_redis = self.deploy.redis.enabled
        db_ok = redis_ok = False
        while True:
            if not db_ok:
                r = self.run(self.compose.pg_isready(self.deploy), timeout=20)
                db_ok = r.ok and "accepting connections" in r.stdout
            if need_redis and not redis_ok:
                r2 = self.run(self.compose.redis_ping(), timeout=20)
                redis_ok = r2.ok and "PONG" in r2.stdout
            if db_ok and (redis_ok or not need_redis):
                return
            if self.clock.monotonic() >= deadline:
                waiting = [n for n, ok in (("PostgreSQL", db_ok), ("Redis", redis_ok or not need_redis))
                           if not ok]
                raise StepFailed(f"not ready after {DATA_READY_SECONDS}s: {', '.join(waiting)}")
            self.clock.sleep(POLL_SECONDS)

    # --- install ----------------------------------------------------------------------------------
    def sql(self, database: str, query: str) -> G.CommandResult:
        return self.run(self.compose.psql(self.deploy, database), timeout=60, stdin=query)

    def database_exists(self) -> bool:
        r = self.sql("postgres", database_exists_query(self.deploy.odoo.database))
        if not r.ok:
            raise StepFailed(f"cannot list databases: {r.stderr.strip()[:200]}")
        return r.stdout.strip() == "1"

    def module_rows(self) -> tuple[list[G.ModuleRow] | None, str]:
        r = self.sql(self.deploy.odoo.database, module_query(self.deploy.odoo.modules))
        if not r.ok:
            return None, r.stderr.strip()[:200]
        return parse_module_rows(r.stdout), ""

    def step_install(self, step: Step) -> None:
        st = self.state
        assert st is not None
        i = step.attempt or 0
        att = st.attempts[i]
        if att.db_initialised:
            return
        name = f"odl-install-{st.deploy_id}-{i}"
        existing = self.run(docker_inspect(name), timeout=30)
        t0 = self.clock.monotonic()
        if existing.ok:
            # A resumed agent: the install it started is still running (or finished) under dockerd.
            # Wait for that one; never start a second initialisation beside it.
            log.info("install container %s exists: waiting for it instead of starting another", name)
            att.install["resumed"] = True
            w = self.run(docker_wait(name), timeout=self.deploy.gates.install_timeout_seconds)
            code = int(w.stdout.strip()) if w.ok and w.stdout.strip().lstrip("-").isdigit() else -1
            logs = self.run(("docker", "logs", name), timeout=60)
            output = logs.stdout + logs.stderr
            if code in KILLED_EXIT_CODES and att.fresh_db:
                # Killed with the agent (a reboot): the half-made database is ours alone; start clean.
                log.warning("install %s was killed (exit %s): dropping the partial database", name, code)
                self.run(("docker", "rm", "-f", name), timeout=60)
                self.drop_database()
                existing = G.CommandResult((), 1)
            else:
                self.install_log(i, att.tag, output)
        if not existing.ok:
            if att.fresh_db is None:
                att.fresh_db = not self.database_exists()
            if not att.fresh_db:
                rows, _ = self.module_rows()
                if rows is not None and G.module_state_ok(rows, self.deploy.odoo.modules).passed:
                    # Already initialised (by this deploy before a crash, or a managed database that
                    # carries data): a second `-i` would not be a first install.
                    att.db_initialised = True
                    att.install.update(exit_code=None, skipped="modules already installed",
                                       modules=module_entries(rows, self.deploy.odoo.modules))
                    return
            att.install["started"] = iso(self.clock.now())
            self.save()  # fresh_db and the start reach the disk before the install runs
            r = self.run(self.compose.install(name, self.deploy.odoo.database, self.deploy.odoo.modules),
                         timeout=self.deploy.gates.install_timeout_seconds)
            code = r.returncode
            self.install_log(i, att.tag, r.stdout + r.stderr)
        self.run(("docker", "rm", "-f", name), timeout=60)
        att.install.update(exit_code=code, seconds=round(self.clock.monotonic() - t0, 3))
        rows, err = self.module_rows()
        gate = G.module_state_ok(rows, self.deploy.odoo.modules, err)
        att.install["modules"] = module_entries(rows or [], self.deploy.odoo.modules)
        if code != 0:
            raise StepFailed(f"odoo -i exited {code}; {gate.detail}")
        if not gate.passed:
            # Exit 0 proves nothing (an unknown module only logs a warning): the rows decide.
            raise StepFailed(f"odoo -i exited 0 but {gate.detail}")
        att.db_initialised = True

    def install_log(self, attempt: int, tag: str, output: str) -> None:
        """module_install.log: the first attempt's output, then the rollback's appended below it."""
        header = f"# odoo -i with {tag} (attempt {attempt}) at {iso(self.clock.now())}\n"
        if attempt == 0:
            self.write_proof(MODULE_INSTALL_LOG, header + output)
        else:
            self.append_proof(MODULE_INSTALL_LOG, "\n" + header + output)

    def drop_database(self) -> None:
        db = self.deploy.odoo.database
        if self.deploy.postgres.mode == "selfhost":
            args = self.compose.exec("db", "dropdb", "--force", "--if-exists", "-U", self.deploy.postgres.user,
                                     db)
            r = self.run(args, timeout=120)
        else:
            r = self.sql("postgres", f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE);\n')
        if not r.ok:
            raise StepFailed(f"could not drop database {db}: {r.stderr.strip()[:200]}")

    # --- start-app --------------------------------------------------------------------------------
    def step_start_app(self, step: Step) -> None:
        r = self.run(self.compose.up(*self.service_names()), timeout=300)
        if not r.ok:
            raise StepFailed(f"compose up: {r.stderr.strip()[-300:]}")

    # --- verify -----------------------------------------------------------------------------------
    def containers(self) -> list[G.ContainerInfo]:
        ps = self.run(self.compose.ps(), timeout=30)
        if not ps.ok:
            return []
        try:
            rows = parse_compose_ps(ps.stdout)
        except ValueError:
            return []
        names = {r.get("Name", ""): r.get("Service", "") for r in rows if r.get("Name")}
        if not names:
            return []
        ins = self.run(docker_inspect(*names), timeout=30)
        try:
            return parse_inspect(ins.stdout, names) if ins.stdout.strip() else []
        except ValueError:
            return []

    def probe_round(self, samples: list[tuple[float, list[G.ContainerInfo]]]
                    ) -> list[tuple[G.GateResult, G.HttpResult | None]]:
        d, t = self.deploy, self.deploy.gates.probe_timeout_seconds
        samples.append((self.clock.monotonic(), self.containers()))
        edge = {"connect_host": "127.0.0.1", "port": 443, "tls": True, "host_header": self.domain_host,
                "timeout": t}
        out: list[tuple[G.GateResult, G.HttpResult | None]] = []
        out.append((G.container_up(samples, tuple(self.service_names()), d.gates.soak_seconds), None))
        r = self.http.get("http://127.0.0.1:8069/web/health?db_server_status=1", connect_host="127.0.0.1",
                          port=8069, tls=False, host_header="127.0.0.1:8069", timeout=t)
        out.append((G.health_internal(r), r))
        r = self.http.get(f"{self.edge_base}/web/health", **edge)
        out.append((G.health_edge(r), r))
        r = self.http.get(f"{self.edge_base}/web/login", **edge)
        out.append((G.login_page(r), r))
        ws = f"{self.edge_base.replace('https://', 'wss://')}/websocket"
        r = self.http.websocket(ws, origin=self.edge_base, **edge)
        out.append((G.realtime_route(r), r))
        c = self.run(self.compose.pg_isready(d), timeout=20)
        out.append((G.db_reachable(c), None))
        rows, err = self.module_rows()
        out.append((G.module_state_ok(rows, d.odoo.modules, err), None))
        r = self.http.get(f"{self.edge_base}/web/login?db={d.odoo.database}", follow=3, **edge)
        out.append((G.registry_loaded(r), r))
        return out

    def step_verify(self, step: Step) -> None:
        st = self.state
        assert st is not None
        att = st.attempts[step.attempt or 0]
        timeout = self.deploy.gates.timeout_seconds
        t0 = self.clock.monotonic()
        samples: list[tuple[float, list[G.ContainerInfo]]] = []
        self.append_proof(HEALTHCHECK_LOG, f"# verify {att.tag} (attempt {step.attempt or 0}) "
                                           f"at {iso(self.clock.now())}\n")
        outcome, results = "retry", []
        for _ in range(10_000):  # bounded by the deadline well before this count
            results = self.probe_round(samples)
            when = iso(self.clock.now())
            for g, r in results:
                self.append_proof(HEALTHCHECK_LOG, healthcheck_line(when, g.name, r, g.detail, g.passed,
                                                                    g.latency_ms))
            outcome = G.round_outcome([g for g, _ in results], self.clock.monotonic() - t0, timeout)
            if outcome != "retry":
                break
            self.clock.sleep(VERIFY_POLL_SECONDS)
        att.gates = [{**g.to_dict(), "status_code": r.status if r else None} for g, r in results]
        att.containers = {c.service: {"state": c.state, "health": c.health, "restarts": c.restart_count,
                                      "uptime": c.started_at} for c in (samples[-1][1] if samples else [])}
        att.passed = outcome == "pass"
        if not att.passed:
            self.failing_responses = [(g, r) for g, r in results if not g.passed]
            failing = ", ".join(g.name for g, _ in results if not g.passed)
            raise StepFailed(f"gates failed: {failing}")

    failing_responses: list[tuple[G.GateResult, G.HttpResult | None]] = []

    # --- decide and rollback ----------------------------------------------------------------------
    def step_decide(self, step: Step) -> None:
        st = self.state
        assert st is not None
        i = step.attempt or 0
        dec = decide(st, i)
        log.info("decide: %s", dec.reason)
        if not st.attempts[i].passed:
            self.save_diagnostics(i)
        if dec.rollback_to:
            failing = [g["name"] for g in st.attempts[i].gates if not g.get("passed")]
            st.rollback = {"performed": True, "from_tag": st.attempts[i].tag, "to_tag": dec.rollback_to,
                           "source": st.prior_source, "reason": dec.reason, "failing_gates": failing,
                           "started": iso(self.clock.now())}
            st.attempts.append(Attempt(tag=dec.rollback_to))
            return
        st.status = dec.status
        if dec.status != "success":
            st.error_message = dec.reason
        if st.rollback:
            st.rollback["passed"] = dec.status == "rolled_back"
            st.rollback["ended"] = iso(self.clock.now())

    def save_diagnostics(self, i: int) -> None:
        prefix = f"diagnostics/attempt-{i}-"
        logs = self.run(self.compose.logs(200), timeout=60)
        self.write_proof(prefix + "compose-logs.txt", logs.stdout + logs.stderr)
        err = self.paths.nginx_error_log
        tail = "\n".join(err.read_text(errors="replace").splitlines()[-100:]) if err.exists() else ""
        self.write_proof(prefix + "nginx-error.log", tail + "\n")
        failing = [{"gate": g.name, "detail": g.detail,
                    **({"url": r.url, "status": r.status, "headers": r.headers, "body": r.body[:4096],
                        "error": r.error} if r else {})}
                   for g, r in self.failing_responses]
        self.write_proof(prefix + "failing-responses.json", json.dumps(failing, indent=2) + "\n")
        self.failing_responses = []

    def step_rollback(self, step: Step) -> None:
        st = self.state
        assert st is not None
        first = st.attempts[0]
        self.run(self.compose.stop("odoo"), timeout=120)
        self.run(self.compose.rm("odoo"), timeout=120)
        if first.fresh_db:
            # A fresh install that failed: its database is half-made by a tag we no longer trust.
            # The failure may be the database itself (stopped or crashed during verify): bring the data
            # services back and wait for them first, or dropdb fails and the rollback never starts.
            data = self.service_names(data_only=True)
            if data:
                self.run(self.compose.up(*data), timeout=300)
            self.wait_data_ready()
            self.drop_database()
            st.rollback["database"] = "dropped and re-created by the prior tag's install (fresh install)"
        elif first.fresh_db is None:
            st.rollback["database"] = "untouched (the failed attempt never reached its install)"
        else:
            st.rollback["database"] = "kept (it existed before this deploy)"

    # --- publish, cutover, finalize ---------------------------------------------------------------
    def write_deploy_status(self) -> dict[str, Any]:
        assert self.state is not None
        doc = build_deploy_status(self.state, self.deploy, self.clock.now(), edge_base=self.edge_base,
                                  proof_dir=str(self.proof_dir))
        self.write_proof(DEPLOY_STATUS, json.dumps(doc, indent=2) + "\n")
        return doc

    def step_publish(self, step: Step) -> None:
        st = self.state
        assert st is not None
        if st.status is None:
            st.status = "failed"
        for name in (HEALTHCHECK_LOG, MODULE_INSTALL_LOG):
            if not (self.proof_dir / name).exists():
                self.write_proof(name, "" if name == HEALTHCHECK_LOG else "# install did not run\n")
        self.write_deploy_status()
        self.save()
        self.upload_proofs()

    def upload_proofs(self) -> tuple[list[str], list[str]]:
        st = self.state
        assert st is not None
        if self.spaces_factory() is None:
            st.cutover.setdefault("proofs", "kept on the droplet only (no Spaces configured)")
            return [], []
        outbox = Outbox(self.paths.outbox)
        for path in sorted(self.proof_dir.rglob("*")):
            if path.is_file():
                outbox.add_file(f"proofs/{st.deploy_id}/{path.relative_to(self.proof_dir)}", path)
        return self.drain_outbox()

    def drain_outbox(self) -> tuple[list[str], list[str]]:
        sp = self.spaces_factory()
        if sp is None:
            return [], []
        done, errors = Outbox(self.paths.outbox).drain(sp)
        if errors:
            log.warning("Spaces: %d uploads wait in the outbox for odoo-droplet-publish.timer: %s",
                        len(errors), errors[0])
        return done, errors

    def step_cutover(self, step: Step) -> None:
        st = self.state
        assert st is not None
        rec: dict[str, Any] = {"reserved_ip": None, "assigned": False, "dns": None, "reason": ""}
        wants_dns = self.deploy.dns is not None
        if not st.user_data or st.status not in ("success", "rolled_back"):
            plan = plan_cutover(status=st.status, user_data=st.user_data, reserved_ip=None, holder=None,
                                droplet_id=None, dns_wanted=wants_dns)
            rec["reason"] = plan.reason
            st.cutover = {**st.cutover, **rec}
            return
        if self.deploy.reserved_ip.mode == "none" and not wants_dns:
            # Nothing to move: no need to ask the metadata service or the API anything.
            rec["reason"] = "no reserved IP and no DNS record configured: nothing to cut over"
            if st.status == "success":
                self.record_last_good(None, None)
                rec["last_good"] = LAST_GOOD_KEY if self.spaces_factory() else None
            st.cutover = {**st.cutover, **rec}
            return
        try:
            droplet_id = self.metadata().droplet_id()
            rec["droplet_id"] = droplet_id
            ip = self.reserved_ip_address()
            rec["reserved_ip"] = ip
            api = self.doapi_factory()
            holder = api.holder(ip) if ip else None
            rec["holder_before"] = holder
            plan = plan_cutover(status=st.status, user_data=True, reserved_ip=ip, holder=holder,
                                droplet_id=droplet_id, dns_wanted=wants_dns)
            rec["reason"] = plan.reason
            if plan.assign_ip and ip:
                res = api.assign_reserved_ip(ip, droplet_id)
                rec.update(assigned=True, assign_posts=res.posts, action_id=res.action_id, assign_log=res.log)
                if not str(st.security.get("certificate", "")).startswith("letsencrypt"):
                    self.ensure_certificate("cutover")
            elif ip and holder == droplet_id:
                rec["assigned"] = True
            if plan.set_dns and self.deploy.dns:
                target = ip if (ip and rec["assigned"]) else self.metadata().public_ipv4()
                rec["dns"] = api.upsert_a_record(self.deploy.dns.domain, self.deploy.dns.record, target,
                                                 self.deploy.dns.ttl)
            if rec["assigned"] or (st.status == "success" and not ip):
                self.record_last_good(droplet_id, ip)
                rec["last_good"] = LAST_GOOD_KEY
        except (DoApiError, MetadataError, SpacesError, TimeoutError, RuntimeError, OSError) as e:
            rec["error"] = self.redact(str(e))[:500]
            rec["reason"] = (rec["reason"] + "; " if rec["reason"] else "") + f"cutover error: {rec['error']}"
            log.error("cutover: %s", rec["error"])
        st.cutover = {**st.cutover, **rec}

    def reserved_ip_address(self) -> str | None:
        spec = self.deploy.reserved_ip
        if spec.mode == "none":
            return None
        if spec.address:
            return spec.address
        # mode auto: the builder created it and recorded it in Spaces (state/reserved_ip.json).
        sp = self.spaces_factory()
        data = sp.get_json("state/reserved_ip.json") if sp else None
        return (data or {}).get("ip") or (data or {}).get("reserved_ip")

    def record_last_good(self, droplet_id: int | None, ip: str | None) -> None:
        st = self.state
        assert st is not None
        att = st.attempts[-1]
        doc = {"tag": att.tag, "image": self.image_ref(att.tag), "digest": st.images.get(self.image_ref(att.tag)),
               "deploy_id": st.deploy_id, "droplet_id": droplet_id, "reserved_ip": ip,
               "status": st.status, "at": iso(self.clock.now()), "git_sha": self.deploy.build.git_sha,
               "ship_version": self.deploy.ship_version}
        if self.spaces_factory() is None:
            return
        Outbox(self.paths.outbox).add_content(LAST_GOOD_KEY, json.dumps(doc, indent=2) + "\n")
        self.drain_outbox()

    def step_finalize(self, step: Step) -> None:
        self.write_deploy_status()

    live_failures = 0

    def upload_live_status(self) -> None:
        """status.json to Spaces for the operator's live view: one quick try, no outbox (the final one
        goes through the outbox); after two failures in a row this run stops trying."""
        if self.live_failures >= 2 or self.state is None:
            return
        sp = self.spaces_factory()
        if sp is None:
            return
        sp.attempts, sp.timeout = 1, 5.0
        path = self.proof_dir / STATUS
        try:
            sp.put(f"proofs/{self.state.deploy_id}/{STATUS}", path.read_bytes(), "application/json")
            self.live_failures = 0
        except (SpacesError, OSError) as e:
            self.live_failures += 1
            log.warning("live status upload failed: %s", e)


# --- the shell: real adapters, logging, CLI ----------------------------------------------------------

class RedactingFilter(logging.Filter):
    def __init__(self, secrets: Secrets) -> None:
        super().__init__()
        self.secrets = secrets

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self.secrets.redact(record.getMessage())
        record.args = ()
        return True


def setup_logging(paths: Paths, secrets: Secrets | None) -> None:
    root = logging.getLogger("odoo-droplet")
    root.setLevel(logging.INFO)
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(message)s")
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]  # the journal, under systemd
    try:
        paths.log_dir.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(paths.log_file))
    except OSError:
        pass
    for h in handlers:
        h.setFormatter(fmt)
        if secrets:
            h.addFilter(RedactingFilter(secrets))
        root.addHandler(h)


def acquire_lock(paths: Paths, wait: bool) -> int | None:
    """One agent at a time (the unit, a manual `run`, the publish timer): an flock held for the process's
    life; the kernel drops it when the process dies, so a crash never leaves it stale."""
    import fcntl

    paths.var.mkdir(parents=True, exist_ok=True)
    fd = os.open(paths.var / "agent.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def build_agent(paths: Paths, inputs: Inputs, metadata_url: str | None = None) -> Agent:
    from firstboot import host

    md_url = metadata_url or os.environ.get("ODL_METADATA_URL") or "http://169.254.169.254/metadata/v1"
    return Agent(paths, inputs, run_command, LoopbackHttp(), SystemClock(), resources=host.resources,
                 free_disk_gb=host.disk_free_gb, metadata=lambda: Metadata(md_url))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python3 -m firstboot.agent", description=__doc__.splitlines()[0])
    ap.add_argument("command", choices=("run", "resume", "status", "publish"),
                    help="run: start or continue the deploy; resume: continue one that was interrupted; "
                         "status: print status.json; publish: upload what waits in the outbox")
    ap.add_argument("--root", default=os.environ.get("ODL_ROOT", "/"), help="file-system root (tests)")
    args = ap.parse_args(argv)
    paths = Paths(Path(args.root))

    if args.command == "status":
        st = load_state(paths.state_json)
        if st is None:
            print(json.dumps({"status": None, "message": "the agent has not run yet"}))
            return 1
        path = paths.proof_dir(st.deploy_id) / STATUS
        print(path.read_text() if path.exists() else json.dumps(build_status(st, SystemClock().now())))
        return 0

    if args.command == "publish" and not paths.secrets_env.exists():
        return 0  # no user-data: no Spaces, proofs stay on the droplet; never generate credentials here
    lock = acquire_lock(paths, wait=args.command != "publish")
    if lock is None:
        if args.command == "publish":
            return 0  # the agent is running and drains the outbox itself
        print("another agent holds", paths.var / "agent.lock", file=sys.stderr)
        return 1
    inputs = load_inputs(paths)
    setup_logging(paths, inputs.secrets)
    agent = build_agent(paths, inputs)

    if args.command == "publish":
        if agent.spaces_factory() is None:
            return 0
        done, errors = agent.drain_outbox()
        log.info("publish: %d uploaded, %d waiting", len(done), len(errors))
        return 0 if not errors else 75  # EX_TEMPFAIL: the timer tries again

    if args.command == "resume" and load_state(paths.state_json) is None:
        print("nothing to resume: no state at", paths.state_json, file=sys.stderr)
        return 1
    st = agent.run_all()
    log.info("deploy %s: %s", st.deploy_id, st.status)
    # The unit succeeds when the agent finished its work, whatever the verdict: a rolled-back or failed
    # deploy is a recorded outcome, not a crash to restart.
    return 0


if __name__ == "__main__":
    sys.exit(main())
