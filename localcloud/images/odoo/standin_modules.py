"""Module resolution as Odoo 18 does it (stand-in; pure functions over manifests, plus the folder scan).

Where modules come from (`odoo/modules/module.py`): Odoo's own modules, every folder on `addons_path` holding
a `__manifest__.py`, and addons installed with pip, which land in `<site-packages>/odoo/addons/<name>` (the
`odoo.addons` namespace package). A manifest is data: Odoo reads it with `ast.literal_eval`, never imports
it, and so does this. The first place that holds a name wins (Odoo walks `odoo.addons.__path__` in order);
here Odoo's own modules come first, then `addons_path` in its order, then pip's folders.

What an install does (`ir.module.module.button_install` / `_state_update`, `odoo/modules/loading.py`): the
asked modules and their dependencies are marked `to install`, all or nothing: a dependency Odoo cannot find
raises "You try to install module X that depends on module Y. But the latter module is not available in
your system." and nothing of that request is installed; then auto-install modules whose dependencies are all
there join; modules load dependencies first. `-u` (`button_upgrade`) marks the installed modules asked for and
every installed module depending on them `to upgrade`; dependencies a new version added are installed.
"""

from __future__ import annotations

import ast
import os
from collections.abc import Iterable
from dataclasses import dataclass

SERIE = "18.0"
MODULE_VERSION = "18.0.1.0"

# Real Odoo 18.0 Community module names (a subset of the addons shipped with the 18.0 image).
KNOWN_MODULES = (
    "base",
    "web",
    "bus",
    "base_setup",
    "base_import",
    "web_tour",
    "web_editor",
    "html_editor",
    "auth_signup",
    "mail",
    "contacts",
    "calendar",
    "resource",
    "uom",
    "product",
    "analytic",
    "utm",
    "digest",
    "portal",
    "phone_validation",
    "sms",
    "iap",
    "http_routing",
    "sales_team",
    "payment",
    "account",
    "account_payment",
    "sale",
    "sale_management",
    "purchase",
    "stock",
    "stock_account",
    "sale_stock",
    "purchase_stock",
    "crm",
    "project",
    "hr",
    "hr_timesheet",
    "hr_holidays",
    "hr_expense",
    "website",
    "website_sale",
    "mrp",
    "point_of_sale",
    "l10n_generic_coa",
    "fleet",
    "lunch",
    "maintenance",
    "survey",
    "event",
    "mass_mailing",
    "note",
    "im_livechat",
)
# Modules installed with base on a new database (auto_install with only base-level dependencies).
BASE_AUTO_INSTALL = ("base", "web", "bus", "base_setup", "base_import", "web_tour", "html_editor", "auth_signup")
# Enough of the real dependency graph that `-i sale` leaves what Odoo would leave installed.
DEPENDS: dict[str, tuple[str, ...]] = {
    "mail": ("base", "web", "bus"),
    "contacts": ("mail",),
    "calendar": ("mail",),
    "product": ("mail", "uom"),
    "sales_team": ("mail",),
    "account": ("product", "analytic", "portal", "digest"),
    "account_payment": ("account", "payment"),
    "payment": ("portal",),
    "portal": ("mail", "http_routing"),
    "sale": ("sales_team", "account_payment", "utm"),
    "sale_management": ("sale", "digest"),
    "purchase": ("account",),
    "stock": ("product",),
    "crm": ("sales_team", "calendar", "utm", "contacts", "phone_validation"),
    "project": ("analytic", "portal", "resource", "digest"),
    "hr": ("resource", "mail", "contacts", "digest", "phone_validation"),
    "website": ("web_editor", "http_routing", "portal"),
}


@dataclass(frozen=True)
class Manifest:
    """What the stand-in keeps of a module's `__manifest__.py` (with Odoo's defaults applied)."""

    name: str
    version: str  # adapted to the serie, as `adapt_version` does: "1.0" -> "18.0.1.0"
    depends: tuple[str, ...]
    auto_install: bool | tuple[str, ...] = False
    installable: bool = True
    shortdesc: str = ""
    summary: str = ""
    author: str = ""
    license: str = "LGPL-3"
    application: bool = False
    path: str | None = None  # None for Odoo's own modules (built into the image)


