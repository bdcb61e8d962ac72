"""The first-boot agent's command line: `python3 -m firstboot.agent run|resume|status|publish|backup|verify|restore`.

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

from firstboot.backup.ids import BackupKind, is_backup_id
from firstboot.backup_verify import REFUSED, VerifyOutcome, VerifyRefused, record_verify, verify
from firstboot.backups import (
    FAILED,
    BackupFailed,
    BackupRefused,
    BackupWorld,
    Outcome,
    SubprocessProcesses,
    pending_ids,
    upload_pending,
)
from firstboot.backups import backup as take_backup
from firstboot.clock import SystemClock
from firstboot.contract.layout import Layout
from firstboot.core import Agent
from firstboot.dnsretry import NONE as DNS_NONE
from firstboot.dnsretry import WAITING as DNS_WAITING
from firstboot.dnsretry import retry_pending_dns
from firstboot.inputs import Inputs, load_inputs
from firstboot.lock import acquire_file_lock, acquire_lock
from firstboot.logs import setup_logging
from firstboot.metadata import DEFAULT_BASE, Metadata, MetadataError
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


def backup_world(agent: Agent) -> BackupWorld:
    """The backup's world from the agent's: its layout, settings, state, Spaces and metadata."""
    md = agent.metadata()
    droplet_id = md.droplet_id()  # MetadataError: said by the caller, before anything is taken

    def serving() -> bool | None:
        if agent.deploy.reserved_ip.mode == "none":
            return None
        try:
            return md.get("reserved_ip/ipv4/active").strip().lower() == "true"
        except (MetadataError, OSError, ValueError):
            return None  # cannot tell: a backup too many beats none

    return BackupWorld(agent.layout, agent.deploy, load_state(agent.layout.state_json), SubprocessProcesses(),
                       agent.spaces_factory, agent.clock.now, lambda: droplet_id, serving, agent.compose.base())


def run_backup(layout: Layout, agent: Agent, kind: BackupKind) -> int:
    """0 uploaded (or skipped), 75 kept on the droplet for the publish timer, 1 failed, 2 refused."""
    layout.backups_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    lock = acquire_file_lock(layout.backup_lock_file)
    if lock is None:
        print(json.dumps(Outcome(None, FAILED, None, ["another backup is running"]).to_dict()))
        return 1
    try:
        outcome = take_backup(backup_world(agent), kind)
    except BackupRefused as e:
        print(json.dumps({**Outcome(None, "refused", None, [str(e)]).to_dict()}))
        return 2
    except (BackupFailed, MetadataError) as e:
        print(json.dumps(Outcome(None, FAILED, None, [str(e)]).to_dict()))
        return 1
    print(json.dumps(outcome.to_dict()))
    return 0 if outcome.status in ("uploaded", "skipped") else EX_TEMPFAIL


def run_verify(layout: Layout, agent: Agent, backup_id: str | None, wait: bool) -> int:
    """The restore drill: 0 passed, 1 failed (every problem named), 2 nothing to drill (refused)."""
    layout.backups_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    lock = acquire_file_lock(layout.backup_lock_file, wait)  # never beside a backup (same folder, same disk)
    if lock is None:
        print(json.dumps(VerifyOutcome(backup_id, "failed", problems=["a backup is running: try again"]).to_dict()))
        return 1
    try:
        world = backup_world(agent)
        outcome = verify(world, backup_id)
    except (VerifyRefused, MetadataError) as e:
        print(json.dumps(VerifyOutcome(backup_id, REFUSED, problems=[str(e)]).to_dict()))
        return 2
    finally:
        os.close(lock)
    record_verify(world, outcome)
    print(json.dumps(outcome.to_dict()))
    return 0 if outcome.status == "passed" else 1


def retry_pending_backups(layout: Layout, agent: Agent) -> int:
    """The publish timer's part: upload the sets waiting in the backups' outbox; how many still wait."""
    if not pending_ids(layout):
        return 0
    lock = acquire_file_lock(layout.backup_lock_file)
    if lock is None:
        return 0  # a backup is running and uploads what waits itself
    try:
        world = backup_world(agent)
        outcomes = upload_pending(world)
    except MetadataError as e:
        log.warning("pending backups not retried: %s", e)
        return len(pending_ids(layout))
    finally:
        os.close(lock)  # flock: released with its descriptor
    waiting = [o for o in outcomes.values() if o.status != "uploaded"]
    if outcomes:
        log.info("backups: %d uploaded, %d waiting", len(outcomes) - len(waiting), len(waiting))
    return len(waiting)


def run_restore(layout: Layout, agent: Agent, source: str | None) -> int:
    """`restore BACKUP`: firstboot/restores.py `operator_restore`, wired to this droplet. One JSON line; exit
    0 restored and every gate passed, 1 failed (or the safety backup put back), 2 refused."""
    from firstboot.config import DATABASE_SOURCE_LATEST
    from firstboot.restores import (
        REFUSED,
        OperatorHooks,
        RestoreWorld,
        SafetyBackupRefused,
        operator_restore,
        restore_refusal,
    )
    from firstboot.steps.verify import verify_rounds

    def say(status: str, code: int, problem: str) -> int:
        print(json.dumps({"backup_id": None, "safety_backup_id": None, "status": status, "gates": [],
                          "problems": [problem]}))
        return code

    if not source or not (source == DATABASE_SOURCE_LATEST or is_backup_id(source)):
        return say(REFUSED, 2, f"restore needs a backup id (or latest), got {source!r}")
    why = restore_refusal(agent.deploy)
    if why:
        return say(REFUSED, 2, why)
    agent_lock = acquire_lock(layout, wait=False)
    if agent_lock is None:
        return say("failed", 1, "the deploy agent is running on this droplet: restore when it has finished")
    layout.backups_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    lock = acquire_file_lock(layout.backup_lock_file)
    if lock is None:
        return say("failed", 1, "a backup or restore is running on this droplet")
    try:
        world = backup_world(agent)
    except MetadataError as e:
        return say("failed", 1, f"the metadata service does not answer: {e}")
    restore = RestoreWorld(layout, agent.deploy, agent.procs, agent.spaces_factory, agent.clock.now,
                           agent.compose.base(), jobs=max(1, os.cpu_count() or 1))

    def safety() -> str:
        try:
            outcome = take_backup(world, BackupKind.PRE_UPGRADE)
        except BackupRefused as e:
            raise SafetyBackupRefused(str(e)) from None
        if not outcome.backup_id:
            raise BackupFailed("; ".join(outcome.problems) or "no backup taken")
        return outcome.backup_id

    def gates() -> tuple[bool, list[dict[str, object]]]:
        # The restored database keeps its own admin password: the gate checks the default one is refused.
        outcome, results, _ = verify_rounds(agent, agent.deploy.gates.timeout_seconds, False)
        return outcome == "pass", [{"name": g.name, "passed": g.passed, "detail": g.detail} for g, _ in results]

    hooks = OperatorHooks(
        safety_backup=safety,
        stop_odoo=lambda: agent.run(agent.compose.stop("odoo"), timeout=180).ok,
        start_odoo=lambda: agent.run(agent.compose.up("odoo"), timeout=300).ok,
        gates=gates,
    )
    result, code = operator_restore(restore, source, hooks)
    print(json.dumps(result))
    return code


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python3 -m firstboot.agent", description=DESCRIPTION)
    ap.add_argument("command", choices=("run", "resume", "status", "publish", "backup", "verify", "restore"),
                    help="run: start or continue the deploy; resume: continue one that was interrupted; "
                         "status: print status.json; publish: upload what waits in the outbox (proofs, "
                         "backups) and retry a DNS record the cutover could not set; backup: take a backup "
                         "of the database and filestore and upload it to Spaces (prints one JSON line: "
                         "backup_id, status, location); verify: the restore drill of a backup in Spaces (the "
                         "newest complete one unless --backup) into a scratch database, dropped after, the "
                         "result recorded beside the set (prints one JSON line: backup_id, status, problems); "
                         "restore BACKUP: a safety backup, BACKUP restored in place of the database, every gate, "
                         "the safety backup put back if one fails (prints one JSON line: backup_id, "
                         "safety_backup_id, status, gates)")
    ap.add_argument("source", nargs="?", metavar="BACKUP", help="restore: a backup id, or latest")
    ap.add_argument("--backup", metavar="ID", help="verify: the backup to drill (default: the newest complete one)")
    ap.add_argument("--wait", action="store_true", help="verify: wait for a running backup instead of failing")
    ap.add_argument("--kind", choices=[k.value for k in BackupKind], default=BackupKind.MANUAL.value,
                    help="backup: scheduled (the timer's, subject to retention), manual (kept until deleted), "
                         "pre-upgrade")
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
    if args.command == "backup":
        # Its own lock, not the agent's: a backup may run beside the publish timer, never beside another backup.
        inputs = load_inputs(layout)
        setup_logging(layout, inputs.secrets)
        return run_backup(layout, build_agent(layout, inputs), BackupKind(args.kind))
    if args.command == "verify":
        inputs = load_inputs(layout)
        setup_logging(layout, inputs.secrets)
        return run_verify(layout, build_agent(layout, inputs), args.backup, args.wait)
    if args.command == "restore":
        inputs = load_inputs(layout)
        setup_logging(layout, inputs.secrets)
        return run_restore(layout, build_agent(layout, inputs), args.source)
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
        backups_waiting = retry_pending_backups(layout, agent)
        log.info("publish: %d uploaded, %d waiting%s", len(done), len(errors),
                 f"; DNS record {dns}" if dns != DNS_NONE else "")
        return 0 if not errors and not backups_waiting and dns != DNS_WAITING else EX_TEMPFAIL

    if args.command == "resume" and load_state(layout.state_json) is None:
        print("nothing to resume: no state at", layout.state_json, file=sys.stderr)
        return 1
    st = agent.run_all()
    log.info("deploy %s: %s", st.deploy_id, st.status)
    # The unit succeeds when the agent finished its work, whatever the verdict: a rolled-back or failed
    # deploy is a recorded outcome, not a crash to restart.
    return 0
