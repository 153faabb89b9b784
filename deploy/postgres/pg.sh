#!/usr/bin/env bash
# A throwaway PostgreSQL cluster on loopback, for tests and local runs.
#
#   pg.sh ensure            find (or apt-get install) PostgreSQL; prints its bin dir
#   pg.sh start DIR PORT    initdb DIR/data once, start on 127.0.0.1:PORT, create
#                           database gateway; prints the SQLAlchemy URL
#   pg.sh stop DIR          fast shutdown; succeeds if not running
#   pg.sh status DIR        exit 0 if running
#
# Authentication is `trust` for the superuser `gateway`; the server listens only
# on 127.0.0.1 and on a unix socket inside DIR. PostgreSQL refuses to run as
# root, so as root the server runs as the `postgres` user, which then owns DIR.
#
# Environment: PG_START_TIMEOUT (seconds, default 60).
set -euo pipefail

log() { echo "pg.sh: $*" >&2; }
die() { log "$*"; exit 1; }

usage() {
    sed -n '2,8p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

find_bindir() {
    local p d
    # Debian puts the binaries in /usr/lib/postgresql/<major>/bin and only some
    # of them on PATH (often as symlinks), so resolve the symlink to find
    # pg_ctl and pg_isready next to initdb.
    if p=$(command -v initdb 2>/dev/null); then
        d=$(dirname "$(readlink -f "$p")")
        [[ -x $d/pg_ctl && -x $d/pg_isready ]] && { echo "$d"; return 0; }
    fi
    # Newest installed major version.
    d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
    [[ -n $d && -x $d/initdb ]] && { echo "$d"; return 0; }
    return 1
}

ensure() {  # sets BIN
    if BIN=$(find_bindir); then
        return 0
    fi
    log "PostgreSQL not found; installing it with apt-get"
    local sudo=()
    if [[ $(id -u) -ne 0 ]]; then
        command -v sudo >/dev/null || die "not root and no sudo: install postgresql yourself"
        sudo=(sudo)
    fi
    "${sudo[@]}" apt-get update -qq >&2
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
    # The package creates and starts a system cluster on 5432; we don't use it.
    BIN=$(find_bindir) || die "postgresql installed but initdb still not found"
}

# Run a PostgreSQL binary as the user that owns the cluster.
as_pg() {
    if [[ $(id -u) -eq 0 ]]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

# As root, the postgres user must be able to reach DIR: give o+x (traverse
# only, no listing) to any parent directory it cannot enter.
make_reachable() {  # DIR
    [[ $(id -u) -eq 0 ]] || return 0
    local d=$1
    while [[ $d != / ]]; do
        d=$(dirname "$d")
        if ! runuser -u postgres -- test -x "$d"; then
            log "chmod o+x $d (so the postgres user can reach the data directory)"
            chmod o+x "$d"
        fi
    done
}

running_port() {  # DATA: port of the running postmaster, else fail
    local data=$1
    [[ -f $data/postmaster.pid ]] || return 1
    as_pg "$BIN/pg_ctl" status -D "$data" >/dev/null 2>&1 || return 1
    # Line 4 of postmaster.pid is the port.
    sed -n 4p "$data/postmaster.pid"
}

start() {  # DIR PORT
    [[ $# -eq 2 ]] || usage
    local dir port=$2 data rport i timeout=${PG_START_TIMEOUT:-60}
    [[ $port =~ ^[0-9]+$ ]] || die "bad port: $port"
    ensure
    mkdir -p "$1"
    dir=$(cd "$1" && pwd)
    data=$dir/data
    # The unix socket path (DIR/.s.PGSQL.PORT) must fit in 107 bytes.
    ((${#dir} + 20 < 107)) || die "DIR path too long for a unix socket: $dir"

    if rport=$(running_port "$data"); then
        [[ $rport == "$port" ]] ||
            die "a server is already running in $dir on port $rport (asked for $port)"
    else
        if [[ $(id -u) -eq 0 ]]; then
            chown -R postgres: "$dir"
            make_reachable "$dir"
        fi
        if [[ ! -f $data/PG_VERSION ]]; then
            # trust: a throwaway loopback-only cluster needs no passwords.
            as_pg "$BIN/initdb" -D "$data" -A trust -U gateway --encoding=UTF8 \
                --no-locale >"$dir/initdb.log" 2>&1 || {
                cat "$dir/initdb.log" >&2
                die "initdb failed"
            }
        fi
        # -h/-k: TCP on loopback only, socket in DIR (not /var/run/postgresql,
        # which needs root and would clash between clusters).
        as_pg "$BIN/pg_ctl" start -D "$data" -l "$dir/postgres.log" -w -t "$timeout" \
            -o "-h 127.0.0.1 -p $port -k $dir -c max_connections=200" >/dev/null || {
            tail -n 30 "$dir/postgres.log" >&2 || true
            die "PostgreSQL failed to start"
        }
    fi

    # pg_ctl -w already waited; this also covers the "already running but still
    # starting up / recovering" case.
    for ((i = 0; i < timeout * 5; i++)); do
        "$BIN/pg_isready" -q -h 127.0.0.1 -p "$port" -d postgres && break
        sleep 0.2
    done
    "$BIN/pg_isready" -q -h 127.0.0.1 -p "$port" -d postgres ||
        die "PostgreSQL on port $port not ready after ${timeout}s"

    local psql=("$BIN/psql" -X -q -h 127.0.0.1 -p "$port" -U gateway -v ON_ERROR_STOP=1)
    if [[ -z $("${psql[@]}" -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'gateway'") ]]; then
        "${psql[@]}" -d postgres -c "CREATE DATABASE gateway OWNER gateway" >/dev/null
    fi
    echo "postgresql+asyncpg://gateway@127.0.0.1:$port/gateway"
}

stop() {  # DIR
    [[ $# -eq 1 ]] || usage
    local data=$1/data
    ensure
    running_port "$data" >/dev/null || return 0
    as_pg "$BIN/pg_ctl" stop -D "$data" -m fast -w -t 60 >/dev/null
}

status() {  # DIR
    [[ $# -eq 1 ]] || usage
    local rport
    ensure
    if rport=$(running_port "$1/data"); then
        echo "running on port $rport"
    else
        echo "not running"
        return 1
    fi
}

cmd=${1:-}
[[ -n $cmd ]] || usage
shift
case $cmd in
    ensure) ensure && echo "$BIN" ;;
    start) start "$@" ;;
    stop) stop "$@" ;;
    status) status "$@" ;;
    *) usage ;;
esac
