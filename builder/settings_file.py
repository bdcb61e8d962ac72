"""Reading a settings file so that no file can stall or crash the tool.

A settings file is small and plain, so anything else is refused before it costs time or memory:
more than MAX_BYTES, bytes that are not UTF-8, YAML anchors and aliases (a 1.7 KB "billion laughs" file
expands to gigabytes once something walks it), nesting deeper than any settings file needs, and a key
given twice in one mapping (YAML would silently keep the last one: a second `odoo:` block would replace
the first). Anchors, aliases and depth are refused from the parser's event stream, before any node is
built; duplicate keys while the mapping is constructed, with both lines named.

libyaml (PyYAML's C loader) does the parsing: the pure-Python loader takes seconds on a file at the size
limit, the C one a fraction of a second.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from yaml.nodes import MappingNode, Node

MAX_BYTES = 256 * 1024
MAX_DEPTH = 16  # the settings are three levels deep (odoo.modules[0]); room to spare, none to abuse

# PyYAML's wheels carry libyaml; the pure-Python loader is the fallback on a build without it (slower:
# seconds at the size limit instead of a fraction of one).
_BaseLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class Refused(Exception):
    """The file cannot be read as settings: `where` (a line, a size, the path) and `why`."""

    def __init__(self, subject: str, where: str, why: str):
        self.subject, self.where, self.why = subject, where, why
        super().__init__(f"{subject}: {where} — {why}")


def read_text(path: Path) -> str:
    """The file's text; refused when larger than MAX_BYTES or not UTF-8. Never reads more than MAX_BYTES + 1."""
    with path.open("rb") as f:
        data = f.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise Refused("(file)", f"more than {MAX_BYTES} bytes",
                      f"larger than the {MAX_BYTES // 1024} KiB limit for a settings file")
    try:
        return data.decode("utf-8-sig")  # a byte-order mark, as some editors write, is not a setting
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise Refused("(file)", f"line {line}, byte {err.start}",
                      f"not UTF-8 text (byte 0x{data[err.start]:02x}): save the file as UTF-8") from None


def _line(event: yaml.Event) -> str:
    mark = event.start_mark
    return f"line {mark.line + 1}, column {mark.column + 1}" if mark else "?"


def _refuse_anchors_and_depth(text: str) -> None:
    """Walk the event stream (no nodes are built, nothing is expanded) and refuse the first anchor, alias
    or overly deep nesting."""
    depth = 0
    for event in yaml.parse(text, Loader=_BaseLoader):
        if isinstance(event, yaml.AliasEvent):
            raise Refused("(yaml)", _line(event),
                          f"alias *{event.anchor}: YAML anchors and aliases are not accepted in settings "
                          "(write the value out)")
        if isinstance(event, yaml.NodeEvent) and event.anchor is not None:
            raise Refused("(yaml)", _line(event),
                          f"anchor &{event.anchor}: YAML anchors and aliases are not accepted in settings "
                          "(write the value out)")
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                raise Refused("(yaml)", _line(event), f"nested more than {MAX_DEPTH} levels deep")
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1


class _NoDuplicateKeys(_BaseLoader):  # type: ignore[misc,valid-type]  # the base is chosen at import time (C or Python)
    def construct_mapping(self, node: Node, deep: bool = False) -> dict[object, object]:
        if isinstance(node, MappingNode):
            first_line: dict[object, int] = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":  # `<<:` is not a key (and aliases are refused)
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    earlier = first_line.get(key)
                except TypeError:  # an unhashable key: the base class refuses it in its own words
                    break
                line = key_node.start_mark.line + 1
                if earlier is not None:
                    raise Refused(str(key), f"line {earlier} and line {line}",
                                  "given twice; YAML would silently keep only the second: merge them into one")
                first_line[key] = line
        mapping: dict[object, object] = super().construct_mapping(node, deep=deep)
        return mapping


def load_yaml(text: str) -> object:
    """The one YAML document in `text`, as plain data; Refused or yaml.YAMLError when it cannot be."""
    _refuse_anchors_and_depth(text)
    return yaml.load(text, Loader=_NoDuplicateKeys)  # noqa: S506 - a SafeLoader subclass
