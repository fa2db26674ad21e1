#!/bin/sh
# Private services for the remote tests (tests/suite/serve_cluster.rs), never the machine's own:
#   scripts/test-services.sh start   a PostgreSQL cluster in a temp dir on a free loopback port;
#                                    prints `export FLEET_TEST_PG=postgres://…` for eval
#   scripts/test-services.sh stop    stops it and removes its directory
#   scripts/test-services.sh down    stops it, keeping its data (a store that is down)
#   scripts/test-services.sh up      starts it again after `down`, on the same port
# initdb refuses to run as root, so the cluster belongs to the `postgres` user (STACK.md).
# The state (data directory, port) is kept in ${FLEET_TEST_SERVICES:-/tmp/fleet-test-services}.
set -eu
state=${FLEET_TEST_SERVICES:-/tmp/fleet-test-services}
bin=$(dirname "$(ls /usr/lib/postgresql/*/bin/initdb | sort -V | tail -n 1)")
as_pg() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

case "${1:-}" in
start)
    mkdir -p "$state"
    if [ -f "$state/port" ] && as_pg "$bin/pg_ctl" -D "$state/data" status >/dev/null 2>&1; then
        echo "export FLEET_TEST_PG=postgres://fleet@127.0.0.1:$(cat "$state/port")/fleet"
        exit 0
    fi
    rm -rf "$state/data"
    [ "$(id -u)" = 0 ] && chown postgres "$state"
    # A free port: the kernel picks one, python releases it for PostgreSQL.
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    as_pg "$bin/initdb" -D "$state/data" -U fleet --auth=trust -E UTF8 >"$state/initdb.log" 2>&1
    as_pg "$bin/pg_ctl" -D "$state/data" -l "$state/pg.log" -w -t 60 \
        -o "-h 127.0.0.1 -p $port -k $state" start >/dev/null
    echo "$port" >"$state/port"
    "$bin/createdb" -h 127.0.0.1 -p "$port" -U fleet fleet
    echo "export FLEET_TEST_PG=postgres://fleet@127.0.0.1:$port/fleet"
    ;;
stop)
    if [ -d "$state/data" ]; then
        as_pg "$bin/pg_ctl" -D "$state/data" -m fast -w stop >/dev/null 2>&1 || true
    fi
    rm -rf "$state"
    ;;
down)
    as_pg "$bin/pg_ctl" -D "$state/data" -m fast -w stop >/dev/null
    ;;
up)
    as_pg "$bin/pg_ctl" -D "$state/data" -l "$state/pg.log" -w -t 60 \
        -o "-h 127.0.0.1 -p $(cat "$state/port") -k $state" start >/dev/null
    ;;
*)
    echo "usage: $0 start|stop|down|up" >&2
    exit 2
    ;;
esac
