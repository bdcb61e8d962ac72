#!/bin/sh
# Login message (install as /etc/update-motd.d/90-odoo-droplet, mode 0755): where the generated
# passwords are when the droplet had no user-data, and how the first boot went. Prints no secret.
CRED=${ODL_CREDENTIALS:-/root/odoo-droplet-credentials}
STATE=${ODL_STATE:-/var/lib/odoo-droplet/state.json}
echo
echo "odoo-droplet"
if [ -f "$CRED" ]; then
    echo "  This droplet was created without user-data: it runs on the snapshot's defaults"
    echo "  with a self-signed certificate and no reserved IP or DNS cutover."
    echo "  Generated passwords (Odoo master password, PostgreSQL): $CRED (root only, 0600)"
fi
if [ -r "$STATE" ]; then
    status=$(sed -n 's/^ *"status": "\{0,1\}\([a-z_]*\)"\{0,1\},\{0,1\}$/\1/p' "$STATE" | head -n 1)
    deploy=$(sed -n 's/^ *"deploy_id": "\(deploy-[0-9-]*\)",\{0,1\}$/\1/p' "$STATE" | head -n 1)
    [ "$status" = "null" ] && status=""
    echo "  First boot ${deploy:-?}: ${status:-in progress}  (python3 -m firstboot.agent status; proofs in /var/lib/odoo-droplet/proofs/)"
    echo "  Agent log: journalctl -u odoo-droplet-firstboot, /var/log/odoo-droplet/firstboot.log"
else
    echo "  First boot has not started yet (systemctl status odoo-droplet-firstboot)."
fi
echo
