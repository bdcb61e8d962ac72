"""DigitalOcean's droplet metadata service, for local droplets. Standard library only.

Runs in the container `odl-metadata` at 169.254.169.254 on the Docker network `odl-metadata`
(localcloud.docker_backend.ensure_metadata_service). Each droplet is attached to that network, so a
request's source address says which droplet asks, as on DigitalOcean: the answer comes from
`<records>/<source-ip>.json`, a document in the shape of DO's `/metadata/v1.json` that the backend writes
at create time and updates on reserved-IP moves. The file is read on every request, so a move is
visible at once. Containers inside a droplet reach the service too (their traffic leaves masqueraded as
the droplet's address) — which is why the first-boot agent firewalls them off, as on DigitalOcean.

Paths: /metadata/v1.json (the whole document), /metadata/v1/<key> with DO's names (`droplet_id` is `id`,
`user_data` is `user-data`, an interface's `ip_address` is `address`); lists are indexed
(`interfaces/public/0/...`);
directories (a trailing `/`) list their entries one per line. Leaves are plain text; booleans are
`true`/`false`.
"""

from __future__ import annotations

import json
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

RECORDS = Path(os.environ.get("ODL_METADATA_DIR", "/srv/metadata"))

# DO's v1 paths mostly use the JSON field names, with three kinds of exceptions (its documented paths:
# /metadata/v1/id, user-data, public-keys, interfaces/public/0/ipv4/address, reserved_ip/ipv4/ip_address).
_DASHED = {"user_data", "vendor_data", "public_keys", "auth_key"}


def _path_name(key: str, under_interfaces: bool = False) -> str:
    if key == "droplet_id":
        return "id"
    if key in _DASHED:
        return key.replace("_", "-")
    if under_interfaces and key == "ip_address":
        return "address"
    return key


def _matches(key: str, part: str, under_interfaces: bool) -> bool:
    # Lenient on `-` versus `_`: clients in the wild use both.
    return part in (_path_name(key, under_interfaces), key, key.replace("_", "-"))


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    return str(value)


def _is_dir(value: object) -> bool:
    # A list of scalars (public-keys, tags, nameservers) is a leaf: its items one per line.
    return isinstance(value, dict) or (isinstance(value, list) and any(isinstance(v, dict | list) for v in value))


def resolve(doc: dict, path: str) -> tuple[int, str, str]:
    """(status, content type, body) for a request path against one droplet's document."""
    if path.split("?", 1)[0] in ("/metadata/v1.json",):
        return 200, "application/json", json.dumps(doc)
    prefix = "/metadata/v1"
    clean = path.split("?", 1)[0]
    if not (clean == prefix or clean.startswith(prefix + "/")):
        return 404, "text/plain", "not found\n"
    parts = [p for p in clean[len(prefix) :].split("/") if p]
    node: object = doc
    for part in parts:
        if isinstance(node, dict):
            match = [k for k in node if _matches(k, part, "interfaces" in parts)]
            if not match:
                return 404, "text/plain", "not found\n"
            node = node[match[0]]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return 404, "text/plain", "not found\n"
    if isinstance(node, dict):
        lines = [_path_name(k, "interfaces" in parts) + ("/" if _is_dir(v) else "") for k, v in node.items()]
        return 200, "text/plain", "\n".join(lines)
    if isinstance(node, list):
        if not _is_dir(node):
            return 200, "text/plain", "\n".join(_text(v) for v in node)  # e.g. public-keys, tags
        return 200, "text/plain", "\n".join(f"{i}/" for i in range(len(node)))
    return 200, "text/plain", _text(node)


def load(records: Path, client_ip: str) -> dict | None:
    # The name comes from the socket, never from the request: a caller reads only its own record.
    try:
        return json.loads((records / f"{client_ip}.json").read_text())
    except (OSError, ValueError):
        return None


class Handler(BaseHTTPRequestHandler):
    server_version = "odl-metadata/1"

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        doc = load(RECORDS, self.client_address[0])
        if doc is None:
            status, ctype, body = 404, "text/plain", "no droplet at this address\n"
        else:
            status, ctype, body = resolve(doc, self.path)
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        # Paths only (user-data bodies are never logged).
        sys.stderr.write(f"{self.client_address[0]} {format % args}\n")


def main() -> None:
    port = int(os.environ.get("ODL_METADATA_PORT", "80"))
    ThreadingHTTPServer(("0.0.0.0", port), Handler).serve_forever()


if __name__ == "__main__":
    main()
