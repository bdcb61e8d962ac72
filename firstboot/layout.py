"""Where things live on a droplet. One place, so the agent, the Packer scripts and the previews agree."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from firstboot.config import Deploy


@dataclass(frozen=True)
class Layout:
    root: Path = Path("/")

    def _p(self, path: str) -> Path:
        return self.root / path.lstrip("/")

    @property
    def install_dir(self) -> Path:  # the firstboot package (PYTHONPATH)
        return self._p("/opt/odoo-droplet")

    @property
    def etc(self) -> Path:
        return self._p("/etc/odoo-droplet")

    @property
    def deploy_json(self) -> Path:  # Deploy.to_dict(), 0600, from user-data (or baked)
        return self.etc / "deploy.json"

    @property
    def secrets_env(self) -> Path:  # Secrets.to_env(), 0600 root
        return self.etc / "secrets.env"

    @property
    def baked_json(self) -> Path:  # what the snapshot carries: tags pre-loaded, build info
        return self.etc / "baked.json"

    @property
    def stack_dir(self) -> Path:  # docker-compose.yml, odoo.conf, odoo.env
        return self.etc / "stack"

    @property
    def tls_dir(self) -> Path:
        return self.etc / "tls"

    @property
    def nginx_site(self) -> Path:
        return self._p("/etc/nginx/sites-available/odoo.conf")

    @property
    def nginx_site_enabled(self) -> Path:
        return self._p("/etc/nginx/sites-enabled/odoo.conf")

    @property
    def acme_webroot(self) -> Path:
        return self._p("/var/www/letsencrypt")

    @property
    def var(self) -> Path:
        return self._p("/var/lib/odoo-droplet")

    @property
    def state_json(self) -> Path:
        return self.var / "state.json"

    @property
    def proofs_dir(self) -> Path:
        return self.var / "proofs"

    @property
    def credentials(self) -> Path:  # generated passwords when there was no user-data, 0600
        return self._p("/root/odoo-droplet-credentials")


def tls_paths(deploy: Deploy, layout: Layout = Layout()) -> tuple[str, str]:
    """(certificate chain, private key) nginx serves for this deploy."""
    if deploy.edge.tls == "letsencrypt" and deploy.edge.domain:
        live = Path("/etc/letsencrypt/live") / deploy.edge.domain
        return str(live / "fullchain.pem"), str(live / "privkey.pem")
    return str(layout.tls_dir / "selfsigned.crt"), str(layout.tls_dir / "selfsigned.key")


def server_name(deploy: Deploy) -> str:
    """nginx server_name: the public domain, or `_` (any) for a droplet reached by its IP."""
    return deploy.edge.domain or "_"
