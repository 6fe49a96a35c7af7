#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for `make test`: initdb in a temporary directory, a server that
# listens on a Unix socket only (listen_addresses=''), no system service.
#   scripts/test_postgres.sh start      prints the cluster's directory (its socket is in DIR/socket)
#   scripts/test_postgres.sh stop DIR   stops the server and deletes DIR
#   scripts/test_postgres.sh halt DIR / resume DIR   stops the server and starts it again (tests)
# initdb refuses root, so as root the cluster belongs to the `postgres` user that Debian's package
# creates. fsync is off for the tests; PG_FSYNC=on keeps it (`make bench`). Local connections are
# trusted, except the role `facewatch_scram`, which must give its password (SCRAM), so that the
# tests also authenticate with a password from the URL.
set -euo pipefail

bin=${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)}

as_owner() {
    if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

server_start() {
    as_owner "$bin/pg_ctl" -D "$1/data" -l "$1/server.log" -w -t 60 \
        -o "-c listen_addresses='' -c unix_socket_directories='$1/socket' -c fsync=${PG_FSYNC:-off} -c max_connections=200" \
        start >/dev/null 2>&1 </dev/null || {
        cat "$1/server.log" >&2
        exit 1
    }
}

case "${1:-}" in
halt)
    # The server stops (as if it crashed or its host went away); `resume` starts it again.
    as_owner "$bin/pg_ctl" -D "${2:?usage: test_postgres.sh halt DIR}/data" -m immediate -w stop >/dev/null
    ;;
resume)
    server_start "${2:?usage: test_postgres.sh resume DIR}"
    ;;
start)
    if [[ -z "$bin" || ! -x "$bin/initdb" ]]; then
        echo "test_postgres: no PostgreSQL server (Debian: apt-get install postgresql)" >&2
        exit 1
    fi
    dir=$(mktemp -d /tmp/facewatch-pg.XXXXXX)
    chmod 755 "$dir"
    mkdir -p "$dir/socket"
    [[ $(id -u) -eq 0 ]] && chown postgres: "$dir" "$dir/socket"
    as_owner "$bin/initdb" -D "$dir/data" -U postgres -A trust --no-sync >"$dir/initdb.log" 2>&1 || {
        cat "$dir/initdb.log" >&2
        exit 1
    }
    {
        echo "local all facewatch_scram scram-sha-256"
        echo "local all all trust"
    } | as_owner tee "$dir/data/pg_hba.conf" >/dev/null
    server_start "$dir"
    "$bin/psql" -h "$dir/socket" -U postgres -d postgres -qAt \
        -c "CREATE ROLE facewatch_scram LOGIN SUPERUSER PASSWORD 'scram secret'" >/dev/null
    echo "$dir"
    ;;
stop)
    dir=${2:?usage: test_postgres.sh stop DIR}
    [[ -d "$dir/data" ]] && as_owner "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
    rm -rf "$dir"
    ;;
*)
    echo "usage: $0 start | stop DIR | halt DIR | resume DIR" >&2
    exit 2
    ;;
esac
