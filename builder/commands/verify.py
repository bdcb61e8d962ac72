"""`odoo-droplet verify`: run the edge gates from outside and write a proof (locally, and in Spaces)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from builder.commands.options import Subparsers, add_common, utcnow
from builder.errors import EXIT_FAILED, EXIT_OK, Refused, SpacesError
from builder.inputs import load_deploy
from builder.output import Output
from builder.progress import gate_table
from builder.reserved_ip import known_reserved_ip
from builder.spaces import Spaces
from builder.verify import EdgeTarget, edge_checks, verify_report
from firstboot.contract.keys import proof_key
from firstboot.probes import LoopbackHttp

NAME = "verify"
LOCAL_PROOFS = Path(".state/proofs")  # git-ignored, beside the deploy journal


def add_parser(subparsers: Subparsers) -> None:
    p = subparsers.add_parser(NAME, help="run the edge gates from outside and write a proof")
    add_common(p)
    p.add_argument("--address", help="connect here instead of the reserved IP")


def run(args: argparse.Namespace, out: Output) -> int:
    deploy, secrets = load_deploy(args.config, api=True, lenient=True)
    spaces = Spaces.for_deploy(deploy, secrets)
    connect = args.address or known_reserved_ip(deploy, spaces)
    if not connect:
        raise Refused("nothing to verify: give --address, or configure a reserved IP (settings reserved_ip)")
    target = EdgeTarget(connect, deploy.edge.domain or connect)
    results = edge_checks(deploy, target, LoopbackHttp(), timeout=deploy.gates.probe_timeout_seconds)
    report = verify_report(deploy, target, results, utcnow())
    verify_id = str(report["verify_id"])
    local = LOCAL_PROOFS / verify_id / "verify.json"
    local.parent.mkdir(parents=True, exist_ok=True)
    local.write_text(json.dumps(report, indent=2))
    report["proof"] = str(local)
    if spaces is not None:
        key = proof_key(verify_id, "verify.json")
        try:
            spaces.put_json(key, report)
            report["proof"] = spaces.url(key)
        except SpacesError as err:
            out.say(f"  (proof kept locally only: {err})")
    human = "\n".join([f"verify {target.base} via {connect}: {'PASS' if report['overall'] else 'FAIL'}",
                       *gate_table(report), f"  proof: {report['proof']}"])
    out.result(report, human)
    return EXIT_OK if report["overall"] else EXIT_FAILED
