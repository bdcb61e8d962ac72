"""Every action of the account: /v2/actions."""

from __future__ import annotations

from localcloud.api import shapes
from localcloud.api.cloud import Cloud, reads
from localcloud.api.request import Reply, Request, not_found
from localcloud.api.router import ACTION_ID, Route


@reads
def actions_list(cloud: Cloud, req: Request) -> Reply:
    acts = sorted(cloud.state.coll("actions").values(), key=lambda a: -a["id"])
    return cloud.listing(req, "actions", [shapes.action_json(a) for a in acts])


@reads
def actions_get(cloud: Cloud, req: Request) -> Reply:
    a = cloud.state.coll("actions").get(req.params["action_id"])
    if a is None:
        raise not_found()
    return 200, {"action": shapes.action_json(a)}


ROUTES = [
    Route("GET", r"/v2/actions", actions_list),
    Route("GET", r"/v2/actions/" + ACTION_ID, actions_get),
]
