#!/usr/bin/env bash
# What compose.yaml needs of the official postgres image's entrypoint: on an empty $PGDATA,
# initdb with POSTGRES_USER/POSTGRES_PASSWORD, listen on all addresses with scram-sha-256,
# create POSTGRES_DB, run /docker-entrypoint-initdb.d/*.sh and *.sql; then exec the server
# as the postgres user. Any other command (the replica's `bash -c …`) runs as given.
set -euo pipefail

if [ "${1:0:1}" = "-" ]; then
    set -- postgres "$@"
fi
if [ "$1" != "postgres" ]; then
    exec "$@"
fi
for arg; do
    case "$arg" in -V | --version | --help | -'?' | --describe-config | -C) exec "$@" ;; esac
done
if [ "$(id -u)" = 0 ]; then
    mkdir -p "$PGDATA"
    chown postgres:postgres "$PGDATA"
    chmod 0700 "$PGDATA"
    exec setpriv --reuid=postgres --regid=postgres --init-groups "$0" "$@"
fi

if [ ! -s "$PGDATA/PG_VERSION" ]; then
    user=${POSTGRES_USER:-postgres}
    database=${POSTGRES_DB:-$user}
    password_file=$(mktemp)
    printf '%s' "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD is required}" > "$password_file"
    initdb --username="$user" --pwfile="$password_file" --auth-local=trust --auth-host=scram-sha-256 -D "$PGDATA"
    rm -f "$password_file"
    echo "listen_addresses = '*'" >> "$PGDATA/postgresql.conf"
    echo "host all all all scram-sha-256" >> "$PGDATA/pg_hba.conf"
    pg_ctl -D "$PGDATA" -o "-c listen_addresses=''" -w start
    if [ "$database" != postgres ]; then
        psql -v ON_ERROR_STOP=1 -U "$user" -d postgres -c "CREATE DATABASE \"$database\""
    fi
    for script in /docker-entrypoint-initdb.d/*; do
        case "$script" in
            *.sh) echo "running $script"; bash "$script" ;;
            *.sql) echo "running $script"; psql -v ON_ERROR_STOP=1 -U "$user" -d "$database" -f "$script" ;;
        esac
    done
    pg_ctl -D "$PGDATA" -m fast -w stop
fi
exec "$@"
