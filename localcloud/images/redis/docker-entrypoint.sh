#!/bin/sh
# odoo-droplet local stand-in: the official redis image's docker-entrypoint.sh contract over Debian's redis-server.
set -e

# First argument is an option or a .conf file: run it with redis-server.
if [ "${1#-}" != "$1" ] || [ "${1%.conf}" != "$1" ]; then
    set -- redis-server "$@"
fi

# The official image is built with protected mode off by default (so other containers on the network can
# connect without a config file), and a configuration may turn it on again: the stand-in reads its defaults
# file first, then whatever it was given (`-` last: the configuration on standard input, redis 7's order is
# file, stdin, arguments). A .conf given as the first argument is used as it is.
if [ "$1" = 'redis-server' ]; then
    case "${2:-}" in
        *.conf) ;;
        *) shift; set -- redis-server /usr/local/etc/redis/odl-defaults.conf "$@" ;;
    esac
    if [ "$(id -u)" = '0' ]; then
        find . \! -user redis -exec chown redis '{}' +
        exec setpriv --reuid=redis --regid=redis --init-groups "$@"
    fi
fi

exec "$@"
