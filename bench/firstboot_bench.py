"""Benchmark (not a test): the first-boot agent on identical local droplets, same snapshot, same images.

1. boot → gates passed, by phase (a droplet from the snapshot with rendered user-data, no cutover), and
   its irreducible work: database ready (start-data) + module install + Odoo ready (start-app until the
   first passing health_internal probe in healthcheck.log).
2. failed gate → prior tag serving (tag 18.0-crashloop): from the end of the failed verify to the end of
   the rollback's verify (every gate passed on 18.0-prior).
3. the PRD runbook (reference/seed/ODOO18_DO_FRESH_REDEPLOY.md, section 7.2, steps 4–8) replayed
   literally on an identical droplet, after its own agent finished and its stack was wiped (compose down
   -v): pull + up -d, `sleep 30`, `exec odoo odoo -d DB -i MODULES --stop-after-init`, restart odoo,
   verify (the PRD's verify_prod.sh is not in the reference: the login page through nginx answering 200
   with the form and /web/health?db_server_status=1 answering 200, polled). Ratio = runbook / agent
   (configure → verify passed, the same work from the same starting point).

Droplets run one after another (parallel droplets would share the 2 cores and skew each other).

    .venv/bin/python bench/firstboot_bench.py --snapshot-id ID   # or without: bakes one (odoo-droplet image)

Writes bench/results/firstboot-<UTC time>.json and prints a table.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from localcloud.testing import Api, Boot, boot, make_deploy, make_secrets, wait_active  # noqa: E402

RESULTS = REPO / "bench" / "results"
COMPOSE = "docker compose -p {project} -f /etc/odoo-droplet/stack/docker-compose.yml"


def local_env() -> dict[str, str]:
    out = subprocess.run([sys.executable, "-m", "builder", "local", "env", "--json"], cwd=REPO,
                         capture_output=True, text=True, check=True, timeout=120)
    return {**os.environ, **json.loads(out.stdout)}


def bake(env: dict[str, str]) -> int:
    import secrets

    e = {**env, "DB_PASSWORD": secrets.token_urlsafe(18), "ADMIN_PASSWD": secrets.token_urlsafe(18)}
    out = subprocess.run([sys.executable, "-m", "builder", "image", "--config", "examples/deploy.yaml", "--json"],
                         cwd=REPO, env=e, capture_output=True, text=True, timeout=3600)
    if out.returncode != 0:
        raise SystemExit(f"odoo-droplet image failed:\n{out.stderr[-3000:]}")
    return int(json.loads(out.stdout)["snapshot_id"])


def parse_ts(s: str) -> dt.datetime:
    return dt.datetime.strptime(s, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)


def first_pass(healthcheck_log: str, gate: str, attempt_header: str) -> dt.datetime | None:
    """Time of the first PASS of `gate` after the `# verify` header of the attempt."""
    seen = False
    for line in healthcheck_log.splitlines():
        if line.startswith("# verify"):
            seen = attempt_header in line
            continue
        parts = line.split()
        if seen and len(parts) > 2 and parts[1] == gate and parts[2] == "PASS":
            return parse_ts(parts[0])
    return None


def run_droplet(api: Api, env: dict[str, str], snapshot: int, name: str, **kw: Any) -> tuple[Boot, dict[str, Any]]:
    deploy = make_deploy(env, bucket=f"odl-bench-{name}", dns=False, **kw)
    b = boot(api, name, deploy, make_secrets(env), snapshot)
    wait_active(api, b)
    b.wait_finished(900)
    b.notes["create_to_done"] = time.monotonic() - b.created
    b.notes["create_to_active"] = b.active - b.created
    doc = json.loads(b.read(f"{b.proof_dir}/deploy_status.json") or "{}")
    return b, doc


def phase_span(doc: dict[str, Any], first: str, last: str) -> float:
    ph = doc["phases"]
    return (parse_ts(ph[last]["ended"]) - parse_ts(ph[first]["started"])).total_seconds()


def agent_numbers(b: Boot, doc: dict[str, Any]) -> dict[str, Any]:
    ph = doc["phases"]
    hc = b.read(f"{b.proof_dir}/healthcheck.log") or ""
    ready = first_pass(hc, "health_internal", "(attempt 0)")
    odoo_ready = (ready - parse_ts(ph["start-app"]["started"])).total_seconds() if ready else None
    irreducible = ph["start-data"]["seconds"] + ph["install"]["seconds"] + (odoo_ready or 0.0)
    return {
        "status": doc["status"],
        "phases_s": {k: v["seconds"] for k, v in ph.items()},
        "create_to_active_s": round(b.notes["create_to_active"], 1),
        "create_to_done_s": round(b.notes["create_to_done"], 1),
        "agent_to_gates_passed_s": phase_span(doc, "preflight", "verify"),
        "configure_to_gates_passed_s": phase_span(doc, "configure", "verify"),
        "irreducible_s": round(irreducible, 1),
        "odoo_ready_after_start_app_s": odoo_ready,
        "soak_s": b.deploy.gates.soak_seconds,
    }


RUNBOOK = """
set -e
C="{compose}"
t() {{ date +%s.%N; }}
{compose} down -v --remove-orphans >/dev/null 2>&1
t0=$(t)
# 4. Pull and start
$C pull -q >/dev/null 2>&1 || true
$C up -d >/dev/null 2>&1
t4=$(t)
# 5. Wait for DB ready
sleep 30
t5=$(t)
# 6. Install ship modules
$C exec -T odoo odoo -d {db} -i {modules} --stop-after-init >/dev/null 2>&1
t6=$(t)
# 7. Restart
$C restart odoo >/dev/null 2>&1
t7=$(t)
# 8. Verify (bounded poll: login form through nginx, health with the database)
for i in $(seq 1 600); do
  if curl -sk --resolve {domain}:443:127.0.0.1 https://{domain}/web/login | grep -q oe_login_form \\
     && curl -sfk --resolve {domain}:443:127.0.0.1 "https://{domain}/web/health" >/dev/null \\
     && curl -sf "http://127.0.0.1:8069/web/health?db_server_status=1" >/dev/null; then break; fi
  sleep 0.2
