"""What a handler of the local DO API receives and how it fails: `Request`, the `Reply` it returns, and
`ApiError` for DigitalOcean-shaped errors (the server renders them as `{"id", "message", "request_id"}`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

Reply = tuple[int, Any]  # (HTTP status, JSON body or None)


class ApiError(Exception):
    def __init__(self, status: int, error_id: str, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.error_id = error_id
        self.message = message
        self.headers = headers or {}


def not_found() -> ApiError:
    return ApiError(404, "not_found", "The resource you were accessing could not be found.")


def unprocessable(message: str) -> ApiError:
    return ApiError(422, "unprocessable_entity", message)


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    body: Any
    base_url: str
    params: dict[str, str] = field(default_factory=dict)

    def page(self) -> tuple[int, int]:
        try:
            page = int(self.query.get("page", "1"))
            per_page = int(self.query.get("per_page", "20"))
        except ValueError:
            raise ApiError(400, "bad_request", "page and per_page must be integers") from None
        if page < 1 or not 1 <= per_page <= 200:
            raise ApiError(400, "bad_request", "page must be >= 1 and per_page between 1 and 200")
        return page, per_page

    def obj(self) -> dict[str, Any]:
        if not isinstance(self.body, dict):
            raise ApiError(400, "bad_request", "The request body must be a JSON object.")
        return self.body
