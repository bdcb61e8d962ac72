"""localcloud.forwarder on loopback: reserved-IP forwarding switches targets and refuses when unassigned.

Real sockets on 127.0.0.1-range addresses and kernel-chosen ports; no Docker.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from localcloud.forwarder import Forwarder


def banner_server(ip: str, port: int, text: bytes) -> socket.socket:
    """A server on ip:port (0: the kernel picks) that writes `text` to every connection."""
    srv = socket.create_server((ip, port))

    def run() -> None:
        while True:
            try:
                conn, _ = srv.accept()
            except OSError:
                return
            with conn:
                conn.sendall(text)

    threading.Thread(target=run, daemon=True).start()
    return srv


def read_all(ip: str, port: int) -> bytes:
    with socket.create_connection((ip, port), timeout=5) as s:
        chunks = []
        while data := s.recv(4096):
            chunks.append(data)
        return b"".join(chunks)


@pytest.fixture
def backends() -> Iterator[int]:
    # Two "droplets" on different loopback addresses, same port (as both serve :443).
    a = banner_server("127.0.0.2", 0, b"A")
    port = a.getsockname()[1]
    b = banner_server("127.0.0.3", port, b"B")
    yield port
    for s in (a, b):
        s.close()


def refused(ip: str, port: int) -> bool:
    try:
        socket.create_connection((ip, port), timeout=2).close()
    except ConnectionRefusedError:
        return True
    return False


def test_assign_switch_unassign(backends: int) -> None:
    port = backends
    fwd = Forwarder(ports=(port,))
    ip = "127.0.0.77"
    assert refused(ip, port)
    try:
        fwd.assign(ip, "127.0.0.2")
        assert read_all(ip, port) == b"A"
        fwd.assign(ip, "127.0.0.3")
        assert read_all(ip, port) == b"B"
        assert fwd.target(ip) == "127.0.0.3"
        fwd.assign(ip, None)
        assert refused(ip, port)
        assert fwd.target(ip) is None
        fwd.assign(ip, "127.0.0.2")  # reassign after unassign reopens
        assert read_all(ip, port) == b"A"
    finally:
        fwd.close()
    assert refused(ip, port)


def test_a_failed_bind_keeps_the_previous_assignment() -> None:
    blocker = socket.create_server(("127.0.0.78", 0))
    port = blocker.getsockname()[1]
    fwd = Forwarder(ports=(port,))
    try:
        with pytest.raises(OSError):
            fwd.assign("127.0.0.78", "127.0.0.2")
        assert fwd.target("127.0.0.78") is None
    finally:
        blocker.close()
        fwd.close()
