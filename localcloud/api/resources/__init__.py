"""The API's resources, one module each, every module owning its handlers and its `ROUTES`.

A new resource: a module here with handlers `(cloud: Cloud, req: Request) -> Reply` and a `ROUTES` list,
then one entry in `ROUTER` below.
"""

from __future__ import annotations

from localcloud.api.resources import (
    account_keys,
    actions,
    domains,
    droplet_actions,
    droplets,
    images,
    regions_sizes,
    reserved_ips,
    tags,
)
from localcloud.api.router import Router

ROUTER = Router.of(
    m.ROUTES
    for m in (account_keys, regions_sizes, droplets, droplet_actions, actions, images, reserved_ips, domains, tags)
)