def with_dependencies(modules: list[str]) -> list[str]:
    """Modules plus what Odoo would install with them (known dependencies and base's auto-install set)."""
    out: list[str] = list(BASE_AUTO_INSTALL)
    todo = list(modules)
    while todo:
        m = todo.pop()
        if m in out:
            continue
        out.append(m)
        todo.extend(DEPENDS.get(m, ()))
    return out


def adapt_version(version: str) -> str:
    """`odoo.modules.module.adapt_version`: prefix the serie unless the version already carries it."""
    if version == SERIE or not version.startswith(SERIE + "."):
        return f"{SERIE}.{version}"
    return version


def builtin_catalogue() -> dict[str, Manifest]:
    """Odoo's own modules, as the image ships them (base's auto-install set depends on base only)."""
    out: dict[str, Manifest] = {}
    for name in KNOWN_MODULES:
        if name == "base":
            depends: tuple[str, ...] = ()
        else:
            depends = DEPENDS.get(name, ("base",))
        out[name] = Manifest(
            name=name,
            version=MODULE_VERSION,
            depends=depends,
            auto_install=name in BASE_AUTO_INSTALL and name != "base",
            shortdesc=name.replace("_", " ").title(),
        )
    return out


def parse_manifest(name: str, text: str, path: str | None = None) -> Manifest:
    """A manifest's text as Odoo reads it (`ast.literal_eval`); ValueError/SyntaxError when it is not data."""
    data = ast.literal_eval(text)
    if not isinstance(data, dict):
        raise ValueError(f"manifest of {name} is not a dict")
    depends = data.get("depends")
    if not depends:
        # Odoo: a module other than base that declares no dependency depends on base.
        depends = [] if name == "base" else ["base"]
    auto = data.get("auto_install", False)
    auto_install: bool | tuple[str, ...] = tuple(auto) if isinstance(auto, list | tuple | set) else bool(auto)
    return Manifest(
        name=name,
        version=adapt_version(str(data.get("version") or "1.0")),
        depends=tuple(str(d) for d in depends),
        auto_install=auto_install,
        installable=bool(data.get("installable", True)),
        shortdesc=str(data.get("name") or name),
        summary=str(data.get("summary") or ""),
        author=str(data.get("author") or ""),
        license=str(data.get("license") or "LGPL-3"),
        application=bool(data.get("application", False)),
        path=path,
    )


def scan_folder(folder: str) -> tuple[dict[str, Manifest], list[str]]:
    """Every sub-folder of `folder` holding a `__manifest__.py`: (manifests, warnings about unreadable ones)."""
    found: dict[str, Manifest] = {}
    warnings: list[str] = []
    try:
        names = sorted(os.listdir(folder))
    except OSError:
        return found, [f"addons path {folder} cannot be read"] if folder else []
    for name in names:
        manifest = os.path.join(folder, name, "__manifest__.py")
        if not os.path.isfile(manifest):
            continue
        try:
            with open(manifest, encoding="utf-8") as fh:
                found[name] = parse_manifest(name, fh.read(), os.path.join(folder, name))
        except (OSError, ValueError, SyntaxError, UnicodeDecodeError) as e:
            warnings.append(f"module {name}: cannot read its manifest {manifest}: {e}")
    return found, warnings


def pip_addons_folders(sys_path: Iterable[str]) -> list[str]:
    """`<entry>/odoo/addons` for each sys.path entry that has one: where `pip install odoo-addon-x` puts x."""
    out: list[str] = []
    for entry in sys_path:
        folder = os.path.join(entry or ".", "odoo", "addons")
        if entry and os.path.isdir(folder) and folder not in out:
            out.append(folder)
    return out


def catalogue(addons_path: list[str], sys_path: Iterable[str]) -> tuple[dict[str, Manifest], list[str]]:
    """Every module Odoo would know here, first place wins: built-ins, addons_path in order, then pip's."""
    out = builtin_catalogue()
    warnings: list[str] = []
    for folder in [*addons_path, *pip_addons_folders(sys_path)]:
        found, warns = scan_folder(folder)
        warnings.extend(warns)
        for name, manifest in found.items():
            out.setdefault(name, manifest)
    return out, warnings


