"""The nginx site: rendered, tested with `nginx -t`, reloaded; a refused site leaves nginx as it was
(firstboot/plans/nginx.py decides what to put back)."""

from __future__ import annotations

import os

from firstboot.config import Deploy
from firstboot.contract.layout import self_signed_paths, server_name, tls_paths
from firstboot.core import Agent
from firstboot.errors import StepFailed
from firstboot.plans.nginx import NginxBefore, NginxRestore, plan_nginx
from firstboot.state import atomic_write


def tls_files(agent: Agent) -> tuple[str, str]:
    """The Let's Encrypt certificate once it exists, the self-signed one until then."""
    edge, layout = agent.deploy.edge, agent.layout
    if edge.tls == "letsencrypt" and edge.domain and (layout.letsencrypt_live / edge.domain / "fullchain.pem").exists():
        return tls_paths(agent.deploy, layout)
    return self_signed_paths(layout)


def configure_nginx(agent: Agent, deploy: Deploy) -> None:
    layout = agent.layout
    crt, key = tls_files(agent)
    site = agent.renderers.nginx_site(deploy, server_name=server_name(agent.deploy), cert_path=crt, key_path=key,
                                      acme_webroot=str(layout.acme_webroot))
    layout.acme_webroot.mkdir(parents=True, exist_ok=True)
    avail, enabled, default = layout.nginx_site, layout.nginx_site_enabled, layout.nginx_default_enabled
    before = NginxBefore(
        previous_site=avail.read_text() if avail.exists() else None,
        enabled_present=enabled.is_symlink() or enabled.exists(),
        default_present=default.is_symlink() or default.exists(),
        default_target=os.readlink(default) if default.is_symlink() else None,
    )
    plan = plan_nginx(before)
    atomic_write(avail, site, 0o644)
    enabled.parent.mkdir(parents=True, exist_ok=True)
    if plan.link_enabled:
        enabled.symlink_to(avail)
    if plan.remove_default:
        default.unlink()
    t = agent.run(("nginx", "-t"), timeout=30)
    if not t.ok:
        restore_nginx(agent, plan.restore)
        raise StepFailed(f"nginx -t refused the site: {t.stderr.strip()[-300:]}")
    r = agent.run(("systemctl", "reload-or-restart", "nginx"), timeout=60)
    if not r.ok:
        raise StepFailed(f"nginx reload failed: {r.stderr.strip()[:300]}")


def restore_nginx(agent: Agent, restore: NginxRestore) -> None:
    """Leave nginx as it was: the old site back (or none), Debian's default re-linked, and no reload."""
    layout = agent.layout
    if restore.site_text is not None:
        atomic_write(layout.nginx_site, restore.site_text, 0o644)
    else:
        layout.nginx_site.unlink(missing_ok=True)
        layout.nginx_site_enabled.unlink(missing_ok=True)
    if restore.default_target:
        layout.nginx_default_enabled.symlink_to(restore.default_target)
