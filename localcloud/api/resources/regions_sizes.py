"""Regions and sizes: /v2/regions, /v2/sizes (fixed lists)."""

from __future__ import annotations

from firstboot.sizes import SIZES
from localcloud.api import shapes
from localcloud.api.cloud import Cloud
from localcloud.api.request import Reply, Request
from localcloud.api.router import Route


def regions_list(cloud: Cloud, req: Request) -> Reply:
    return cloud.listing(req, "regions", [shapes.region_json(s) for s in shapes.REGIONS])


def sizes_list(cloud: Cloud, req: Request) -> Reply:
    return cloud.listing(req, "sizes", [shapes.size_json(s) for s in SIZES.values()])


ROUTES = [
    Route("GET", r"/v2/regions", regions_list),
    Route("GET", r"/v2/sizes", sizes_list),
]
