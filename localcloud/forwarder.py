"""Reserved IPs of the local cloud: a loopback address whose ports 80 and 443 lead to one droplet.

DigitalOcean moves a reserved IP between droplets of a region in one action. Here a reserved IP is a host
loopback address (127.0.0.x) with a TCP forwarder on each port. It runs as threads of the process that owns
the backend (the API server): `Forwarder.assign(ip, target)` opens the listeners on first use and swaps the
target under a lock, so every connection accepted after the call returns goes to the new droplet (open
connections finish where they started). `Forwarder.assign(ip, None)` closes the listeners: an unassigned
reserved IP refuses connections, as one pointing nowhere does on DigitalOcean. Plain TCP: TLS is end to
end between the client and the droplet's nginx, so the droplet's certificate is what the client sees.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

PORTS = (80, 443)
_CONNECT_TIMEOUT = 5.0
_BUF = 65536


def _pump(src: socket.socket, dst: socket.socket) -> None:
    try:
        while data := src.recv(_BUF):
            dst.sendall(data)
    except OSError:
        pass
    finally:
        # Half-close so the other direction can finish (HTTP clients often close their write side first).
        for s, how in ((dst, socket.SHUT_WR), (src, socket.SHUT_RD)):
            try:
                s.shutdown(how)
            except OSError:
                pass


def _serve_connection(client: socket.socket, target: tuple[str, int]) -> None:
    try:
        upstream = socket.create_connection(target, timeout=_CONNECT_TIMEOUT)
    except OSError as exc:
        log.info("reserved ip: %s unreachable: %s", target, exc)
        client.close()
        return
    upstream.settimeout(None)
    back = threading.Thread(target=_pump, args=(upstream, client), daemon=True)
    back.start()
    _pump(client, upstream)
    back.join()
    client.close()
    upstream.close()


@dataclass
class _Listener:
    sock: socket.socket
    thread: threading.Thread


@dataclass
class Forwarder:
    """Forwards ip:port (port in `ports`) to the assigned droplet's same port."""

    ports: tuple[int, ...] = PORTS
    _targets: dict[str, str] = field(default_factory=dict)
    _listeners: dict[tuple[str, int], _Listener] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def target(self, ip: str) -> str | None:
        with self._lock:
            return self._targets.get(ip)

    def assign(self, ip: str, target: str | None) -> None:
        """Point `ip` at `target` (a droplet address), or close it when `target` is None."""
        with self._lock:
            if target is None:
                self._targets.pop(ip, None)
                for port in self.ports:
                    lst = self._listeners.pop((ip, port), None)
                    if lst is not None:
                        # shutdown() first: close() alone leaves the socket listening while accept() blocks.
                        with contextlib.suppress(OSError):
                            lst.sock.shutdown(socket.SHUT_RDWR)
                        lst.sock.close()
                return
            # Bind first, so a failure (address in use) leaves the previous assignment intact.
            new = [port for port in self.ports if (ip, port) not in self._listeners]
            opened: dict[tuple[str, int], socket.socket] = {}
            try:
                for port in new:
                    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                    opened[(ip, port)] = s
                    s.bind((ip, port))
                    s.listen(128)
            except OSError:
                for s in opened.values():
                    s.close()
                raise
            self._targets[ip] = target
            for key, s in opened.items():
                t = threading.Thread(target=self._accept, args=(s, key), name=f"reserved-ip {key}", daemon=True)
                self._listeners[key] = _Listener(s, t)
                t.start()

    def close(self) -> None:
        for ip in list(self._targets):
            self.assign(ip, None)

    def _accept(self, sock: socket.socket, key: tuple[str, int]) -> None:
        ip, port = key
        while True:
            try:
                client, _ = sock.accept()
            except OSError:
                return  # listener closed: unassigned
            with self._lock:
                target = self._targets.get(ip)
            if target is None:
                client.close()
                continue
            threading.Thread(target=_serve_connection, args=(client, (target, port)), daemon=True).start()
