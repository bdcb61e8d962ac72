"""Files the CLI reads at run time, shipped inside the package (package data in pyproject.toml), so an
installed `odoo-droplet` (pip, pipx: a wheel, no checkout) finds them where it finds its modules.

- `cloudinit/user-data.yaml.tmpl`: the skeleton of a droplet's user-data (builder/userdata.py). A folder,
  never a package: a Python package named `cloudinit` would shadow cloud-init's own on a droplet.
- `images/`: the Packer template and its provisioning scripts (builder/packer.py renders them into
  `DIR/packer/`).

Paths are taken relative to this file (a wheel installs as plain files: `importlib.resources` would give the
same folder), never from the checkout root. `tests/unit/test_package_data.py` holds every such read to the
wheel's package data.
"""

from __future__ import annotations

from pathlib import Path

ASSETS = Path(__file__).resolve().parent
CLOUDINIT = ASSETS / "cloudinit"
IMAGES = ASSETS / "images"
