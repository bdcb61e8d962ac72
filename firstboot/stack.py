"""Which services the compose stack runs for a deploy (the renderers decide the same from Deploy)."""

from __future__ import annotations

from firstboot.config import Deploy


def data_services(deploy: Deploy) -> tuple[str, ...]:
    """PostgreSQL when self-hosted (a managed one runs elsewhere), Redis when enabled."""
    out: list[str] = []
    if deploy.postgres.mode == "selfhost":
        out.append("db")
    if deploy.redis.enabled:
        out.append("redis")
    return tuple(out)


def all_services(deploy: Deploy) -> tuple[str, ...]:
    return ("odoo", *data_services(deploy))


def data_images(deploy: Deploy) -> tuple[str, ...]:
    """The images of the data services (the odoo image comes per tag)."""
    out: list[str] = []
    if deploy.postgres.mode == "selfhost":
        out.append(deploy.postgres.image)
    if deploy.redis.enabled:
        out.append(deploy.redis.image)
    return tuple(out)
