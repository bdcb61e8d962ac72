#!/usr/bin/env bash
# make demo: the whole flow on the local cloud, from nothing.
#   1. start the local cloud (DigitalOcean API v2 on Docker, registry, Spaces)
#   2. bake the snapshot with the project's own Packer template (reused when this commit's snapshot exists)
#   3. deploy it: gates pass, proofs in Spaces, the reserved IP and the DNS record (erp.odoo-demo.test, in the
#      zone `local up` keeps) move to the new droplet
#   4. take a backup on the healthy droplet (backup-now: database and filestore to Spaces) and list it
#   5. deploy a broken tag: it rolls back on its own, the reserved IP stays where it was
#   6. verify from outside and show where the proofs are
#
# Safe to run again: a second run deploys a fresh healthy droplet, which takes the reserved IP, then
# destroys the droplets the previous run left (none of them holds the IP any more), so the cloud ends
# as the first run left it: one healthy droplet holding the reserved IP and one rolled-back droplet,
# both left running for you to look at. The ids are kept in .state/demo/droplets.
# Exit status: 0 when every step showed what it should; non-zero otherwise, naming the step.
set -euo pipefail
cd "$(dirname "$0")/.."
CLI=.venv/bin/odoo-droplet
PY=.venv/bin/python
CONFIG=${CONFIG:-examples/deploy.yaml}
BROKEN_TAG=${BROKEN_TAG:-18.0-crashloop}
STATE=.state/demo
t0=$(date +%s)
current="start"
step_t0=$t0
timeline=()

step() {  # step LABEL DESCRIPTION
  current=$1
  step_t0=$(date +%s)
  printf '\n== %s (at %ss)\n' "$2" "$((step_t0 - t0))"
}
step_done() {  # a line of the final summary: step, its duration, what it showed
  timeline+=("$(printf '  %-16s %5ss  %s' "$current" "$(($(date +%s) - step_t0))" "$1")")
}
# Read one field of a command's JSON result (the CLI's --json contract).
field() { "$PY" -c 'import json,sys; v=json.load(open(sys.argv[1])).get(sys.argv[2]); print("" if v is None else v)' "$1" "$2"; }
# The DNS record of a `droplet --json` result (its `dns`: cutover.dns of the proof), as one line.
dns_of() {
  "$PY" -c 'import json,sys
d = json.load(open(sys.argv[1])).get("dns") or {}
print("%s -> %s (%s at %s)" % (d["record"], d["target"], d["status"], d["at"]) if d else "not moved")' "$1"
}
remember() {  # droplet ids the demo made, for the next run to retire
  [ -n "$1" ] && echo "$1" >>"$STATE/droplets.new"
}
on_exit() {
  code=$?
  if [ "$code" -ne 0 ]; then
    # shellcheck disable=SC2016  # `make demo` is meant literally
    printf '\ndemo FAILED at step "%s" after %ss (exit %s). Running `make demo` again is safe: it retires what this run made.\n' \
      "$current" "$(($(date +%s) - t0))" "$code" >&2
  fi
  # Whatever happened, the droplets this run made are retired by the next one.
  if [ -f "$STATE/droplets.new" ]; then cat "$STATE/droplets.new" >>"$STATE/droplets.pending"; rm -f "$STATE/droplets.new"; fi
}
trap on_exit EXIT

mkdir -p "$STATE" && chmod 700 .state "$STATE"
rm -f "$STATE/droplets.new"

step "local cloud" "local cloud"
$CLI local up
eval "$($CLI local env)"
# Demo secrets: generated once, kept in a git-ignored file, never printed.
if [ ! -f .state/demo.env ]; then
  (umask 077; { echo "DB_PASSWORD=$(openssl rand -hex 16)"; echo "ADMIN_PASSWD=$(openssl rand -hex 16)"; } >.state/demo.env)
fi
set -a
# shellcheck disable=SC1091  # generated just above
. .state/demo.env
set +a
step_done "API $DIGITALOCEAN_API_URL, Spaces $SPACES_ENDPOINT, registry $REGISTRY"

step "image" "image: Packer bakes the snapshot"
$CLI image --config "$CONFIG" --if-missing --json >"$STATE/image.json"
snapshot=$(field "$STATE/image.json" snapshot_id)
name=$(field "$STATE/image.json" snapshot_name)
if [ "$(field "$STATE/image.json" reused)" = "True" ]; then how="reused (this commit's snapshot exists; make image rebakes)"; else how="baked"; fi
echo "snapshot $name ($snapshot): $how"
step_done "snapshot $name $how"

step "healthy deploy" "deploy: a healthy droplet takes the reserved IP"
previous=$(cat "$STATE/droplets" "$STATE/droplets.pending" 2>/dev/null | sort -u | tr '\n' ' ' || true)
set +e
$CLI droplet --config "$CONFIG" --snapshot "$snapshot" --json >"$STATE/healthy.json"
code=$?
set -e
healthy=$(field "$STATE/healthy.json" droplet_id)
remember "$healthy"
rip=$(field "$STATE/healthy.json" reserved_ip)
line="healthy deploy $(field "$STATE/healthy.json" deploy_id): $(field "$STATE/healthy.json" status) on droplet $healthy"
line+=", cutover $(field "$STATE/healthy.json" cutover), reserved IP $rip -> droplet $(field "$STATE/healthy.json" reserved_ip_holder)"
echo "$line"
dns=$(dns_of "$STATE/healthy.json")
echo "  url    $(field "$STATE/healthy.json" url)"
echo "  dns    $dns"
echo "  proofs $(field "$STATE/healthy.json" proofs)"
if [ "$code" -ne 0 ] || [ "$(field "$STATE/healthy.json" reserved_ip_holder)" != "$healthy" ]; then
  echo "demo: the healthy deploy should have succeeded and taken the reserved IP and the DNS record (exit $code): $(field "$STATE/healthy.json" error) dns: $dns" >&2
  exit 1
