"""A tiny, deterministic YAML emitter for dict / list / str / int / bool / None.

The droplet's Python is Debian's python3 with the standard library only, so PyYAML is not available
there. What we emit (compose files) is small and regular, so a few lines do: block style, keys in the
order given, every string double-quoted. A JSON string literal is a valid YAML double-quoted scalar, so quoting by `json.dumps` means no value can be read back as a number, a bool,
null, a comment, an anchor or a multi-line block: "yes", "0755", "#x" and "a: b" all stay strings.
"""

from __future__ import annotations

import json
import re
from typing import Any

_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")
# Words YAML 1.1 (PyYAML, compose's older parsers) or 1.2 would read as something other than a string.
_NON_PRINTABLE = re.compile("[\x7f-\x9f\u2028\u2029\ufeff\ud800-\udfff\ufffe\uffff]")
_RESERVED = {"y", "yes", "n", "no", "true", "false", "on", "off", "null", "~"}


def _key(key: Any) -> str:
    if not isinstance(key, str):
        raise TypeError(f"YAML mapping keys must be strings, got {type(key).__name__}: {key!r}")
    if _PLAIN_KEY.match(key) and key.lower() not in _RESERVED:
        return key
    return _quote(key)


def _quote(text: str) -> str:
    # json.dumps escapes ", \ and C0 controls; YAML also wants DEL, C1 controls, the Unicode line
    # separators, BOM and lone surrogates escaped, which JSON leaves raw. Astral characters (emoji) stay
    # raw: JSON would split them into a surrogate pair that YAML readers do not join back.
    quoted = json.dumps(text, ensure_ascii=False)
    return _NON_PRINTABLE.sub(lambda m: f"\\u{ord(m.group()):04x}", quoted)


def _scalar(value: Any) -> str:
    # bool before int: bool is a subclass of int.
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return _quote(value)
    raise TypeError(f"cannot emit {type(value).__name__} as YAML: {value!r}")


def _lines(value: Any, indent: int) -> list[str]:
    pad = " " * indent
    if isinstance(value, dict):
        if not value:
            return [pad + "{}"]
        out: list[str] = []
        for key, item in value.items():
            if isinstance(item, (dict, list)) and item:
                out.append(f"{pad}{_key(key)}:")
                # Lists sit at the key's indentation (compose and kubectl style); maps go one level in.
                out.extend(_lines(item, indent if isinstance(item, list) else indent + 2))
            else:
                out.append(f"{pad}{_key(key)}: {_inline(item)}")
        return out
    if isinstance(value, list):
        if not value:
            return [pad + "[]"]
        out = []
        for item in value:
            if isinstance(item, (dict, list)) and item:
                nested = _lines(item, indent + 2)
                # "- " takes the place of the first nested line's indentation.
                out.append(f"{pad}- {nested[0][indent + 2 :]}")
                out.extend(nested[1:])
            else:
                out.append(f"{pad}- {_inline(item)}")
        return out
    return [pad + _scalar(value)]


def _inline(value: Any) -> str:
    if isinstance(value, dict):
        return "{}"
    if isinstance(value, list):
        return "[]"
    return _scalar(value)


def dump(value: Any) -> str:
    """YAML text for `value` (a dict at the top, normally), ending with a newline."""
    return "\n".join(_lines(value, 0)) + "\n"