done
t8=$(t)
echo "$t0 $t4 $t5 $t6 $t7 $t8"
"""


def runbook(b: Boot) -> dict[str, float]:
    d = b.deploy
    script = RUNBOOK.format(compose=COMPOSE.format(project=d.project), db=d.odoo.database,
                            modules=",".join(d.odoo.modules), domain=d.edge.domain or "localhost")
    t = [float(x) for x in b.sh(script, timeout=900).split()]
    steps = {"4 pull + up -d": t[1] - t[0], "5 sleep 30": t[2] - t[1], "6 odoo -i": t[3] - t[2],
             "7 restart odoo": t[4] - t[3], "8 verify": t[5] - t[4]}
    return {**{k: round(v, 1) for k, v in steps.items()}, "total": round(t[5] - t[0], 1)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--snapshot-id", type=int, help="an existing snapshot (default: bake one now)")
    ap.add_argument("--soak", type=int, default=3, help="gates.soak_seconds for the droplets (default 3)")
    args = ap.parse_args()
    env = local_env()
    api = Api(env)
    snapshot = args.snapshot_id or bake(env)
    baked = args.snapshot_id is None
    made: list[Boot] = []
    try:
        good, good_doc = run_droplet(api, env, snapshot, "good", soak=args.soak, timeout=120)
        made.append(good)
        agent = agent_numbers(good, good_doc)

        bad, bad_doc = run_droplet(api, env, snapshot, "crashloop", tag="18.0-crashloop", soak=args.soak,
                                   timeout=90)
        made.append(bad)
        ph = bad_doc["phases"]
        rollback = {
            "status": bad_doc["status"],
            "failed_verify_s": ph["verify"]["seconds"],
            "failed_gate_to_prior_serving_s": (parse_ts(ph["rollback:verify"]["ended"])
                                               - parse_ts(ph["verify"]["ended"])).total_seconds(),
            "phases_s": {k: v["seconds"] for k, v in ph.items()},
        }

        twin, twin_doc = run_droplet(api, env, snapshot, "runbook", soak=args.soak, timeout=120)
        made.append(twin)
        twin_agent = agent_numbers(twin, twin_doc)
        rb = runbook(twin)
    finally:
        for b in made:
            api.cloud.delete_droplet(b.droplet_id)
        if baked:
            api.cloud.delete_image(snapshot)  # ours alone: baked for this run

    agent_s = agent["configure_to_gates_passed_s"]
    result = {
        "when": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": {"cpus": os.cpu_count()},
        "snapshot_id": snapshot,
        "agent": agent,
        "agent_twin": twin_agent,
        "rollback": rollback,
        "runbook": rb,
        "ratio_runbook_over_agent": round(rb["total"] / agent_s, 2) if agent_s else None,
        "ratio_agent_over_irreducible": round(agent["agent_to_gates_passed_s"] / agent["irreducible_s"], 2)
        if agent["irreducible_s"] else None,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"firstboot-{result['when'].replace(':', '')}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")

    rows = [("droplet create → active", agent["create_to_active_s"]),
            ("droplet create → agent done", agent["create_to_done_s"])]
    rows += [(f"  phase {k}", v) for k, v in agent["phases_s"].items()]
    rows += [("agent: preflight → gates passed", agent["agent_to_gates_passed_s"]),
             ("agent: configure → gates passed", agent_s),
             ("irreducible (db ready + install + odoo ready)", agent["irreducible_s"]),
             ("crashloop: failed verify", rollback["failed_verify_s"]),
             ("crashloop: failed gate → prior tag serving", rollback["failed_gate_to_prior_serving_s"])]
    rows += [(f"runbook step {k}", v) for k, v in rb.items() if k != "total"]
    rows += [("runbook steps 4–8 total", rb["total"])]
    print(f"{'measure':<52} {'seconds':>8}")
    for k, v in rows:
        print(f"{k:<52} {v:>8.1f}")
    print(f"ratio runbook / agent (configure → gates passed): {result['ratio_runbook_over_agent']}")
    print(f"ratio agent (preflight → gates) / irreducible:    {result['ratio_agent_over_irreducible']}")
    print(f"written: {out.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
