"""The stack's database, as the steps need it: wait for the data services, ask PostgreSQL, drop the
database of a failed fresh install."""

from __future__ import annotations

from firstboot import gates as G
from firstboot.core import Agent
from firstboot.errors import StepFailed
from firstboot.probes import database_exists_query, module_query, parse_module_rows

DATA_READY_SECONDS = 180
POLL_SECONDS = 1.0


def wait_data_ready(agent: Agent) -> None:
    """PostgreSQL accepting connections and Redis answering PONG, polled to a deadline."""
    clock, deploy = agent.clock, agent.deploy
    deadline = clock.monotonic() + DATA_READY_SECONDS
    need_redis = deploy.redis.enabled
    db_ok = redis_ok = False
    while True:
        if not db_ok:
            r = agent.run(agent.compose.pg_isready(deploy), timeout=20)
            db_ok = r.ok and "accepting connections" in r.stdout
        if need_redis and not redis_ok:
            r2 = agent.run(agent.compose.redis_ping(), timeout=20)
            redis_ok = r2.ok and "PONG" in r2.stdout
        if db_ok and (redis_ok or not need_redis):
            return
        if clock.monotonic() >= deadline:
            waiting = [n for n, ok in (("PostgreSQL", db_ok), ("Redis", redis_ok or not need_redis)) if not ok]
            raise StepFailed(f"not ready after {DATA_READY_SECONDS}s: {', '.join(waiting)}")
        clock.sleep(POLL_SECONDS)


def sql(agent: Agent, database: str, query: str) -> G.CommandResult:
    return agent.run(agent.compose.psql(agent.deploy, database), timeout=60, stdin=query)


def database_exists(agent: Agent) -> bool:
    r = sql(agent, "postgres", database_exists_query(agent.deploy.odoo.database))
    if not r.ok:
        raise StepFailed(f"cannot list databases: {r.stderr.strip()[:200]}")
    return r.stdout.strip() == "1"


def module_rows(agent: Agent) -> tuple[list[G.ModuleRow] | None, str]:
    """The requested modules' rows in ir_module_module, or None and why not."""
    r = sql(agent, agent.deploy.odoo.database, module_query(agent.deploy.odoo.modules))
    if not r.ok:
        return None, r.stderr.strip()[:200]
    return parse_module_rows(r.stdout), ""


def drop_database(agent: Agent) -> None:
    deploy = agent.deploy
    db = deploy.odoo.database
    if deploy.postgres.mode == "selfhost":
        r = agent.run(agent.compose.exec("db", "dropdb", "--force", "--if-exists", "-U", deploy.postgres.user, db),
                      timeout=120)
    else:
        r = sql(agent, "postgres", f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE);\n')
    if not r.ok:
        raise StepFailed(f"could not drop database {db}: {r.stderr.strip()[:200]}")
