"""Host outputs -> facts: listening sockets (`ss -ltnp`, /proc/net/tcp), disks (`df -P -B1`), memory (`free -b`)."""

from __future__ import annotations

import ipaddress
import re

from builder.doctor.facts import Disk, Memory, Socket
from builder.doctor.parse_docker import ParseError

_TCP_LISTEN = "0A"  # include/net/tcp_states.h: TCP_LISTEN
_SS_PROCESS = re.compile(r'users:\(\("([^"]+)"')


def parse_ss(stdout: str) -> tuple[Socket, ...]:
    """`ss -ltnp`: `LISTEN 0 4096 127.0.0.1:8069 0.0.0.0:* users:(("docker-proxy",pid=812,fd=4))`."""
    sockets = []
    for line in stdout.splitlines():
        fields = line.split()
        if len(fields) < 5 or fields[0] != "LISTEN":
            continue
        address, _, port = fields[3].rpartition(":")
        if not port.isdigit():
            continue
        process = _SS_PROCESS.search(line)
        sockets.append(Socket(address.strip("[]"), int(port), process.group(1) if process else ""))
    return tuple(sockets)


def _proc_address(hex_address: str) -> str:
    """/proc/net/tcp writes addresses as the kernel's 32-bit words in host (little-endian) order."""
    raw = bytes.fromhex(hex_address)
    swapped = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
    return str(ipaddress.ip_address(swapped))


def parse_proc_net_tcp(stdout: str) -> tuple[Socket, ...]:
    """/proc/net/tcp and tcp6 (concatenated): the sockets in LISTEN state."""
    if "local_address" not in stdout:
        raise ParseError("no /proc/net/tcp table (is the container running?)")
    sockets = []
    for line in stdout.splitlines():
        fields = line.split()
        if len(fields) < 4 or not fields[0].endswith(":") or fields[3] != _TCP_LISTEN:
            continue
        hex_address, _, hex_port = fields[1].partition(":")
        try:
            sockets.append(Socket(_proc_address(hex_address), int(hex_port, 16)))
        except ValueError:
            continue
    return tuple(sockets)


def parse_df(stdout: str) -> tuple[Disk, ...]:
    """`df -P -B1 PATH...`: `Filesystem 1-blocks Used Available Capacity Mounted on`, bytes."""
    disks = []
    seen = set()
    for line in stdout.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 6 or not fields[1].isdigit():
            continue
        mount = " ".join(fields[5:])
        if mount in seen:  # two paths on one filesystem
            continue
        seen.add(mount)
        size, used, available = int(fields[1]), int(fields[2]), int(fields[3])
        disks.append(Disk(mount, size, used, available, int(fields[4].rstrip("%") or 0)))
    if not disks and stdout.strip():
        raise ParseError("no filesystem line in df's output")
    return tuple(disks)


def parse_free(stdout: str) -> Memory:
    """`free -b`: the Mem: line's total and available (columns found by the header), and Swap:."""
    lines = stdout.splitlines()
    header = lines[0].split() if lines else []
    values: dict[str, list[int]] = {}
    for line in lines[1:]:
        label, _, rest = line.partition(":")
        values[label.strip().lower()] = [int(v) for v in rest.split() if v.isdigit()]
    mem = values.get("mem")
    if not mem or "total" not in header:
        raise ParseError("no Mem: line in free's output")
    col = {name: i for i, name in enumerate(header)}
    available = mem[col["available"]] if "available" in col and col["available"] < len(mem) else mem[-1]
    swap = values.get("swap") or [0, 0]
    return Memory(total=mem[col["total"]], available=available, swap_total=swap[0],
                  swap_used=swap[1] if len(swap) > 1 else 0)
