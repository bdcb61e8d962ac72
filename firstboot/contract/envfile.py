"""The one `KEY=VALUE` file format: secrets.env on the droplet, the generated credentials file, the
operator's `.env`. Reading understands comments, `export ` prefixes and shell quoting; writing quotes
only what needs it, so a file written here reads back to the same values (tested)."""

from __future__ import annotations

import shlex


def parse_env(text: str) -> dict[str, str]:
    values: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        line = line.removeprefix("export ").strip()
        key, sep, value = line.partition("=")
        if not sep:
            continue
        try:
            parts = shlex.split(value, comments=True) if value.strip() else [""]
        except ValueError:  # an unbalanced quote: keep the raw value rather than lose the line
            parts = [value.strip()]
        values[key.strip()] = parts[0] if parts else ""
    return values


def render_env(values: dict[str, str], header: str = "") -> str:
    lines = [f"# {h}" if h else "#" for h in header.splitlines()] if header else []
    for key, value in values.items():
        if not key.isidentifier():
            raise ValueError(f"not an environment variable name: {key!r}")
        lines.append(f"{key}={shlex.quote(value) if value else ''}")
    return "\n".join(lines) + "\n"
