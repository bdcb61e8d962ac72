"""Spaces (S3) as the project's shared state, under the object keys of firstboot.contract.keys."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError

from builder.errors import SpacesError
from firstboot.config import Deploy, Secrets

__all__ = ["Spaces", "SpacesError"]


@dataclass
class Spaces:
    bucket: str
    endpoint: str
    client: Any

    @classmethod
    def for_deploy(cls, deploy: Deploy, secrets: Secrets) -> Spaces | None:
        if deploy.spaces is None:
            return None
        endpoint = deploy.endpoints.spaces_url(deploy.spaces.region)
        client = boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name=deploy.spaces.region,
            aws_access_key_id=secrets.spaces_key,
            aws_secret_access_key=secrets.spaces_secret,
            config=Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=5, read_timeout=20,
                          s3={"addressing_style": "path"}),
        )
        return cls(deploy.spaces.bucket, endpoint, client)

    def url(self, prefix: str = "") -> str:
        return f"s3://{self.bucket}/{prefix}"

    def _wrap(self, what: str, fn: Callable[..., Any], **kwargs: Any) -> Any:
        try:
            return fn(Bucket=self.bucket, **kwargs)
        except EndpointConnectionError as err:
            raise SpacesError(f"Spaces unreachable at {self.endpoint} ({what}): {err}; check SPACES_ENDPOINT "
                              "and that the service is up — nothing was created") from None
        except ClientError as err:
            code = err.response.get("Error", {}).get("Code", "")
            if code in ("NoSuchKey", "404"):
                raise KeyError(kwargs.get("Key", "")) from None
            if code in ("InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "403"):
                raise SpacesError(f"Spaces refused the key ({what}): check SPACES_KEY and SPACES_SECRET") from None
            raise SpacesError(f"Spaces {what}: {code} {err}") from None
        except BotoCoreError as err:
            raise SpacesError(f"Spaces {what}: {err}") from None

    def ensure_bucket(self) -> None:
        """Create the bucket only when Spaces says it does not exist (404); unreachable or refused is said as such."""
        try:
            self._wrap("head bucket", self.client.head_bucket)
        except KeyError:
            self._wrap("create bucket", self.client.create_bucket)

    def get_json(self, key: str) -> dict | None:
        try:
            body = self._wrap(f"get {key}", self.client.get_object, Key=key)
        except KeyError:
            return None
        return json.loads(body["Body"].read())

    def put_json(self, key: str, data: dict) -> None:
        self._wrap(f"put {key}", self.client.put_object, Key=key, Body=json.dumps(data, indent=2).encode(),
                   ContentType="application/json")

    def get_text(self, key: str) -> str | None:
        try:
            body = self._wrap(f"get {key}", self.client.get_object, Key=key)
        except KeyError:
            return None
        return body["Body"].read().decode()

    def keys(self, prefix: str) -> list[str]:
        out: list[str] = []
        token = None
        for _ in range(100):  # bounded pagination
            kwargs: dict[str, Any] = {"Prefix": prefix}
            if token:
                kwargs["ContinuationToken"] = token
            page = self._wrap(f"list {prefix}", self.client.list_objects_v2, **kwargs)
            out += [o["Key"] for o in page.get("Contents", [])]
            token = page.get("NextContinuationToken")
            if not token:
                break
        return out

    def sizes(self, prefix: str) -> dict[str, int]:
        """Every object under `prefix` with its size (bounded pagination)."""
        out: dict[str, int] = {}
        token = None
        for _ in range(100):
            kwargs: dict[str, Any] = {"Prefix": prefix}
            if token:
                kwargs["ContinuationToken"] = token
            page = self._wrap(f"list {prefix}", self.client.list_objects_v2, **kwargs)
            out.update({o["Key"]: int(o.get("Size", 0)) for o in page.get("Contents", [])})
            token = page.get("NextContinuationToken")
            if not token:
                break
        return out

    def head(self, key: str) -> dict[str, str] | None:
        """The object's headers as the droplet's client reads them (lower-case names: etag, x-amz-meta-*), or
        None when there is no such object."""
        try:
            meta = self._wrap(f"head {key}", self.client.head_object, Key=key)
        except KeyError:
            return None
        headers = {f"x-amz-meta-{k.lower()}": str(v) for k, v in (meta.get("Metadata") or {}).items()}
        headers["etag"] = str(meta.get("ETag", ""))
        return headers

    def get_bytes(self, key: str) -> bytes | None:
        try:
            body = self._wrap(f"get {key}", self.client.get_object, Key=key)
        except KeyError:
            return None
        data: bytes = body["Body"].read()
        return data
