"""The account and its SSH keys: /v2/account, /v2/account/keys."""

from __future__ import annotations

import urllib.parse

from localcloud.api import shapes
from localcloud.api.cloud import Cloud, Record, reads
from localcloud.api.request import Reply, Request, not_found, unprocessable
from localcloud.api.router import Route


def account_get(cloud: Cloud, req: Request) -> Reply:
    return 200, {"account": {
        "droplet_limit": 25, "floating_ip_limit": 10, "email": "operator@localcloud.invalid",
        "name": "Local cloud", "uuid": cloud.state.data["account_uuid"], "email_verified": True,
        "status": "active", "status_message": "",
    }}


@reads
def keys_list(cloud: Cloud, req: Request) -> Reply:
    keys = sorted(cloud.state.coll("keys").values(), key=lambda k: k["id"])
    return cloud.listing(req, "ssh_keys", keys)


def key_record(cloud: Cloud, ident: str) -> Record:
    # pydo percent-encodes a fingerprint's colons in the path (7e%3Aaf...); DigitalOcean decodes them.
    ident = urllib.parse.unquote(ident)
    keys = cloud.state.coll("keys")
    k = keys.get(ident) if ident.isdigit() else next(
        (k for k in keys.values() if k["fingerprint"] == ident), None)
    if k is None:
        raise not_found()
    return k


def keys_create(cloud: Cloud, req: Request) -> Reply:
    body = req.obj()
    name, public_key = body.get("name"), body.get("public_key")
    if not isinstance(name, str) or not name or not isinstance(public_key, str):
        raise unprocessable("name and public_key are required.")
    fp = shapes.ssh_fingerprint(public_key)
    if fp is None:
        raise unprocessable("Key invalid type, we support 'ssh-rsa', 'ssh-dss', 'ecdsa-sha2-nistp256', "
                            "'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521', or 'ssh-ed25519'.")
    with cloud.state.lock:
        if any(k["fingerprint"] == fp for k in cloud.state.coll("keys").values()):
            raise unprocessable("SSH Key is already in use on your account")
        kid = cloud.state.next_id("key")
        key = {"id": kid, "fingerprint": fp, "public_key": public_key.strip(), "name": name}
        cloud.state.coll("keys")[str(kid)] = key
        cloud.state.save()
    return 201, {"ssh_key": key}


@reads
def keys_get(cloud: Cloud, req: Request) -> Reply:
    return 200, {"ssh_key": key_record(cloud, req.params["key"])}


def keys_update(cloud: Cloud, req: Request) -> Reply:
    name = req.obj().get("name")
    if not isinstance(name, str) or not name:
        raise unprocessable("name must be a non-empty string.")
    with cloud.state.lock:
        k = key_record(cloud, req.params["key"])
        k["name"] = name
        cloud.state.save()
    return 200, {"ssh_key": k}


def keys_delete(cloud: Cloud, req: Request) -> Reply:
    with cloud.state.lock:
        k = key_record(cloud, req.params["key"])
        del cloud.state.coll("keys")[str(k["id"])]
        cloud.state.save()
    return 204, None


ROUTES = [
    Route("GET", r"/v2/account", account_get),
    Route("GET", r"/v2/account/keys", keys_list),
    Route("POST", r"/v2/account/keys", keys_create),
    Route("GET", r"/v2/account/keys/(?P<key>[^/]+)", keys_get),
    Route("PUT", r"/v2/account/keys/(?P<key>[^/]+)", keys_update),
    Route("DELETE", r"/v2/account/keys/(?P<key>[^/]+)", keys_delete),
]
