#!/bin/sh
# Login message (install as /etc/update-motd.d/90-odoo-droplet, mode 0755): where the generated
# passwords are when the droplet had no user-data, and how the first boot went. Prints no secret.
# The droplet's paths come from the contract's paths file (firstboot/contract/paths.env, installed with
# the agent); ODL_CREDENTIALS and ODL_STATE override two of them for a test.
PATHS_ENV=${ODL_PATHS_ENV:-/opt/odoo-droplet/firstboot/contract/paths.env}
# shellcheck source=/dev/null
[ -r "$PATHS_ENV" ] && . "$PATHS_ENV"
CRED=${ODL_CREDENTIALS:-${ODL_PATH_CREDENTIALS:-}}
STATE=${ODL_STATE:-${ODL_PATH_STATE_JSON:-}}
echo
echo "odoo-droplet"
if [ -f "$CRED" ]; then
    echo "  This droplet was created without user-data: it runs on the snapshot's defaults"
    echo "  with a self-signed certificate and no reserved IP or DNS cutover."
    echo "  Generated passwords (Odoo admin user, master password, PostgreSQL): $CRED (root only, 0600)"
fi
if [ -r "$STATE" ]; then
    status=$(sed -n 's/^ *"status": "\{0,1\}\([a-z_]*\)"\{0,1\},\{0,1\}$/\1/p' "$STATE" | head -n 1)
    deploy=$(sed -n 's/^ *"deploy_id": "\(deploy-[0-9-]*\)",\{0,1\}$/\1/p' "$STATE" | head -n 1)
    [ "$status" = "null" ] && status=""
    echo "  First boot ${deploy:-?}: ${status:-in progress}  (python3 -m firstboot.agent status; proofs in ${ODL_PATH_PROOFS_DIR:-?}/)"
    echo "  Agent log: journalctl -u odoo-droplet-firstboot, ${ODL_PATH_LOG_FILE:-?}"
else
    echo "  First boot has not started yet (systemctl status odoo-droplet-firstboot)."
fi
echo
