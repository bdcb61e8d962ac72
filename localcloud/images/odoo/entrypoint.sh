#!/bin/bash
# odoo-droplet local stand-in: the official odoo:18.0 image's entrypoint contract (github.com/odoo/docker, 18.0,
# current release). Database settings come from HOST, PORT, USER, PASSWORD (defaults db, 5432, odoo, odoo), and
# are passed as --db_host/--db_port/--db_user/--db_password only when the config file ($ODOO_RC) does not hold
# them: Odoo reads those from the file itself, so with odoo.conf holding the password no secret is on any
# command line (`ps` shows every process's arguments to every user). Waits for PostgreSQL (up to 30 s; the wait
# script too reads the file for what it is not given), then runs `odoo`.
set -e

if [ -v PASSWORD_FILE ]; then
    PASSWORD="$(< "$PASSWORD_FILE")"
fi

: "${HOST:=${DB_PORT_5432_TCP_ADDR:=db}}"
: "${PORT:=${DB_PORT_5432_TCP_PORT:=5432}}"
: "${USER:=${DB_ENV_POSTGRES_USER:=${POSTGRES_USER:=odoo}}}"
: "${PASSWORD:=${DB_ENV_POSTGRES_PASSWORD:=${POSTGRES_PASSWORD:=odoo}}}"

DB_ARGS=()
check_config() {
    param="$1"
    value="$2"
    if ! grep -q -E "^\s*\b${param}\b\s*=" "$ODOO_RC"; then
        DB_ARGS+=("--${param}")
        DB_ARGS+=("${value}")
    fi
}
check_config "db_host" "$HOST"
check_config "db_port" "$PORT"
check_config "db_user" "$USER"
check_config "db_password" "$PASSWORD"

case "$1" in
    -- | odoo)
        shift
        if [[ "$1" == "scaffold" ]]; then
            exec odoo "$@"
        else
            wait-for-psql.py "${DB_ARGS[@]}" --timeout=30
            exec odoo "$@" "${DB_ARGS[@]}"
        fi
        ;;
    -*)
        wait-for-psql.py "${DB_ARGS[@]}" --timeout=30
        exec odoo "$@" "${DB_ARGS[@]}"
        ;;
    *)
        exec "$@"
esac

exit 1