fi
step_done "success, reserved IP $rip -> droplet $healthy, DNS $dns"

if [ -n "${previous// /}" ]; then
  step "retire previous" "retire the previous run's droplets (none holds the reserved IP now)"
  existing=$($CLI status --config "$CONFIG" --json | "$PY" -c 'import json,sys; print(" ".join(str(d["id"]) for d in json.load(sys.stdin)["droplets"]))')
  gone=()
  for id in $previous; do
    if [ "$id" != "$healthy" ] && [[ " $existing " == *" $id "* ]]; then gone+=("$id"); fi
  done
  if ((${#gone[@]})); then $CLI destroy --config "$CONFIG" "${gone[@]}"; fi
  rm -f "$STATE/droplets" "$STATE/droplets.pending"
  step_done "${#gone[@]} destroyed"
fi

step "backup" "backup: backup-now on the healthy droplet (database and filestore to Spaces), then backups lists it"
set +e
$CLI backup-now --config "$CONFIG" --json >"$STATE/backup.json"
code=$?
set -e
backup_id=$(field "$STATE/backup.json" backup_id)
echo "backup $backup_id: $(field "$STATE/backup.json" status) at $(field "$STATE/backup.json" location) (exit $code)"
if [ "$code" -ne 0 ] || [ -z "$backup_id" ]; then
  echo "demo: backup-now should have uploaded a backup (exit $code): $(field "$STATE/backup.json" error)" >&2
  exit 1
fi
$CLI backups --config "$CONFIG" --json >"$STATE/backups.json"
listed=$("$PY" -c 'import json,sys
doc = json.load(open(sys.argv[1]))
b = next((b for b in doc["backups"] if b["id"] == sys.argv[2]), None)
print("" if b is None else "%s %s, %s bytes, Odoo %s, %s" % (b["id"], b["kind"], b["size_bytes"], b["odoo_version"], b["status"]))' \
  "$STATE/backups.json" "$backup_id")
if [ -z "$listed" ]; then
  echo "demo: backups does not list $backup_id (see $STATE/backups.json)" >&2
  exit 1
fi
echo "  listed: $listed"
step_done "$listed"

step "broken deploy" "deploy a broken tag ($BROKEN_TAG): it must roll back and leave the reserved IP alone"
set +e
$CLI droplet --config "$CONFIG" --snapshot "$snapshot" --tag "$BROKEN_TAG" --json >"$STATE/broken.json"
code=$?
set -e
broken=$(field "$STATE/broken.json" droplet_id)
remember "$broken"
holder=$(field "$STATE/broken.json" reserved_ip_holder)
echo "broken deploy $(field "$STATE/broken.json" deploy_id) ($BROKEN_TAG): $(field "$STATE/broken.json" status) on droplet $broken, exit $code"
echo "  $(field "$STATE/broken.json" error)"
echo "  proofs $(field "$STATE/broken.json" proofs)"
if [ "$code" -ne 1 ] || [ "$(field "$STATE/broken.json" status)" != "rolled_back" ]; then
  echo "demo: the broken deploy should have rolled back and exited 1, got $(field "$STATE/broken.json" status), exit $code" >&2
  exit 1
fi
if [ "$holder" != "$healthy" ]; then
  echo "demo: the reserved IP $rip moved to droplet $holder; it should still point to droplet $healthy" >&2
  exit 1
fi
echo "reserved IP $rip untouched: still droplet $healthy"
step_done "rolled_back, reserved IP $rip untouched (droplet $healthy)"

step "verify" "verify from outside, through the reserved IP"
$CLI verify --config "$CONFIG"
step_done "PASS"

step "status" "status"
$CLI status --config "$CONFIG"
step_done ""

cat "$STATE/droplets.new" >"$STATE/droplets" && rm -f "$STATE/droplets.new"
total=$(($(date +%s) - t0))
printf '\ndemo summary (this machine)\n'
printf '%s\n' "${timeline[@]}"
printf '  %-16s %5ss\n' "total" "$total"
printf '\ndemo finished in %ss. Droplets left running for you: %s (healthy, holds %s) and %s (rolled back).\n' \
  "$total" "$healthy" "$rip" "$broken"
# shellcheck disable=SC2016  # the commands are meant literally
printf 'Backup: %s (in Spaces under backups/; `odoo-droplet backups` lists it, `backups verify` drills it).\n' "$listed"
printf 'DNS record: %s (in the zone the local cloud keeps, as DigitalOcean DNS would).\n' "$dns"
printf 'Proofs: %s and %s (local Spaces at %s).\n' "$(field "$STATE/healthy.json" proofs)" \
  "$(field "$STATE/broken.json" proofs)" "$SPACES_ENDPOINT"
# shellcheck disable=SC2016  # printed for the reader to paste
echo 'Look around: eval "$(.venv/bin/odoo-droplet local env)"; .venv/bin/odoo-droplet status --config examples/deploy.yaml'
