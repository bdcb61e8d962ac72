"""The agent's log: to stderr (the journal, under systemd) and to the log file, secrets redacted."""

from __future__ import annotations

import logging
import sys

from firstboot.config import Secrets
from firstboot.contract.layout import Layout


class RedactingFilter(logging.Filter):
    def __init__(self, secrets: Secrets) -> None:
        super().__init__()
        self.secrets = secrets

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self.secrets.redact(record.getMessage())
        record.args = ()
        return True


def setup_logging(layout: Layout, secrets: Secrets | None) -> None:
    root = logging.getLogger("odoo-droplet")
    root.setLevel(logging.INFO)
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(message)s")
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    try:
        layout.log_dir.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(layout.log_file))
    except OSError:
        pass
    for h in handlers:
        h.setFormatter(fmt)
        if secrets:
            h.addFilter(RedactingFilter(secrets))
        root.addHandler(h)
