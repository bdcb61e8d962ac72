"""Installing the nginx site so that a refused site leaves nginx exactly as it was."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class NginxBefore:
    """What was there before the new site is written."""

    previous_site: str | None  # the site's old text, None when there was none
    enabled_present: bool  # sites-enabled/odoo.conf exists (link or file)
    default_present: bool  # Debian's default site is enabled
    default_target: str | None  # where its link pointed


@dataclass(frozen=True)
class NginxRestore:
    """Undo, after `nginx -t` refused the new site: no reload follows."""

    site_text: str | None  # write the old text back; None: remove the site and its link
    default_target: str | None  # re-link Debian's default site to this


@dataclass(frozen=True)
class NginxPlan:
    link_enabled: bool
    remove_default: bool  # Debian's default site also claims port 80 as default_server
    restore: NginxRestore


def plan_nginx(before: NginxBefore) -> NginxPlan:
    return NginxPlan(
        link_enabled=not before.enabled_present,
        remove_default=before.default_present,
        restore=NginxRestore(before.previous_site, before.default_target),
    )
