#!/usr/bin/env bash
# odoo-droplet local stand-in: the official postgres image's docker-entrypoint.sh contract, over Debian's
# PostgreSQL. First start with an empty $PGDATA: initdb as $POSTGRES_USER with $POSTGRES_PASSWORD, create
# $POSTGRES_DB, run /docker-entrypoint-initdb.d/*, then serve. Later starts never re-initialise.
set -Eeo pipefail

: "${POSTGRES_USER:=postgres}"
: "${POSTGRES_DB:=$POSTGRES_USER}"
: "${POSTGRES_HOST_AUTH_METHOD:=scram-sha-256}"
export POSTGRES_USER POSTGRES_DB PGDATA

file_env() {  # VAR_FILE support, as the official image has: read once (as root), then unset the _FILE
    local var="$1" fileVar="${1}_FILE"  # variable, so the re-exec as postgres does not read it again
    if [ -n "${!var:-}" ] && [ -n "${!fileVar:-}" ]; then
        echo "error: both $var and $fileVar are set (but are exclusive)" >&2
        exit 1
    fi
    if [ -n "${!fileVar:-}" ]; then
        export "$var"="$(< "${!fileVar}")"
    fi
    unset "$fileVar"
}
file_env POSTGRES_PASSWORD
file_env POSTGRES_USER
file_env POSTGRES_DB

if [ "${1:0:1}" = '-' ]; then
    set -- postgres "$@"
fi

if [ "$1" = 'postgres' ] && [ "$(id -u)" = '0' ]; then
    mkdir -p "$PGDATA"
    chown -R postgres:postgres "$PGDATA" /var/run/postgresql
    chmod 0700 "$PGDATA"
    exec setpriv --reuid=postgres --regid=postgres --init-groups "$BASH_SOURCE" "$@"
fi

psql_run() {
    PGPASSWORD= psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --no-password --no-psqlrc -h /var/run/postgresql "$@"
}

if [ "$1" = 'postgres' ] && [ ! -s "$PGDATA/PG_VERSION" ]; then
    if [ -z "${POSTGRES_PASSWORD:-}" ] && [ "$POSTGRES_HOST_AUTH_METHOD" != 'trust' ]; then
        cat >&2 <<'MSG'
Error: Database is uninitialized and superuser password is not specified.
       You must specify POSTGRES_PASSWORD to a non-empty value for the
       superuser. For example, "-e POSTGRES_PASSWORD=password" on "docker run".
MSG
        exit 1
    fi
    echo "The files belonging to this database system will be owned by user \"postgres\" (stand-in image)."
    pwfile=$(mktemp)
    printf '%s\n' "${POSTGRES_PASSWORD:-}" > "$pwfile"
    # shellcheck disable=SC2086
    initdb --username="$POSTGRES_USER" --pwfile="$pwfile" --auth-local=trust --auth-host="$POSTGRES_HOST_AUTH_METHOD" \
        --encoding=UTF8 --locale=C.UTF-8 ${POSTGRES_INITDB_ARGS:-} -D "$PGDATA"
    rm -f "$pwfile"
    printf '\nhost all all all %s\n' "$POSTGRES_HOST_AUTH_METHOD" >> "$PGDATA/pg_hba.conf"
    printf "\nlisten_addresses = '*'\n" >> "$PGDATA/postgresql.conf"

    # A private server on the socket only while the database and init scripts are set up.
    pg_ctl -D "$PGDATA" -o "-c listen_addresses='' -p 5432" -w start
    if [ "$POSTGRES_DB" != 'postgres' ]; then
        psql_run --dbname postgres --set db="$POSTGRES_DB" <<<'CREATE DATABASE :"db" ;'
    fi
    for f in /docker-entrypoint-initdb.d/*; do
        case "$f" in
            *.sh) if [ -x "$f" ]; then "$f"; else . "$f"; fi ;;
            *.sql) psql_run --dbname "$POSTGRES_DB" -f "$f" ;;
            *.sql.gz) gunzip -c "$f" | psql_run --dbname "$POSTGRES_DB" ;;
            *) [ -e "$f" ] && echo "ignoring $f" ;;
        esac
    done
    pg_ctl -D "$PGDATA" -m fast -w stop
    echo
    echo 'PostgreSQL init process complete; ready for start up.'
    echo
else
    echo
    echo 'PostgreSQL Database directory appears to contain a database; Skipping initialization'
    echo
fi

exec "$@"