def split_path(value: object) -> list[str]:
    return [p.strip() for p in str(value or "").split(",") if p.strip()]


def dependency_order(cat: dict[str, Manifest], names: Iterable[str]) -> list[str]:
    """`names` ordered so every module comes after its dependencies (Odoo's graph; ties by name)."""
    wanted = set(names)
    order: list[str] = []
    seen: set[str] = set()

    def visit(name: str, stack: tuple[str, ...]) -> None:
        if name in seen or name in stack:
            return  # a cycle loads in the order met, as Odoo's graph leaves it
        for dep in cat[name].depends if name in cat else ():
            if dep in wanted:
                visit(dep, (*stack, name))
        seen.add(name)
        order.append(name)

    for name in sorted(wanted):
        visit(name, ())
    return order


class MissingDependency(Exception):
    """Odoo's UserError from `_state_update` / `button_upgrade` (the whole request is refused)."""


def _closure(cat: dict[str, Manifest], states: dict[str, str], names: Iterable[str], verb: str) -> set[str]:
    """`names` and every dependency not installed yet; MissingDependency when one is unknown or uninstallable."""
    out: set[str] = set()
    todo = list(names)
    while todo:
        name = todo.pop()
        if name in out:
            continue
        out.add(name)
        for dep in cat[name].depends:
            if dep not in cat or not cat[dep].installable:
                if verb == "install":
                    raise MissingDependency(
                        f"You try to install module {name!r} that depends on module {dep!r}.\n"
                        "But the latter module is not available in your system."
                    )
                raise MissingDependency(
                    f"You try to upgrade the module {name} that depends on the module: {dep}.\n"
                    "But this module is not available in your system."
                )
            if states.get(dep) != "installed":
                todo.append(dep)
    return out


def _auto_installs(cat: dict[str, Manifest], present: set[str]) -> set[str]:
    """Auto-install modules whose triggering dependencies are all present (repeated until nothing joins)."""
    added: set[str] = set()
    while True:
        joined = set()
        for name, m in cat.items():
            if name in present or name in added or not m.installable or not m.auto_install:
                continue
            triggers = set(m.auto_install) if isinstance(m.auto_install, tuple) else set(m.depends)
            if triggers <= present | added and all(d in cat for d in m.depends):
                joined.add(name)
        if not joined:
            return added
        # An auto-installed module brings its other dependencies along (button_install does the same).
        for name in joined:
            added |= {d for d in _closure(cat, {n: "installed" for n in present | added}, [name], "install")}


def plan_install(cat: dict[str, Manifest], states: dict[str, str], names: Iterable[str]) -> list[str]:
    """Modules `-i names` installs, dependencies first (installed ones left out). MissingDependency refuses all."""
    asked = [n for n in names if n in cat and states.get(n) != "installed"]
    if not asked:
        return []
    for name in asked:
        if not cat[name].installable:
            raise MissingDependency(f"Module {name!r} is not installable.")
    chosen = _closure(cat, states, asked, "install")
    installed = {n for n, s in states.items() if s == "installed"}
    chosen |= _auto_installs(cat, installed | chosen)
    return dependency_order(cat, chosen - installed)


def plan_upgrade(cat: dict[str, Manifest], states: dict[str, str], names: Iterable[str]) -> tuple[list[str], list[str]]:
    """`-u names`: (modules to upgrade, modules to install), each dependencies first."""
    installed = {n for n, s in states.items() if s == "installed" and n in cat}
    wanted = set(names)
    upgrade = set(installed) if "all" in wanted else installed & wanted
    # Every installed module depending (transitively) on an upgraded one is upgraded too.
    grew = True
    while grew:
        more = {n for n in installed - upgrade if any(d in upgrade for d in cat[n].depends)}
        grew = bool(more)
        upgrade |= more
    new = _closure(cat, states, upgrade, "upgrade") - installed
    return dependency_order(cat, upgrade), dependency_order(cat, new)
