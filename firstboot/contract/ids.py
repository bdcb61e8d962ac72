"""Deploy ids: `deploy-YYYYMMDD-HHMMSS` in UTC, made by the operator's CLI or, without user-data, the agent."""

from __future__ import annotations

import datetime as dt
import re

DEPLOY_ID_FORMAT = "deploy-%Y%m%d-%H%M%S"
DEPLOY_ID_PATTERN = re.compile(r"^deploy-\d{8}-\d{6}$")


def deploy_id_for(now: dt.datetime) -> str:
    """The deploy id of a deploy started at `now` (naive times are taken as UTC)."""
    if now.tzinfo is None:
        now = now.replace(tzinfo=dt.UTC)
    return now.astimezone(dt.UTC).strftime(DEPLOY_ID_FORMAT)


def is_deploy_id(value: str) -> bool:
    return bool(DEPLOY_ID_PATTERN.match(value))
