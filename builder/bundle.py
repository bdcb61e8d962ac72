"""Everything `odoo-droplet render` shows for review, as {relative path: content}. Pure."""

from __future__ import annotations

from builder.packer import render_packer
from builder.userdata import render_user_data
from firstboot.config import Deploy, Resources, Secrets
from firstboot.contract.layout import server_name, tls_paths
from firstboot.render.compose import (
    DB_INIT_DIR,
    DB_INIT_SCRIPT,
    render_compose,
    render_compose_env,
    render_db_init_script,
)
from firstboot.render.nginx import render_nginx_site
from firstboot.render.odoo_conf import render_odoo_conf
from firstboot.sizes import SIZES
from firstboot.workers import plan_workers


def snapshot_name(deploy: Deploy) -> str:
    return f"{deploy.project}-{deploy.ship_version}-{deploy.build.git_sha[:12]}"


def render_bundle(deploy: Deploy, secrets: Secrets, packer_version: tuple[int, int, int]) -> dict[str, str]:
    """The files a deploy of `deploy` would use, with every secret shown as <redacted>."""
    shown = secrets.redacted()
    size = SIZES[deploy.droplet.size]
    plan = plan_workers(Resources(size.vcpus, size.memory_mb, size.disk_gb), deploy.odoo.workers)
    cert, key = tls_paths(deploy)
    files = {
        "user-data.yaml": render_user_data(deploy, shown),
        "droplet/docker-compose.yml": render_compose(deploy, deploy.image_ref()),
        "droplet/odoo.env": render_compose_env(deploy, shown),
        "droplet/odoo.conf": render_odoo_conf(deploy, shown, plan),
        "droplet/nginx-site.conf": render_nginx_site(deploy, server_name(deploy), cert, key),
    }
    if deploy.postgres.mode == "selfhost":
        files[f"droplet/{DB_INIT_DIR}/{DB_INIT_SCRIPT}"] = render_db_init_script(deploy)
    packer = render_packer(deploy, packer_version, snapshot_name(deploy), api_url=deploy.endpoints.api_url)
    files.update({f"packer/{path}": content for path, content in packer.items()})
    # Belt and braces: the renderers redact, and nothing may slip through another way.
    for path, content in files.items():
        for value in secrets.values():
            if value and value in content:
                raise AssertionError(f"a secret value reached {path}")
    return files
