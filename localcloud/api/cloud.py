"""The local cloud's account as the API sees it: state, the backend, workers that run actions.

`Cloud` holds what every resource module (localcloud/api/resources/) shares: the state document and its lock,
the `Backend` that does the slow work, the fault book, and the asynchronous actions. Handlers live with their
resource; they take the `Cloud` and a parsed `Request` and return `(status, body)`, raising `ApiError` for
DO-shaped errors. State lives in `State` (one lock, saved after each change); the slow work (booting,
powering, committing, forwarding) runs in worker threads through the `Backend`, so an action is
"in-progress" until the backend is done, then "completed" or "errored" — the way DigitalOcean's actions behave.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from localcloud.api import shapes
from localcloud.api.request import ApiError, Reply, Request, not_found, unprocessable
from localcloud.backend import Backend, BackendError
from localcloud.faults import FaultBook
from localcloud.network import NETWORK
from localcloud.state import State

__all__ = ["ApiError", "Cloud", "Handler", "Reply", "Request", "Work", "not_found", "reads", "unprocessable"]

log = logging.getLogger("localcloud.api")

Record = dict[str, Any]
Handler = Callable[["Cloud", Request], Reply]
# A worker's job: does the slow work, returns the state change to apply (under the lock) on success.
Work = Callable[[], Callable[[], None] | None]


def reads(handler: Handler) -> Handler:
    """Run a read-only handler under the state lock, so workers cannot change what it iterates."""
    @functools.wraps(handler)
    def locked(cloud: Cloud, req: Request) -> Reply:
        with cloud.state.lock:
            return handler(cloud, req)
    return locked


class Cloud:
    def __init__(self, state: State, backend: Backend, faults: FaultBook,
                 reserved_range: tuple[int, int] = NETWORK.reserved_range):
        self.state = state
        # Reserved IPs are 127.0.0.N with N in this range (a second API in tests keeps clear of `local up`'s).
        self.reserved_range = reserved_range
        self.backend = backend
        self.faults = faults
        self.stopping = threading.Event()
        self._workers: list[threading.Thread] = []
        self._workers_lock = threading.Lock()
        self._sync_base_images()
        self._reconcile()

    # ------------------------------------------------------------------ lifecycle

    def _sync_base_images(self) -> None:
        """Give each of the backend's distribution images a stable id (first seen → new id)."""
        images = self.state.coll("images")
        with self.state.lock:
            for b in self.backend.base_images():
                existing = next((i for i in images.values() if i.get("slug") == b.slug), None)
                if existing:
                    existing["_ref"] = b.ref
                    continue
                iid = self.state.next_id("image")
                images[str(iid)] = {
                    "id": iid, "name": b.name, "type": "base", "distribution": b.distribution,
                    "slug": b.slug, "public": True, "regions": list(shapes.REGIONS),
                    "created_at": shapes.now_iso(), "min_disk_size": b.min_disk_size,
                    "size_gigabytes": b.size_gigabytes, "description": f"{b.distribution} {b.name}",
                    "tags": [], "status": "available", "error_message": "", "_ref": b.ref,
                }
            self.state.save()

    def _reconcile(self) -> None:
        """After a restart: actions that were running are lost; droplets reflect what the backend runs."""
        with self.state.lock:
            for a in self.state.coll("actions").values():
                if a["status"] == "in-progress":
                    a["status"] = "errored"
                    a["completed_at"] = shapes.now_iso()
            for d in self.state.coll("droplets").values():
                try:
                    rt = self.backend.droplet_runtime(d["id"])
                except BackendError as e:
                    log.warning("droplet %s: %s", d["id"], e)
                    continue
                if not rt.exists:
                    log.warning("droplet %s is not known to the backend; marking it off", d["id"])
                    d["status"] = "off"
                elif rt.running and rt.ipv4:
                    d["status"], d["ipv4"] = "active", rt.ipv4
                elif not rt.running and d["status"] != "new":
                    d["status"] = "off"
            self.state.save()
            assigned = [(r["ip"], r["droplet_id"]) for r in self.state.coll("reserved_ips").values()
                        if r.get("droplet_id")]
        for ip, did in assigned:
            d = self.state.coll("droplets").get(str(did))
            try:
                self.backend.set_reserved_ip(ip, did, d.get("ipv4") if d else None)
            except BackendError as e:
                log.warning("reserved ip %s: %s", ip, e)

    def close(self, timeout: float = 5.0) -> None:
        self.stopping.set()
        self.wait_idle(timeout)

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Wait (up to `timeout` in all) until no worker runs (tests and shutdown)."""
        deadline = time.monotonic() + timeout
        with self._workers_lock:
            workers = list(self._workers)
        for t in workers:
            t.join(max(0.0, deadline - time.monotonic()))
        return not any(t.is_alive() for t in workers)

    # ------------------------------------------------------------------ actions

    def new_action(self, type_: str, resource_type: str, resource_id: int | None, region: str,
                   **private: Any) -> Record:
        aid = self.state.next_id("action")
        a = {"id": aid, "status": "in-progress", "type": type_, "started_at": shapes.now_iso(),
             "completed_at": None, "resource_id": resource_id, "resource_type": resource_type,
             "region_slug": region, **{f"_{k}": v for k, v in private.items()}}
        self.state.coll("actions")[str(aid)] = a
        return a

    def run(self, action: Record, work: Work) -> None:
        """Run `work` in a worker; it returns a state update applied (under the lock) on success."""
        def target() -> None:
            effect = self.faults.take_action(action["type"])
            status = "completed"
            if effect.delay and self.stopping.wait(effect.delay):
                return
            if effect.error:
                status = "errored"
            else:
                try:
                    apply = work()
                    if apply is not None:
                        with self.state.lock:
                            apply()
                except BackendError as e:
                    log.warning("action %s (%s) errored: %s", action["id"], action["type"], e)
                    status = "errored"
                except Exception:  # a worker must never die silently with the action in progress
                    log.exception("action %s (%s) failed", action["id"], action["type"])
                    status = "errored"
            with self.state.lock:
                action["status"] = status
                action["completed_at"] = shapes.now_iso()
                self.state.save()

        t = threading.Thread(target=target, name=f"action-{action['id']}", daemon=True)
        with self._workers_lock:
            self._workers = [w for w in self._workers if w.is_alive()] + [t]
        t.start()

    def pending(self, resource_type: str, key: str, value: Any) -> bool:
        return any(a["status"] == "in-progress" and a["resource_type"] == resource_type and a.get(key) == value
                   for a in self.state.coll("actions").values())

    # ------------------------------------------------------------------ lookups shared by resources

    def droplet(self, droplet_id: str | int) -> Record:
        d = self.state.coll("droplets").get(str(droplet_id))
        if d is None:
            raise not_found()
        return d

    def droplet_json(self, d: Record) -> Record:
        image = self.state.coll("images").get(str(d["image_id"]))
        return shapes.droplet_json(d, image, self.pending("droplet", "resource_id", d["id"]))

    def image(self, ident: str) -> Record:
        images = self.state.coll("images")
        if ident.isdigit():
            img = images.get(ident)
        else:
            img = next((i for i in images.values() if i.get("slug") == ident and i["public"]), None)
        if img is None:
            raise not_found()
        return img

    def listing(self, req: Request, key: str, items: list[Any]) -> Reply:
        page, per_page = req.page()
        chunk, links, meta = shapes.paginate(items, page, per_page, req.base_url, req.path, req.query)
        return 200, {key: chunk, "links": links, "meta": meta}
