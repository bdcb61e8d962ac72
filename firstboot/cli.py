"""The first-boot agent's command line: `python3 -m firstboot.agent run|resume|status|publish`.

The shell around the core: real adapters (commands, HTTP, clock, metadata, host resources), the lock,
the log. systemd runs it (firstboot/systemd/).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

from firstboot.clock import SystemClock
from firstboot.contract.layout import Layout
from firstboot.core import Agent
from firstboot.dnsretry import NONE as DNS_NONE
from firstboot.dnsretry import WAITING as DNS_WAITING
from firstboot.dnsretry import retry_pending_dns
from firstboot.inputs import Inputs, load_inputs
from firstboot.lock import acquire_lock
from firstboot.logs import setup_logging
from firstboot.metadata import DEFAULT_BASE, Metadata
from firstboot.probes import LoopbackHttp, run_command
from firstboot.proof import STATUS, build_status
from firstboot.state import load_state

log = logging.getLogger("odoo-droplet")

DESCRIPTION = ("The first-boot agent: brings the stack up, proves it healthy, rolls back on its own, "
               "leaves proofs, and only then takes traffic.")
EX_TEMPFAIL = 75  # publish: uploads (or the DNS record) still wait; the timer tries again


def build_agent(layout: Layout, inputs: Inputs, metadata_url: str | None = None) -> Agent:
    from firstboot import host

    md_url = metadata_url or os.environ.get("ODL_METADATA_URL") or DEFAULT_BASE
    return Agent(layout, inputs, run_command, LoopbackHttp(), SystemClock(), resources=host.resources,
                 free_disk_gb=host.disk_free_gb, metadata=lambda: Metadata(md_url))


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python3 -m firstboot.agent", description=DESCRIPTION)
    ap.add_argument("command", choices=("run", "resume", "status", "publish"),
                    help="run: start or continue the deploy; resume: continue one that was interrupted; "
                         "status: print status.json; publish: upload what waits in the outbox and retry "
                         "a DNS record the cutover could not set")
    ap.add_argument("--root", default=os.environ.get("ODL_ROOT", "/"), help="file-system root (tests)")
    return ap


def status(layout: Layout) -> int:
    st = load_state(layout.state_json)
    if st is None:
        print(json.dumps({"status": None, "message": "the agent has not run yet"}))
        return 1
    path = layout.proof_dir(st.deploy_id) / STATUS
    print(path.read_text() if path.exists() else json.dumps(build_status(st, SystemClock().now())))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    layout = Layout(Path(args.root))

    if args.command == "status":
        return status(layout)
    if args.command == "publish" and not layout.secrets_env.exists():
        return 0  # no user-data: no Spaces, proofs stay on the droplet; never generate credentials here
    lock = acquire_lock(layout, wait=args.command != "publish")
    if lock is None:
        if args.command == "publish":
            return 0  # the agent is running and drains the outbox itself
        print("another agent holds", layout.lock_file, file=sys.stderr)
        return 1
    inputs = load_inputs(layout)
    setup_logging(layout, inputs.secrets)
    agent = build_agent(layout, inputs)

    if args.command == "publish":
        # The DNS record first: its outcome rewrites the proofs, which then go up with the rest.
        dns = retry_pending_dns(agent)
        if agent.spaces_factory() is None:
            return EX_TEMPFAIL if dns == DNS_WAITING else 0
        done, errors = agent.drain_outbox()
        log.info("publish: %d uploaded, %d waiting%s", len(done), len(errors),
                 f"; DNS record {dns}" if dns != DNS_NONE else "")
        return 0 if not errors and dns != DNS_WAITING else EX_TEMPFAIL

    if args.command == "resume" and load_state(layout.state_json) is None:
        print("nothing to resume: no state at", layout.state_json, file=sys.stderr)
        return 1
    st = agent.run_all()
    log.info("deploy %s: %s", st.deploy_id, st.status)
    # The unit succeeds when the agent finished its work, whatever the verdict: a rolled-back or failed
    # deploy is a recorded outcome, not a crash to restart.
    return 0
