"""What doctor looks at on one droplet: its id and address, the compose project and the paths it reads.

The paths default to the droplet layout contract (firstboot/contract/layout.py); the caller fills the rest
from the settings, so a test or a preview can build one with a few fields.
"""

from __future__ import annotations

from dataclasses import dataclass

from firstboot.contract.layout import Layout

_LAYOUT = Layout()

# The services the rendered compose file can hold (firstboot/render/compose.py); redis only when enabled.
ODOO_SERVICE = "odoo"
DB_SERVICE = "db"
REDIS_SERVICE = "redis"


@dataclass(frozen=True)
class DoctorTarget:
    droplet_id: int | None = None
    address: str = ""  # where the operator reaches the droplet over SSH (its public IPv4)
    project: str = "odoo"  # the compose project name (`name:` in docker-compose.yml)
    compose_file: str = str(_LAYOUT.stack_dir / "docker-compose.yml")
    odoo_conf: str = str(_LAYOUT.stack_dir / "odoo.conf")
    nginx_site: str = str(_LAYOUT.nginx_site_enabled)
    nginx_error_log: str = str(_LAYOUT.nginx_error_log)
    proofs_dir: str = str(_LAYOUT.proofs_dir)
    services: tuple[str, ...] = (ODOO_SERVICE, DB_SERVICE, REDIS_SERVICE)
    database: str = "odoo"
    db_user: str = "odoo"
    # selfhost: PostgreSQL is the compose service `db`; managed: a DigitalOcean cluster at db_host.
    postgres_selfhost: bool = True
    db_host: str = "127.0.0.1"
    db_port: int = 5432
    domain: str = ""  # the public name, when the settings have one
    # Where the stack writes: the system, Docker's data (PostgreSQL's and Odoo's volumes), the logs (nginx,
    # the journal, the agent: what fills a disk first). On a droplet often one filesystem; df shows it once.
    disk_paths: tuple[str, ...] = ("/", "/var/lib/docker", str(_LAYOUT.nginx_error_log.parent.parent))
    log_lines: int = 300  # how much of each log doctor reads

    def container_name(self, service: str) -> str:
        """Compose v2 names a service's first container `<project>-<service>-1`."""
        return f"{self.project}-{service}-1"

    @property
    def compose_base(self) -> tuple[str, ...]:
        return ("docker", "compose", "-p", self.project, "-f", self.compose_file)

    @property
    def ssh(self) -> str:
        """How a fix reaches the droplet's shell (the key the droplet was made with, as root)."""
        return f"ssh root@{self.address or '<droplet address>'}"
