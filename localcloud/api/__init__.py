"""The local cloud's DigitalOcean API v2 subset (HTTPS). `ApiServer(home, backend, host, port).start()`.

server.py serves HTTPS and routes through router.py to the handlers in resources/ (one module per resource);
cloud.py holds what they share (state, backend, actions); shapes.py renders DigitalOcean's JSON shapes.
"""

from localcloud.api.cloud import Cloud
from localcloud.api.request import ApiError, Request
from localcloud.api.server import ApiServer

__all__ = ["ApiError", "ApiServer", "Cloud", "Request"]
