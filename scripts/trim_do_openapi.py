#!/usr/bin/env python3
"""Regenerate localcloud/openapi/DigitalOcean-public.v2.trimmed.yaml from DigitalOcean's full spec.

The tests validate every exchange with the local cloud against DigitalOcean's OpenAPI spec. The full
bundled spec is 3 MB and lives in another repository, so the project keeps a trimmed copy: only the
operations the local cloud serves (SERVED below), every component they reference (transitively), and
none of the documentation (descriptions, summaries, examples, code samples, tags). What validation
reads (schemas, parameters, request bodies, responses, headers, security) is copied as it is.

Get the full spec (Apache-2.0) from github.com/digitalocean/openapi: `make bundle` there writes
tests/openapi-bundled.yaml (`redocly bundle specification/DigitalOcean-public.v2.yaml`). Then:

    .venv/bin/python scripts/trim_do_openapi.py path/to/openapi-bundled.yaml --source-commit <sha>
    .venv/bin/python scripts/trim_do_openapi.py path/to/openapi-bundled.yaml --check   # exit 1 if stale

The output is deterministic (sorted keys, no generation time): the same input gives the same bytes.
When the local cloud serves a new operation, add it to SERVED and regenerate.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "localcloud" / "openapi" / "DigitalOcean-public.v2.trimmed.yaml"
SOURCE_REPO = "https://github.com/digitalocean/openapi"
# The commit the committed copy was made from; pass --source-commit when regenerating from another one.
SOURCE_COMMIT = "7c1300c"

# The operations the local cloud serves (localcloud/API.md, "Endpoints"), as the spec names their paths.
SERVED: dict[str, tuple[str, ...]] = {
    "/v2/account": ("get",),
    "/v2/account/keys": ("get", "post"),
    "/v2/account/keys/{ssh_key_identifier}": ("get", "put", "delete"),
    "/v2/actions": ("get",),
    "/v2/actions/{action_id}": ("get",),
    "/v2/domains": ("get", "post"),
    "/v2/domains/{domain_name}": ("get", "delete"),
    "/v2/domains/{domain_name}/records": ("get", "post"),
    "/v2/domains/{domain_name}/records/{domain_record_id}": ("get", "patch", "put", "delete"),
    "/v2/droplets": ("get", "post", "delete"),
    "/v2/droplets/{droplet_id}": ("get", "delete"),
    "/v2/droplets/{droplet_id}/actions": ("get", "post"),
    "/v2/droplets/{droplet_id}/actions/{action_id}": ("get",),
    "/v2/droplets/{droplet_id}/snapshots": ("get",),
    "/v2/images": ("get",),
    "/v2/images/{image_id}": ("get", "delete"),
    "/v2/regions": ("get",),
    "/v2/reserved_ips": ("get", "post"),
    "/v2/reserved_ips/{reserved_ip}": ("get", "delete"),
    "/v2/reserved_ips/{reserved_ip}/actions": ("get", "post"),
    "/v2/reserved_ips/{reserved_ip}/actions/{action_id}": ("get",),
    "/v2/sizes": ("get",),
    "/v2/snapshots": ("get",),
    "/v2/snapshots/{snapshot_id}": ("get", "delete"),
    "/v2/tags": ("get", "post"),
    "/v2/tags/{tag_id}": ("get", "delete"),
    "/v2/tags/{tag_id}/resources": ("post", "delete"),
}

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
# Documentation only: validation never reads them. `tags` on an operation name top-level tags, which
# are prose; `links` name other operations (some not kept) and are not validated either.
DOC_KEYS = frozenset({"description", "summary", "example", "examples", "externalDocs", "tags", "links"})
# Keys whose value is a map from a user-chosen name to an object: its keys are names, never keywords
# ("description" may well be a property's name), so nothing in such a map is stripped.
NAMED_MAPS = frozenset({
    "properties", "patternProperties", "definitions", "paths", "responses", "content", "headers",
    "encoding", "callbacks", "variables", "mapping", "scopes", "securitySchemes", "schemas",
    "parameters", "requestBodies",
})
# Values that are data, not schema: copied whole (an enum member or a default may be any object).
LITERALS = frozenset({"enum", "default", "const"})


def strip_docs(node: Any, names: bool = False) -> Any:
    """A copy of `node` without documentation keys and `x-` extensions. `names`: node's keys are names."""
    if isinstance(node, dict):
        out: dict[str, Any] = {}
        for key, value in node.items():
            if not names and (key in DOC_KEYS or str(key).startswith("x-")):
                continue
            if not names and key in LITERALS:
                out[key] = value
            else:
                out[key] = strip_docs(value, names=not names and key in NAMED_MAPS)
        return out
    if isinstance(node, list):
        return [strip_docs(v) for v in node]
    return node


