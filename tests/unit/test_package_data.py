"""Every file the code reads at run time ships in the wheel (issue 13: a tool that installs like one).

The code finds its files relative to its own modules (`Path(__file__)`), so an installed `odoo-droplet`
(pip, pipx: no checkout) reads its own copies in site-packages. Here, without building anything:

- every module that looks beside itself (`__file__`) is listed below, with the module-level paths it reads,
  or with the reason it reads no data file; a new one fails until it is listed;
- those paths lie inside their own package (never the checkout root above it) and exist;
- every file under them is in what setuptools puts in the wheel (pyproject.toml's package-data table, as
  setuptools' own build_py computes it);
- what the local cloud needs at run time (moto's server) is a dependency, not a dev extra.

tests/integration/test_wheel_install.py builds the wheel, installs it in a fresh venv and runs the CLI.
"""

from __future__ import annotations

import importlib
import os
import re
import tomllib
import warnings
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("builder", "firstboot", "localcloud")

# module -> the module-level paths (attribute names) it reads at run time, found relative to its own file.
RUNTIME_PATHS: dict[str, tuple[str, ...]] = {
    "builder.assets": ("ASSETS", "CLOUDINIT", "IMAGES"),
    "builder.packer": ("TEMPLATE", "SCRIPTS", "FIRSTBOOT_DIR"),
    "builder.userdata": ("TEMPLATE",),
    "localcloud.docker_backend.images": ("BASE_DIR",),
    "localcloud.docker_backend.metadata": ("SERVER_DIR",),
    "localcloud.services.spaces": ("SPACES_SCRIPT",),
    "localcloud.services.standins": ("IMAGES_DIR",),
}
# module -> why its use of `__file__` reads no data file.
NOT_DATA: dict[str, str] = {
    "builder.gitinfo": "git metadata, asked only when the modules run from this project's checkout",
    "localcloud.control": "SOURCE_ROOT: the daemon's sys.path entry, the folder that holds the package",
    "localcloud.testing": "the test and bench harness (examples/deploy.yaml of the checkout); not the CLI",
    "localcloud.images.odoo.standin_odoo": "runs inside the stand-in image, its own folder on sys.path",
}
ASSETS_USE = re.compile(r"\bassets\.[A-Z]")
# Spelled anywhere in the run-time packages, these read from a checkout.
CHECKOUT_READS = re.compile(r"REPO_ROOT|\.venv\b|\"examples\"|parents\[[2-9]\]")


def module_name(path: Path) -> str:
    rel = path.relative_to(REPO).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def sources() -> dict[str, str]:
    return {module_name(p): p.read_text() for pkg in PACKAGES for p in sorted((REPO / pkg).rglob("*.py"))
            if "__pycache__" not in p.parts}


def runtime_paths() -> list[tuple[str, str, Path]]:
    found = []
    for name, attrs in RUNTIME_PATHS.items():
        module = importlib.import_module(name)
        found += [(name, attr, Path(getattr(module, attr))) for attr in attrs]
    return found


@pytest.fixture(scope="module")
def shipped() -> set[str]:
    """Paths (relative to the repo) of every file setuptools puts in the wheel: modules and package data,
    computed by setuptools' own build_py from pyproject.toml, with nothing written."""
    setuptools_dist = pytest.importorskip("setuptools.dist")
    pyprojecttoml = pytest.importorskip("setuptools.config.pyprojecttoml")
    cwd = os.getcwd()
    os.chdir(REPO)  # setuptools reads the tree relative to the working directory
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            dist = setuptools_dist.Distribution()
            dist.script_name = "setup.py"  # distutils wants one; nothing runs it
            pyprojecttoml.apply_configuration(dist, "pyproject.toml")
            dist.include_package_data = False  # the package-data table alone (no MANIFEST.in, no SCM plugin)
            build_py = dist.get_command_obj("build_py")
            build_py.ensure_finalized()
            files = {os.path.normpath(os.path.join(src, f))
                     for _pkg, src, _build, names in build_py.data_files for f in names}
            files |= {os.path.normpath(m[2]) for m in build_py.find_all_modules()}
    finally:
        os.chdir(cwd)
    return files


def test_every_module_that_reads_beside_itself_is_listed() -> None:
    """Beside itself: its own `__file__` (or a package's), or builder/assets' folders."""
    found = {name for name, text in sources().items() if "__file__" in text or ASSETS_USE.search(text)}
    assert found - set(RUNTIME_PATHS) - set(NOT_DATA) == set(), \
        "list these modules' run-time paths in RUNTIME_PATHS (or why they read no data in NOT_DATA)"
    assert set(NOT_DATA) - found == set(), "these no longer look beside themselves: drop them from NOT_DATA"


def test_no_module_reads_from_a_checkout() -> None:
    found = [f"{name}: {m.group(0)}" for name, text in sources().items() if name not in NOT_DATA
             for m in CHECKOUT_READS.finditer(text)]
    assert found == []


@pytest.mark.parametrize("name, attr, path", runtime_paths(), ids=lambda v: v if isinstance(v, str) else "")
def test_runtime_paths_lie_inside_the_packages(name: str, attr: str, path: Path) -> None:
    assert any(path.is_relative_to(REPO / pkg) for pkg in PACKAGES), f"{name}.{attr} = {path} is outside the packages"
    assert path.exists(), f"{name}.{attr} = {path} does not exist"


def test_every_file_read_at_run_time_is_in_the_wheel(shipped: set[str]) -> None:
    missing = set()
    for name, attr, path in runtime_paths():
        files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
        files = [p for p in files if "__pycache__" not in p.parts and p.suffix != ".pyc"]
        assert files, f"{name}.{attr}: nothing there"
        missing |= {f"{p.relative_to(REPO)} ({name}.{attr})" for p in files if str(p.relative_to(REPO)) not in shipped}
    assert sorted(missing) == [], "add them to [tool.setuptools.package-data] in pyproject.toml"


def test_the_agents_own_files_and_the_spec_are_in_the_wheel(shipped: set[str]) -> None:
    """Read by path on the droplet or by tests, not through a module constant: named here."""
    for rel in ("firstboot/motd.sh", "firstboot/contract/paths.env", "firstboot/contract/deploy_status.schema.json",
                "firstboot/systemd/odoo-droplet-firstboot.service", "localcloud/openapi/DigitalOcean-public.v2.trimmed.yaml",
                "localcloud/openapi/NOTICE", "localcloud/openapi/LICENSE-Apache-2.0.txt"):
        assert rel in shipped, rel
    for unit in (REPO / "firstboot" / "systemd").iterdir():
        assert str(unit.relative_to(REPO)) in shipped, unit


def test_what_local_up_runs_is_a_dependency_not_a_dev_extra() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    names = [re.split(r"[<>=!~;\s]", d, maxsplit=1)[0] for d in project["dependencies"]]
    assert "moto[server]" in names  # the Spaces stand-in (localcloud/services/spaces_moto.py) runs moto's server
    dev = [re.split(r"[<>=!~;\s\[]", d, maxsplit=1)[0] for d in project["optional-dependencies"]["dev"]]
    assert "moto" not in dev
    assert project["scripts"] == {"odoo-droplet": "builder.cli:main"}
