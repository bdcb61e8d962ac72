#!/usr/bin/env bash
# make demo: the whole flow on the local cloud, from nothing.
#   1. start the local cloud (DigitalOcean API v2 on Docker, registry, Spaces)
#   2. bake the snapshot with the project's own Packer template
#   3. deploy it: gates pass, proofs in Spaces, the reserved IP moves to the new droplet
#   4. deploy a broken tag: it rolls back on its own, the reserved IP stays where it was
#   5. verify from outside and show where the proofs are
set -euo pipefail
cd "$(dirname "$0")/.."
CLI=.venv/bin/odoo-droplet
CONFIG=${CONFIG:-examples/deploy.yaml}
t0=$(date +%s)
step() { printf '\n== %s (%ss)\n' "$1" "$(( $(date +%s) - t0 ))"; }

step "local cloud"
$CLI local up
eval "$($CLI local env)"

# Demo secrets: generated once, kept in a git-ignored file, never printed.
mkdir -p .state && chmod 700 .state
if [ ! -f .state/demo.env ]; then
  umask 077
  {
    echo "DB_PASSWORD=$(openssl rand -hex 16)"
    echo "ADMIN_PASSWD=$(openssl rand -hex 16)"
  } > .state/demo.env
fi
set -a; . .state/demo.env; set +a

step "image: Packer bakes the snapshot"
$CLI image --config "$CONFIG"

step "deploy: a healthy droplet takes the reserved IP"
$CLI droplet --config "$CONFIG"

step "deploy a broken tag (18.0-crashloop): it must roll back and leave the reserved IP alone"
set +e
$CLI droplet --config "$CONFIG" --tag 18.0-crashloop
code=$?
set -e
if [ "$code" -ne 1 ]; then echo "demo: the broken deploy should have exited 1, got $code" >&2; exit 1; fi

step "verify from outside, through the reserved IP"
$CLI verify --config "$CONFIG"

step "status"
$CLI status --config "$CONFIG"
printf '\ndemo finished in %ss. Proofs: s3://odoo-demo-proofs/proofs/ at %s (local Spaces);\n' "$(( $(date +%s) - t0 ))" "$SPACES_ENDPOINT"
echo 'read one with: eval "$(.venv/bin/odoo-droplet local env)"; .venv/bin/odoo-droplet status --config examples/deploy.yaml'