def refs_in(node: Any) -> Iterator[str]:
    """Every local reference in `node`: `$ref`s and discriminator mappings."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            elif key == "mapping" and isinstance(value, dict):
                yield from (v for v in value.values() if isinstance(v, str))
            else:
                yield from refs_in(value)
    elif isinstance(node, list):
        for value in node:
            yield from refs_in(value)


def component_of(ref: str) -> tuple[str, str]:
    """'#/components/schemas/droplet' -> ('schemas', 'droplet')."""
    parts = ref.split("/")
    if len(parts) != 4 or parts[:2] != ["#", "components"]:
        raise ValueError(f"not a reference to a component: {ref!r} (is the spec bundled?)")
    return parts[2], parts[3].replace("~1", "/").replace("~0", "~")


def add_response_descriptions(responses: dict[str, Any]) -> None:
    """A Response object must have a description (OpenAPI 3.0): keep the key, empty."""
    for response in responses.values():
        if isinstance(response, dict) and "$ref" not in response:
            response["description"] = ""


def trim(spec: dict[str, Any]) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for path, methods in SERVED.items():
        item = spec["paths"].get(path)
        if item is None:
            raise KeyError(f"{path} is not in the spec")
        kept = {k: v for k, v in item.items() if k not in METHODS or k in methods}
        missing = [m for m in methods if m not in item]
        if missing:
            raise KeyError(f"{path} has no {', '.join(missing)} in the spec")
        paths[path] = strip_docs(kept)
        for op in (paths[path][m] for m in methods):
            add_response_descriptions(op.get("responses", {}))

    components: dict[str, dict[str, Any]] = {
        "securitySchemes": strip_docs(spec["components"].get("securitySchemes", {}), names=True),
    }
    todo = sorted(set(refs_in(paths)))
    seen: set[str] = set()
    while todo:
        ref = todo.pop()
        if ref in seen:
            continue
        seen.add(ref)
        section, name = component_of(ref)
        node = strip_docs(spec["components"][section][name])
        if section == "responses":
            add_response_descriptions({name: node})
        components.setdefault(section, {})[name] = node
        todo.extend(r for r in refs_in(node) if r not in seen)

    info = spec["info"]
    return {
        "openapi": spec["openapi"],
        "info": {"title": info["title"], "version": info["version"], "license": info["license"]},
        "servers": [{"url": s["url"]} for s in spec.get("servers", [])],
        "security": spec.get("security", []),
        "paths": paths,
        "components": components,
    }


class _Dumper(yaml.SafeDumper):
    def ignore_aliases(self, data: Any) -> bool:
        return True  # no &anchors: the copy reads as plain YAML


def render(spec: dict[str, Any], *, source_sha256: str, source_commit: str) -> str:
    license_ = spec["info"]["license"]
    header = [
        "# DigitalOcean's API v2 OpenAPI spec, trimmed to the operations the local cloud serves.",
        "# GENERATED by scripts/trim_do_openapi.py: do not edit; regenerate from the full spec.",
        f"# Source: {SOURCE_REPO} @ {source_commit}, specification/DigitalOcean-public.v2.yaml,",
        "#   bundled with redocly (`make bundle` in that repository);"
        f" sha256 of the bundled file: {source_sha256}",
        f"# License: {license_['name']} ({license_['url']}); see NOTICE and LICENSE-Apache-2.0.txt beside this file.",
        "# Modified from the source: other paths and methods, unreferenced components, descriptions, summaries,",
        "#   examples, tags, links and x- extensions removed; response descriptions emptied. Nothing else changed.",
    ]
    body = yaml.dump(spec, Dumper=_Dumper, sort_keys=True, default_flow_style=False, allow_unicode=True, width=120)
    return "\n".join(header) + "\n" + body


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("spec", type=Path, help="DigitalOcean's bundled spec (one YAML file)")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--source-commit", default=SOURCE_COMMIT, help="the digitalocean/openapi commit it comes from")
    parser.add_argument("--check", action="store_true", help="compare with --out instead of writing; exit 1 if stale")
    args = parser.parse_args(argv)

    raw = args.spec.read_bytes()
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    full = yaml.load(raw, Loader=loader)  # noqa: S506 - a safe loader
    trimmed = trim(full)
    text = render(trimmed, source_sha256=hashlib.sha256(raw).hexdigest(), source_commit=args.source_commit)
    if args.check:
        current = args.out.read_text() if args.out.exists() else ""
        if current != text:
            print(f"{args.out} is not what {args.spec} gives: regenerate it", file=sys.stderr)
            return 1
        print(f"{args.out} is up to date")
        return 0
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    kinds = ", ".join(f"{len(v)} {k}" for k, v in sorted(trimmed["components"].items()))
    print(f"{args.out}: {len(text.encode())} bytes, {sum(len(m) for m in SERVED.values())} operations, {kinds}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
