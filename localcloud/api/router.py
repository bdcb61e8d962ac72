"""Which handler answers a request: each resource module (localcloud/api/resources/) lists its `ROUTES`;
`Router` matches a method and path against all of them. A new resource adds a module and one line in
localcloud/api/resources/__init__.py."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from localcloud.api.cloud import Handler

# Path parameter patterns shared by several resources.
ID = r"(?P<{}>\d+)"
DROPLET_ID = ID.format("droplet_id")
ACTION_ID = ID.format("action_id")


@dataclass(frozen=True)
class Route:
    method: str
    pattern: str  # a regex over the path; named groups become `Request.params`
    handler: Handler
    regex: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # A trailing slash is accepted, as DigitalOcean does.
        object.__setattr__(self, "regex", re.compile(self.pattern.rstrip("/") + "/?$"))


Found = tuple[Handler | None, dict[str, str]]


@dataclass(frozen=True)
class Router:
    routes: tuple[Route, ...]

    @classmethod
    def of(cls, route_lists: Iterable[Iterable[Route]]) -> Router:
        return cls(tuple(r for routes in route_lists for r in routes))

    def route(self, method: str, path: str) -> Found | None:
        """The handler for a request, with its path parameters; (None, {}) when only the method is wrong,
        None when no resource has the path."""
        path_matched = False
        for r in self.routes:
            match = r.regex.match(path)
            if match:
                if r.method == method:
                    return r.handler, match.groupdict()
                path_matched = True
        return (None, {}) if path_matched else None

