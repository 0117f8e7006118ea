#!/usr/bin/env bash
# A throw-away PostgreSQL 15 cluster for tests, all of it under one folder.
#
#   scripts/pg-cluster.sh start DIR   # prints postgres://shian@127.0.0.1:PORT/shian last
#   scripts/pg-cluster.sh stop DIR
#
# Debian's binaries (/usr/lib/postgresql/15/bin, package `postgresql`; see
# scripts/install-test-deps.sh). The data directory is DIR/data, the log
# DIR/log, the unix socket DIR itself (nothing outside DIR), TCP on
# 127.0.0.1 only, on a port that was free when the cluster started (kept in
# DIR/port). Durability is off (fsync, synchronous_commit, full_page_writes):
# the cluster dies with the test. Authentication is `trust` (initdb -A
# trust): the cluster listens on loopback only and lives for one test.
#
# initdb and the server refuse to run as root, so as root they run as the
# `postgres` user that Debian's package makes (`runuser -u postgres --`), and
# DIR is handed to that user — the way tests/src/bin/bench_trace.rs
# (`as_postgres`) runs its PostgreSQL.
#
# Idempotent: `start` on a running cluster prints its URL again, on a
# stopped one starts it again; `stop` on a stopped (or absent) cluster does
# nothing. Any failure exits non-zero with the log's tail on stderr.
set -euo pipefail

PG_BIN="${PG_BIN:-/usr/lib/postgresql/15/bin}"

log() { printf '[pg-cluster] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

usage() { die "usage: $0 start|stop DIR"; }

[ "$#" -eq 2 ] || usage
cmd="$1"
dir="$2"

as_pg() { # as_pg <program> [args…]: the program as the cluster's owner
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

running() { [ -f "$dir/data/postmaster.pid" ] && as_pg "$PG_BIN/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; }

show_log() { [ -f "$dir/log" ] && tail -n 30 "$dir/log" >&2 || true; }

# A TCP port nobody listens on now (bash's /dev/tcp: a refused connect).
free_port() {
    local p
    for _ in $(seq 1 200); do
        p=$((20000 + RANDOM % 30000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
            echo "$p"
            return 0
        fi
    done
    die "no free port found"
}

psql_pg() { # psql as the superuser, over the cluster's own unix socket
    as_pg "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$dir" -p "$(cat "$dir/port")" -U postgres -d postgres "$@"
}

start() {
    [ -x "$PG_BIN/initdb" ] || die "$PG_BIN/initdb not found: install Debian's postgresql (scripts/install-test-deps.sh)"
    mkdir -p "$dir"
    dir="$(cd "$dir" && pwd)"
    if [ "$(id -u)" -eq 0 ]; then
        id postgres >/dev/null 2>&1 || die "no postgres user (Debian's postgresql package makes it)"
        chown postgres: "$dir"
        chmod 0700 "$dir"
    fi
    if running; then
        log "already running in $dir"
    else
        if [ ! -f "$dir/data/PG_VERSION" ]; then
            rm -rf "$dir/data"
            as_pg "$PG_BIN/initdb" -D "$dir/data" -U postgres -A trust --no-sync -E UTF8 --locale=C >"$dir/initdb.log" 2>&1 \
                || { tail -n 30 "$dir/initdb.log" >&2; die "initdb failed"; }
        fi
        # A port taken between the probe and the bind fails the start: try
        # another a few times.
        local ok=""
        for _ in 1 2 3 4 5; do
            free_port >"$dir/port"
            if [ "$(id -u)" -eq 0 ]; then chown postgres: "$dir/port"; fi
            if as_pg "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/log" -w -t 60 \
                -o "-p $(cat "$dir/port") -k '$dir' -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=100" \
                start >/dev/null; then
                ok=1
                break
            fi
            show_log
            log "start on port $(cat "$dir/port") failed; trying another"
        done
        [ -n "$ok" ] || die "could not start PostgreSQL in $dir"
    fi
    # The role and the database the server uses (idempotent).
    psql_pg -c "DO \$\$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'shian') THEN CREATE ROLE shian LOGIN; END IF; END \$\$;" \
        || { show_log; die "could not create role shian"; }
    if [ "$(psql_pg -tA -c "SELECT count(*) FROM pg_database WHERE datname = 'shian'")" != "1" ]; then
        psql_pg -c "CREATE DATABASE shian OWNER shian" || { show_log; die "could not create database shian"; }
    fi
    echo "postgres://shian@127.0.0.1:$(cat "$dir/port")/shian"
}

stop() {
    if [ ! -d "$dir/data" ]; then
        log "no cluster in $dir: nothing to stop"
        return 0
    fi
    if running; then
        as_pg "$PG_BIN/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop >/dev/null || { show_log; die "pg_ctl stop failed"; }
        log "stopped $dir"
    else
        log "not running in $dir"
    fi
}

case "$cmd" in
    start) start ;;
    stop) stop ;;
    *) usage ;;
esac
