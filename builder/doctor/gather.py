"""All command outputs -> one `DoctorFacts`. Pure: the SSH channel runs `commands_for(target)` and hands
the outputs here by command name; the outside probes arrive as `EdgeFacts`.

A command that failed, or printed what its parser does not understand, leaves its fact at None and
its reason in `DoctorFacts.errors`; one bad output never hides the others.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import TypeVar

from builder.doctor import commands as c
from builder.doctor.classify import classify_nginx_log, classify_odoo_log
from builder.doctor.facts import CommandOutput, DoctorFacts, EdgeFacts
from builder.doctor.parse_docker import ParseError, merge_services, parse_compose_ps, parse_inspect
from builder.doctor.parse_host import parse_df, parse_free, parse_proc_net_tcp, parse_ss
from builder.doctor.parse_nginx import parse_nginx_site, parse_nginx_test
from builder.doctor.parse_odoo import (
    parse_deploy_status,
    parse_odoo_conf,
    parse_pending_modules,
    parse_pg_connections,
    parse_pg_ready,
)
from builder.doctor.target import DoctorTarget

T = TypeVar("T")
_GREP_NO_MATCH = 1  # grep: 1 = nothing matched (a file with none of the keys), 2 = an error
_PG_ISREADY_CODES = (0, 1, 2, 3)  # accepting, rejecting, no response, no attempt
_NGINX_T_CODES = (0, 1)  # passed, failed: anything else is the channel's failure, not nginx's verdict


def _why(out: CommandOutput) -> str:
    first = (out.stderr.strip() or out.stdout.strip()).splitlines()
    return f"exit {out.returncode}: {first[0][:200]}" if first else f"exit {out.returncode}"


def parse_all(
    outputs: Mapping[str, CommandOutput],
    *,
    target: DoctorTarget,
    now: dt.datetime,
    edge: EdgeFacts | None = None,
) -> DoctorFacts:
    errors: list[tuple[str, str]] = []

    def parsed(name: str, parse: Callable[[CommandOutput], T], ok_codes: tuple[int, ...] = (0,)) -> T | None:
        out = outputs.get(name)
        if out is None:
            errors.append((name, "not run"))
            return None
        if out.returncode not in ok_codes:
            errors.append((name, _why(out)))
            return None
        try:
            return parse(out)
        except (ParseError, ValueError) as e:
            # A failing command that printed nothing usable: its own message says more than the parser's.
            errors.append((name, _why(out) if out.returncode else f"unreadable output: {e}"))
            return None

    ps = parsed(c.COMPOSE_PS, lambda o: parse_compose_ps(o.stdout))
    # docker inspect exits 1 when one of the names has no container, and still prints the others.
    inspect = parsed(c.DOCKER_INSPECT, lambda o: parse_inspect(o.stdout), (0, 1))
    services = None
    if ps is not None or inspect is not None:
        services = merge_services(target.services, ps or [], inspect or [])

    pg = outputs.get(c.PG_READY)
    pg_ready: bool | None = None
    pg_text = ""
    if pg is None:
        errors.append((c.PG_READY, "not run"))
    elif pg.returncode in _PG_ISREADY_CODES:  # 1 is also compose's "service is not running": not ready either
        pg_ready, pg_text = parse_pg_ready(pg.returncode, pg.stdout or pg.stderr)
    else:  # ssh failed (255), timed out (124), no such program (127): nothing was learnt about PostgreSQL
        errors.append((c.PG_READY, _why(pg)))

    deploy = parsed(c.DEPLOY_STATUS, lambda o: parse_deploy_status(o.stdout), (0, 1))
    db_events = parsed(c.DB_LOG, lambda o: classify_odoo_log(o.stdout + o.stderr)) \
        if target.postgres_selfhost else ()

    return DoctorFacts(
        target=target,
        now=now,
        services=services,
        # cat exits 1 when the container has no tcp6 table (IPv6 off) after printing tcp: still a fact.
        odoo_sockets=parsed(c.ODOO_SOCKETS, lambda o: parse_proc_net_tcp(o.stdout), (0, 1)),
        host_sockets=parsed(c.HOST_SOCKETS, lambda o: parse_ss(o.stdout)),
        # nginx -t reports on stderr and its exit status is the verdict: a failing test is a fact too.
        nginx_test=parsed(c.NGINX_TEST, lambda o: parse_nginx_test(o.returncode, o.stderr + o.stdout),
                          _NGINX_T_CODES),
        nginx_site=parsed(c.NGINX_SITE, lambda o: parse_nginx_site(o.stdout)),
        nginx_events=parsed(c.NGINX_ERROR_LOG, lambda o: classify_nginx_log(o.stdout)),
        # compose logs interleaves the container's stdout and stderr on its own stdout.
        odoo_events=parsed(c.ODOO_LOG, lambda o: classify_odoo_log(o.stdout + o.stderr)),
        db_events=db_events,
        odoo_conf=parsed(c.ODOO_CONF, lambda o: parse_odoo_conf(o.stdout), (0, _GREP_NO_MATCH)),
        pg_ready=pg_ready,
        pg_ready_text=pg_text,
        pg_connections=parsed(c.PG_CONNECTIONS, lambda o: parse_pg_connections(o.stdout)),
        pending_modules=parsed(c.PG_MODULES, lambda o: parse_pending_modules(o.stdout)),
        disks=parsed(c.DISK, lambda o: parse_df(o.stdout)),
        memory=parsed(c.MEMORY, lambda o: parse_free(o.stdout)),
        deploy_status=deploy,
        edge=edge or EdgeFacts(),
        errors=tuple(errors),
    )
