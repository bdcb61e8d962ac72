#!/bin/sh
# odoo-droplet local stand-in: the official redis image's docker-entrypoint.sh contract over Debian's redis-server.
set -e

# First argument is an option or a .conf file: run it with redis-server.
if [ "${1#-}" != "$1" ] || [ "${1%.conf}" != "$1" ]; then
    set -- redis-server "$@"
fi

# Without a config file redis-server would refuse remote clients (protected mode); the official image turns it
# off so other containers on the network can connect, as the compose file expects.
if [ "$1" = 'redis-server' ]; then
    case "${2:-}" in
        *.conf) ;;
        *) shift; set -- redis-server --protected-mode no "$@" ;;
    esac
    if [ "$(id -u)" = '0' ]; then
        find . \! -user redis -exec chown redis '{}' +
        exec setpriv --reuid=redis --regid=redis --init-groups "$@"
    fi
fi

exec "$@"
