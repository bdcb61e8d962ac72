"""The local cloud's DigitalOcean API v2 subset (HTTPS). `ApiServer(home, backend, host, port).start()`."""

from localcloud.api.cloud import ApiError, Cloud, Request
from localcloud.api.server import ApiServer

__all__ = ["ApiError", "ApiServer", "Cloud", "Request"]
