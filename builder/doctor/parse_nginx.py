"""nginx's side: `nginx -t` output and the site file (upstreams, locations, timeouts, forwarded headers).

The site is parsed with a small tokenizer for nginx's own syntax (words, quotes, `;`, `{ }`, `#` comments)
rather than regexes over lines, so a reformatted or hand-edited file reads the same.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from builder.doctor.facts import Location, NginxSite, NginxTest, Upstream
from builder.doctor.parse_docker import ParseError

_TIME = re.compile(r"^(\d+)(ms|s|m|h|d|w|M|y)?$")
_TIME_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "M": 2592000, "y": 31536000}


@dataclass(frozen=True)
class Directive:
    name: str
    args: tuple[str, ...]
    block: tuple[Directive, ...] | None = None  # None: a simple `name args;`

    def children(self, name: str) -> list[Directive]:
        return [d for d in self.block or () if d.name == name]


def parse_nginx_test(returncode: int, output: str) -> NginxTest:
    """`nginx -t` writes to stderr: "... syntax is ok" / "... test is successful", or "[emerg] ..."."""
    lines = tuple(line.strip() for line in output.splitlines() if line.strip())
    return NginxTest(ok=returncode == 0 and not any("[emerg]" in line for line in lines), lines=lines)


def _tokens(text: str) -> list[str]:
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c.isspace():
            i += 1
        elif c == "#":
            while i < n and text[i] != "\n":
                i += 1
        elif c in ";{}":
            out.append(c)
            i += 1
        elif c in "'\"":
            j = i + 1
            while j < n and text[j] != c:
                j += 2 if text[j] == "\\" else 1
            out.append(text[i + 1:j])
            i = j + 1
        else:
            j = i
            while j < n and not text[j].isspace() and text[j] not in ";{}":
                j += 1
            out.append(text[i:j])
            i = j
    return out


def parse_config(text: str) -> tuple[Directive, ...]:
    """nginx configuration text -> its directive tree. Raises ParseError on unbalanced braces."""
    tokens = _tokens(text)
    pos = 0

    def block(depth: int) -> tuple[Directive, ...]:
        nonlocal pos
        items: list[Directive] = []
        words: list[str] = []
        while pos < len(tokens):
            t = tokens[pos]
            pos += 1
            if t == ";":
                if words:
                    items.append(Directive(words[0], tuple(words[1:])))
                words = []
            elif t == "{":
                if not words:
                    raise ParseError("a block without a directive name")
                name, args = words[0], tuple(words[1:])
                items.append(Directive(name, args, block(depth + 1)))
                words = []
            elif t == "}":
                if depth == 0:
                    raise ParseError("unbalanced '}'")
                return tuple(items)
            else:
                words.append(t)
        if depth:
            raise ParseError("unclosed '{'")
        return tuple(items)

    return block(0)


def nginx_seconds(value: str) -> int | None:
    """An nginx time ("720s", "12m", "720") in whole seconds; None when it is not one."""
    m = _TIME.match(value)
    if not m:
        return None
    return int(int(m.group(1)) * _TIME_SECONDS[m.group(2) or "s"])


def _server_address(arg: str) -> tuple[str, int] | None:
    if arg.startswith("unix:"):
        return None
    host, sep, port = arg.rpartition(":")
    if sep and port.isdigit() and not host.endswith(":"):
        return host.strip("[]"), int(port)
    return arg.strip("[]"), 80


def _headers(d: Directive) -> tuple[str, ...]:
    return tuple(h.args[0].lower() for h in d.children("proxy_set_header") if h.args)


def _read_timeout(d: Directive) -> int | None:
    values = [nginx_seconds(t.args[0]) for t in d.children("proxy_read_timeout") if t.args]
    return values[-1] if values else None


def _locations(server: Directive) -> list[Location]:
    out = []
    for loc in server.children("location"):
        passes = [p.args[0] for p in loc.children("proxy_pass") if p.args]
        upgrade = any(h.args[:1] and h.args[0].lower() == "upgrade" for h in loc.children("proxy_set_header"))
        out.append(Location(
            path=" ".join(loc.args),
            proxy_pass=passes[-1] if passes else None,
            proxy_read_timeout=_read_timeout(loc),
            headers=_headers(loc),
            has_upgrade=upgrade,
        ))
    return out


def parse_nginx_site(text: str) -> NginxSite:
    """The site file (in nginx's http context): its upstreams and the server that proxies to Odoo."""
    top = parse_config(text)
    # The file may also be a whole nginx.conf: look inside `http { }` too.
    scope = list(top) + [d for h in top if h.name == "http" for d in h.block or ()]
    root = Directive("http", (), tuple(scope))
    upstreams = []
    for up in root.children("upstream"):
        servers = tuple(a for s in up.children("server") if s.args for a in [_server_address(s.args[0])] if a)
        upstreams.append(Upstream(up.args[0] if up.args else "", servers))
    server_blocks = root.children("server")
    # The server that proxies (the TLS one); the port-80 server only redirects.
    proxying = [s for s in server_blocks if any(loc.proxy_pass for loc in _locations(s))] or server_blocks[:1]
    server = proxying[0] if proxying else Directive("server", (), ())
    server_timeout = _read_timeout(server)
    if server_timeout is None:
        server_timeout = _read_timeout(root)
    return NginxSite(
        upstreams=tuple(upstreams),
        locations=tuple(_locations(server)),
        server_read_timeout=server_timeout,
        server_headers=_headers(server) or _headers(root),
    )
