"""The local cloud's state folder: where everything it keeps on disk lives, as one object.

`Home` names every path under the folder (state, credentials, the API daemon's files, pids and logs of the
host services, droplets' seeds and metadata records, the registry's storage, Spaces' keys, build contexts).
It is made once where a process starts — `localcloud.control` from its `home` argument, the API daemon
from `--home`, a test from its temporary folder — and passed to whoever needs a path. The environment
variable is read in one place only, `Home.from_env()`, at such a boundary.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

HOME_ENV = "ODL_LOCALCLOUD_HOME"
DEFAULT_HOME = Path("/var/lib/odoo-droplet-localcloud")


@dataclass(frozen=True)
class Home:
    root: Path

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Home:
        """$ODL_LOCALCLOUD_HOME, else the default folder (a process boundary: CLI, bench, tests)."""
        return cls(Path(environ.get(HOME_ENV) or DEFAULT_HOME))

    @classmethod
    def of(cls, home: Home | Path | str) -> Home:
        """A `Home` from what a caller holds: a Home or a folder path."""
        return home if isinstance(home, Home) else cls(Path(home))

    # ------------------------------------------------------------------ the API server

    @property
    def state_file(self) -> Path:
        return self.root / "state.json"

    @property
    def credentials_file(self) -> Path:
        return self.root / "credentials.json"

    @property
    def api_config(self) -> Path:
        return self.root / "api.json"

    @property
    def api_pid(self) -> Path:
        return self.root / "api.pid"

    @property
    def ca_dir(self) -> Path:
        return self.root / "ca"

    @property
    def ssh_key(self) -> Path:
        """The account's SSH key pair (private key 0600; `.pub` beside it), registered in the account's keys
        by `up`, accepted by droplets through their metadata; `env` exports its path as ODL_SSH_KEY."""
        return self.root / "ssh" / "id_ed25519"

    # ------------------------------------------------------------------ host services

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    def log(self, name: str) -> Path:
        return self.logs / f"{name}.log"

    @property
    def run(self) -> Path:
        """Pid files, locks and the registry's generated config."""
        return self.root / "run"

    @property
    def registry_storage(self) -> Path:
        return self.root / "registry"

    @property
    def spaces_credentials(self) -> Path:
        return self.root / "spaces" / "credentials.env"

    # ------------------------------------------------------------------ droplets

    @property
    def seeds(self) -> Path:
        """cloud-init NoCloud seeds, one folder per droplet id."""
        return self.root / "seeds"

    @property
    def metadata_records(self) -> Path:
        """One metadata document per droplet, named by its odl-metadata address."""
        return self.root / "metadata"

    @property
    def build(self) -> Path:
        """Docker build contexts made here (the droplet base image)."""
        return self.root / "build"


def localcloud_home() -> Path:
    """The state folder as a path, from the environment (kept for callers that hold a Path)."""
    return Home.from_env().root
