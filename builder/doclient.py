"""The DigitalOcean API through pydo, with retries we control and errors that say what to do.

pydo's default retry policy re-sends a POST on 429/500/503/504, which can create a droplet twice; the
client is built with retries off, and `Cloud.call` retries only what is safe: reads and deletes. A POST
that fails is followed by a look (list by tag) before it is tried again — see builder/deploy.py.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import pydo
from azure.core.exceptions import HttpResponseError, ServiceRequestError, ServiceResponseError

from builder.errors import EXIT_BAD_INPUT, EXIT_FAILED, JsonDict, OperatorError

DEFAULT_API_URL = "https://api.digitalocean.com"
MAX_ATTEMPTS = 6
MAX_WAIT_SECONDS = 120

HINTS = {
    401: "the API refused the token: check DIGITALOCEAN_TOKEN (for the local cloud: eval \"$(odoo-droplet local env)\")",
    403: "the token lacks a scope this call needs: create a token with custom scopes (droplet, image, "
    "reserved_ip, domain, ssh_key read; droplet create/delete; reserved_ip and domain update)",
    404: "not found",
    422: "DigitalOcean refused the request",
    429: "rate limited (250 requests/minute, 5,000/hour per token)",
}


# Statuses that mean "fix your input or account and run again" (exit 2); others (429 after retries, 5xx,
# unreachable) are failures of the moment (exit 1).
BAD_INPUT_STATUSES = (401, 403, 404, 422)


class ApiError(OperatorError):
    """An answer (or no answer) from the API that the operator can act on: what was asked, what it said, the
    HTTP status and a hint, all in one line."""

    def __init__(self, status: int | None, what: str, message: str, hint: str = ""):
        self.status, self.what, self.api_message = status, what, message
        hint = hint or HINTS.get(status or 0, "")
        text = f"{what}: {message}" if message else what
        super().__init__(f"{text} ({status}; {hint})" if status else f"{text} ({hint})", hint)
        self.exit_code = EXIT_BAD_INPUT if status in BAD_INPUT_STATUSES else EXIT_FAILED

    def text(self) -> str:
        return self.message  # the hint is inside the message, in brackets

    def as_json(self) -> JsonDict:
        return {"ok": False, "error": self.message, "api_status": self.status}


@dataclass(frozen=True)
class ApiTarget:
    url: str
    token: str
    ca_file: str | None

    @classmethod
    def from_env(cls, env: dict[str, str]) -> ApiTarget:
        url = (env.get("DIGITALOCEAN_API_URL") or DEFAULT_API_URL).rstrip("/")
        return cls(url, env.get("DIGITALOCEAN_TOKEN", ""), env.get("SSL_CERT_FILE") or env.get("REQUESTS_CA_BUNDLE"))


def make_client(target: ApiTarget) -> pydo.Client:
    kwargs: dict[str, Any] = {"endpoint": target.url, "retry_total": 0, "timeout": 60}
    if target.ca_file:
        # requests (under azure-core) reads its CA bundle from here, not from SSL_CERT_FILE.
        os.environ.setdefault("REQUESTS_CA_BUNDLE", target.ca_file)
        kwargs["connection_verify"] = target.ca_file
    return pydo.Client(token=target.token, **kwargs)


def _retry_after(err: HttpResponseError) -> float:
    headers = getattr(err.response, "headers", {}) or {}
    value = headers.get("retry-after") or headers.get("Retry-After")
    try:
        return min(float(value), MAX_WAIT_SECONDS) if value is not None else 5.0
    except ValueError:
        return 5.0


def _message(err: HttpResponseError) -> str:
    # azure-core types the response without json(); the requests-based one pydo uses has it.
    read_json = getattr(err.response, "json", None)
    try:
        body = read_json() if read_json is not None else {}
        return str(body.get("message") or body.get("id") or "")
    except Exception:  # noqa: BLE001 - a body that is not JSON just has no message
        return ""


# pydo does not raise for every error status: for most reads and deletes (404), and for some actions (422), it
# returns DigitalOcean's error body {"id", "message", "request_id"} as if it were the answer. These ids say which.
ERROR_IDS = {"bad_request": 400, "unauthorized": 401, "forbidden": 403, "not_found": 404, "conflict": 409,
             "unprocessable_entity": 422, "too_many_requests": 429, "server_error": 500}


def error_body_status(body: Any) -> int | None:
    """The HTTP status an error body returned by pydo stands for; None for a real answer."""
    if isinstance(body, dict) and "message" in body and set(body) <= {"id", "message", "request_id"}:
        return ERROR_IDS.get(str(body.get("id")), 400)
    return None


class Cloud:
    """pydo plus our retry rules. `say` receives what the operator should see (waits, retries)."""

    def __init__(self, client: pydo.Client, say: Callable[[str], None] = print, sleep: Callable[[float], None] = time.sleep):
        self.client, self.say, self.sleep = client, say, sleep

    def call(self, what: str, fn: Callable[..., Any], *args: Any, safe_to_repeat: bool = True, **kwargs: Any) -> Any:
        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                result = fn(*args, **kwargs)
            except HttpResponseError as err:
                status = err.status_code
                if status == 429 and attempt < MAX_ATTEMPTS:
                    wait = _retry_after(err)
                    self.say(f"  DigitalOcean API rate limit on {what}: waiting {wait:.0f} s (retry-after), then retrying")
                    self.sleep(wait)
                    continue
                if status in (500, 502, 503, 504) and safe_to_repeat and attempt < MAX_ATTEMPTS:
                    self.say(f"  DigitalOcean API answered {status} on {what}; retrying ({attempt}/{MAX_ATTEMPTS})")
                    self.sleep(min(2**attempt, 30))
                    continue
                raise ApiError(status, what, _message(err)) from None
            except (ServiceRequestError, ServiceResponseError) as err:
                # Unreachable is rarely fixed by waiting long: three tries, then say what to check.
                if safe_to_repeat and attempt < 3:
                    self.say(f"  cannot reach the DigitalOcean API for {what} ({type(err).__name__}); retrying")
                    self.sleep(2 * attempt)
                    continue
                raise ApiError(None, what, str(err).splitlines()[0], "check DIGITALOCEAN_API_URL and the network") from None
            status = error_body_status(result)
            if status is not None:
                raise ApiError(status, what, str(result.get("message") or result.get("id")))
            return result
        raise ApiError(None, what, "gave up after retries")

    # Reads and deletes (safe to repeat).
    def paged(self, what: str, fn: Callable[..., Mapping[str, Any]], key: str, **kwargs: Any) -> list[dict]:
        items: list[dict] = []
        for page in range(1, 101):  # bounded: 100 pages x 200 items
            body = self.call(what, fn, page=page, per_page=200, **kwargs)
            items += body.get(key, [])
            if not (body.get("links") or {}).get("pages", {}).get("next"):
                break
        return items

    def snapshots(self) -> list[dict]:
        return self.paged("list snapshots", self.client.images.list, "images", private=True)

    def droplets(self, tag: str | None = None) -> list[dict]:
        kwargs = {"tag_name": tag} if tag else {}
        return self.paged("list droplets", self.client.droplets.list, "droplets", **kwargs)

    def droplet(self, droplet_id: int) -> dict:
        return self.call(f"droplet {droplet_id}", self.client.droplets.get, droplet_id)["droplet"]

    def reserved_ip(self, ip: str) -> dict:
        return self.call(f"reserved IP {ip}", self.client.reserved_ips.get, ip)["reserved_ip"]

    def reserved_ips(self) -> list[dict]:
        return self.paged("list reserved IPs", self.client.reserved_ips.list, "reserved_ips")

    def delete_droplet(self, droplet_id: int) -> None:
        self.call(f"delete droplet {droplet_id}", self.client.droplets.destroy, droplet_id)

    def delete_image(self, image_id: int) -> None:
        self.call(f"delete snapshot {image_id}", self.client.images.delete, image_id)

    def tag_image(self, tag: str, image_id: int) -> None:
        """Tags are idempotent on DigitalOcean: creating an existing tag or re-tagging is harmless."""
        self.call(f"create tag {tag}", self.client.tags.create, body={"name": tag})
        self.call(f"tag snapshot {image_id}", self.client.tags.assign_resources, tag,
                  body={"resources": [{"resource_id": str(image_id), "resource_type": "image"}]})

    # Writes that must not be repeated blindly.
    def create_droplet(self, body: dict) -> dict:
        return self.call("create droplet", self.client.droplets.create, body=body, safe_to_repeat=False)["droplet"]

    def create_reserved_ip(self, region: str) -> dict:
        return self.call("create reserved IP", self.client.reserved_ips.create, body={"region": region},
                         safe_to_repeat=False)["reserved_ip"]


def ip_of(droplet: dict) -> str | None:
    for net in (droplet.get("networks") or {}).get("v4", []):
        if net.get("type") == "public":
            return net.get("ip_address")
    return None
