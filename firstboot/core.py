"""The world the agent acts on: where things are (the contract's layout), what it was asked to do (the
inputs), and every side effect injected — a command runner, an HTTP prober, a clock, factories for the
metadata service, the DO API and Spaces, the renderers. The unit tests replace the side effects with
fakes and drive the whole sequence in-process; firstboot/cli.py wires the real ones.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from firstboot.backups import Processes, SubprocessProcesses
from firstboot.clock import Clock
from firstboot.config import Deploy, Resources
from firstboot.contract.layout import Layout
from firstboot.doapi import DoApi, NoApiToken
from firstboot.gates import CommandResult
from firstboot.inputs import Inputs
from firstboot.metadata import Metadata
from firstboot.probes import Compose, Http, Runner
from firstboot.spaces import Spaces

if TYPE_CHECKING:
    from firstboot.state import State
    from firstboot.steps import StepFn

log = logging.getLogger("odoo-droplet")


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


class Agent:
    def __init__(
        self,
        layout: Layout,
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
        steps: Mapping[str, StepFn] | None = None,
        procs: Processes | None = None,
    ) -> None:
        self.layout = layout
        self.inputs = inputs
        self.deploy = inputs.deploy
        self.secrets = inputs.secrets
        self.runner = runner
        self.http = http
        self.clock = clock
        self.resources = resources
        self.free_disk_gb = free_disk_gb
        self.metadata = metadata or Metadata
        self.doapi_factory = doapi or self._default_doapi
        self.spaces_factory = spaces or self._default_spaces
        self.renderers = renderers or Renderers.default()
        self.chown = chown or (lambda p, uid: os.chown(p, uid, 0))
        self.steps = steps  # None: firstboot/steps/ STEPS
        # Runs the backups' and restores' Commands (pipelines, files as stdin/stdout); tests replace it.
        self.procs: Processes = procs or SubprocessProcesses()
        self.compose = Compose(layout.stack_dir / "docker-compose.yml", self.renderers.project_name(self.deploy))

    # --- adapters built from settings ---------------------------------------------------------------
    def _default_doapi(self) -> DoApi:
        if not self.secrets.do_token:
            raise NoApiToken("no DIGITALOCEAN_TOKEN in secrets.env")
        return DoApi(self.deploy.endpoints.api_url, self.secrets.do_token, sleep=self.clock.sleep,
                     monotonic=self.clock.monotonic)

    def _default_spaces(self) -> Spaces | None:
        sp = self.deploy.spaces
        if not (sp and self.secrets.spaces_key and self.secrets.spaces_secret):
            return None
        return Spaces(self.deploy.endpoints.spaces_url(sp.region), sp.region, sp.bucket,
                      self.secrets.spaces_key, self.secrets.spaces_secret, sleep=self.clock.sleep,
                      now=self.clock.now)

    # --- helpers ------------------------------------------------------------------------------------
    def run(self, args: tuple[str, ...], timeout: float = 60, stdin: str | None = None) -> CommandResult:
        res = self.runner(args, timeout=timeout, stdin=stdin)
        level = logging.DEBUG if res.ok else logging.INFO
        log.log(level, "%s -> %s", self.redact(" ".join(args))[:300], res.returncode)
        return res

    def redact(self, text: str) -> str:
        return self.secrets.redact(text)

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

    # --- entry points -------------------------------------------------------------------------------
    def run_all(self, max_steps: int = 64) -> State:
        """Load the state (or begin a new deploy) and run every step not yet done."""
        from firstboot.runner import StepRunner

        return StepRunner.start(self).run_all(max_steps)

    def drain_outbox(self) -> tuple[list[str], list[str]]:
        """Upload what waits in the outbox (the publish timer); needs no state."""
        from firstboot.publishing import drain_outbox

        return drain_outbox(self)
