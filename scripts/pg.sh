#!/usr/bin/env bash
# Throwaway PostgreSQL cluster for MarginGrid's tests.
#
#   eval "$(scripts/pg.sh start)"   # starts one (or reuses the running one), prints export lines
#   scripts/pg.sh env               # prints the export lines of the running cluster
#   scripts/pg.sh status            # exit 0 if the cluster of this checkout runs
#   scripts/pg.sh stop              # stops it and deletes its directory (no-op if none)
#
# The cluster lives in a fresh temporary directory owned by the `postgres` user
# (initdb and pg_ctl refuse to run as root), listens on 127.0.0.1 only, on a free
# port found by trying, with its socket in that directory, trust authentication on
# loopback and fsync off: it is for tests, never for data that matters.
#
# `start` writes an env file (MARGINGRID_TEST_PG, MARGINGRID_PG_DIR, MARGINGRID_PG_PORT)
# to the state file below and prints the same lines on stdout; logs go to stderr.
#
# Environment:
#   MARGINGRID_PG_STATE  state/env file (default: one per checkout and user under /tmp)
#   MARGINGRID_PG_TMP    parent of the cluster directory (default /tmp; must be reachable by postgres)
#   MARGINGRID_PG_BIN    directory holding initdb/pg_ctl (default: newest /usr/lib/postgresql/*/bin, 15 preferred)
#   MARGINGRID_PG_DURABLE=1  commit as a production database does (fsync, synchronous_commit and full-page writes
#                        on): for measurements of the production path, not for the tests' speed
#   MARGINGRID_PG_STATEMENTS=1  load pg_stat_statements (load/run-cluster.sh --pg-stats)
set -Eeuo pipefail

log() { printf 'pg.sh: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
checkout_key=$(printf '%s' "$repo_root" | cksum | cut -d' ' -f1)
state_file=${MARGINGRID_PG_STATE:-/tmp/margingrid-pg-$(id -u)-$checkout_key.env}
tmp_parent=${MARGINGRID_PG_TMP:-/tmp}

is_root() { [[ $(id -u) -eq 0 ]]; }

# Runs a PostgreSQL server binary as `postgres` when we are root, directly otherwise.
# fd 9 (the lock below) is closed for it: a server inheriting it would hold the lock forever.
as_pg() {
    if is_root; then
        runuser -u postgres -- "$@" 9>&-
    else
        "$@" 9>&-
    fi
}

find_pg_bin() {
    if [[ -n ${MARGINGRID_PG_BIN:-} ]]; then
        [[ -x $MARGINGRID_PG_BIN/initdb ]] || die "MARGINGRID_PG_BIN=$MARGINGRID_PG_BIN has no initdb"
        printf '%s\n' "$MARGINGRID_PG_BIN"
        return
    fi
    if [[ -x /usr/lib/postgresql/15/bin/initdb ]]; then
        printf '%s\n' /usr/lib/postgresql/15/bin
        return
    fi
    local candidate
    candidate=$(find /usr/lib/postgresql -mindepth 3 -maxdepth 3 -path '*/bin/initdb' 2>/dev/null | sort -V | tail -n 1 || true)
    [[ -n $candidate ]] && dirname "$candidate"
    return 0
}

# Installs Debian's postgresql without leaving a service (or its default cluster) running.
install_postgresql() {
    is_root || die "PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin and not root: install the Debian 'postgresql' package"
    command -v apt-get >/dev/null || die "PostgreSQL server binaries not found and apt-get is not available: install PostgreSQL 15"
    log "PostgreSQL server binaries not found: installing Debian's postgresql package"
    local own_policy=0
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        # exit 101 = "action forbidden": the package's postinst must not start a service.
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        own_policy=1
    fi
    local rc=0
    { DEBIAN_FRONTEND=noninteractive apt-get update -qq \
        && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql; } >&2 || rc=$?
    if [[ $own_policy -eq 1 ]]; then rm -f /usr/sbin/policy-rc.d; fi
    [[ $rc -eq 0 ]] || die "apt-get install postgresql failed (exit $rc): install PostgreSQL 15 by hand"
    # Should a default cluster have been started anyway, stop it: tests use their own.
    if command -v pg_lsclusters >/dev/null; then
        local version name
        while read -r version name _; do
            pg_ctlcluster "$version" "$name" stop >/dev/null 2>&1 || true
        done < <(pg_lsclusters --no-header 2>/dev/null | awk '$4 == "online"')
    fi
}

port_in_use() {
    # A successful TCP connect means someone listens there.
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

read_state() {
    # Sets MARGINGRID_PG_DIR, MARGINGRID_PG_PORT, MARGINGRID_TEST_PG from the state file.
    [[ -f $state_file ]] || return 1
    # shellcheck disable=SC1090
    source "$state_file"
    [[ -n ${MARGINGRID_PG_DIR:-} && -n ${MARGINGRID_PG_PORT:-} ]]
}

cluster_running() {
    local bin=$1 dir=$2
    [[ -d $dir/data ]] && as_pg "$bin/pg_ctl" status -D "$dir/data" >/dev/null 2>&1
}

# export NAME='value', single-quoted so that both `eval` and `source` read it back.
env_line() {
    local value=${2//\'/\'\\\'\'}
    printf "export %s='%s'\n" "$1" "$value"
}

print_env() {
    cat "$state_file"
}

# Stops the cluster in $1 (if it runs) and deletes the directory. Never fails.
destroy_cluster() {
    local dir=$1 bin
    [[ -n $dir && -d $dir ]] || return 0
    # Refuse to delete anything that does not look like one of ours.
    case $(basename "$dir") in
        margingrid-pg.*) ;;
        *) log "not deleting $dir: not a margingrid-pg directory"; return 0 ;;
    esac
    bin=$(find_pg_bin || true)
    if [[ -n $bin && -d $dir/data ]] && cluster_running "$bin" "$dir"; then
        as_pg "$bin/pg_ctl" stop -D "$dir/data" -m fast -w -t 60 >/dev/null 2>&1 \
            || as_pg "$bin/pg_ctl" stop -D "$dir/data" -m immediate -w -t 30 >/dev/null 2>&1 \
            || log "warning: could not stop the server in $dir"
    fi
    rm -rf -- "$dir"
}

failed_start() {
    local rc=$? dir=$1
    trap - ERR
    log "start failed (exit $rc): removing $dir"
    destroy_cluster "$dir"
    exit "$rc"
}

cmd_start() {
    local bin
    bin=$(find_pg_bin)
    if [[ -z $bin ]]; then
        install_postgresql
        bin=$(find_pg_bin)
        [[ -n $bin ]] || die "installed postgresql but found no /usr/lib/postgresql/*/bin/initdb"
    fi

    # Idempotent: reuse the running cluster of this checkout; clean a stale one.
    if read_state; then
        if cluster_running "$bin" "$MARGINGRID_PG_DIR" \
            && as_pg "$bin/pg_isready" -q -h 127.0.0.1 -p "$MARGINGRID_PG_PORT" -t 5 >/dev/null 2>&1; then
            log "reusing the running cluster in $MARGINGRID_PG_DIR (port $MARGINGRID_PG_PORT)"
            print_env
            return 0
        fi
        log "removing stale cluster state ($MARGINGRID_PG_DIR)"
        destroy_cluster "$MARGINGRID_PG_DIR"
        rm -f -- "$state_file"
    fi

    if is_root && ! id postgres >/dev/null 2>&1; then
        die "running as root but there is no 'postgres' user to run the server as"
    fi

    local dir
    dir=$(mktemp -d "$tmp_parent/margingrid-pg.XXXXXXXX")
    # From here on, any failure removes what we made.
    # shellcheck disable=SC2064 # expand $dir now
    trap "failed_start $(printf '%q' "$dir")" ERR
    chmod 700 "$dir"
    mkdir -p "$dir/data" "$dir/sock"
    if is_root; then chown -R postgres: "$dir"; fi

    local durable=off
    if [[ ${MARGINGRID_PG_DURABLE:-0} == 1 ]]; then durable=on; fi
    log "initdb in $dir/data ($bin); fsync and synchronous_commit $durable"
    as_pg "$bin/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --no-locale --no-sync \
        >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; false; }

    cat >>"$dir/data/postgresql.conf" <<EOF

# --- margingrid test cluster (scripts/pg.sh): never for real data ---
listen_addresses = '127.0.0.1'
unix_socket_directories = '$dir/sock'
fsync = $durable
synchronous_commit = $durable
full_page_writes = $durable
max_connections = 200
shared_buffers = 64MB
log_min_messages = warning
log_min_error_statement = panic
EOF
    if [[ ${MARGINGRID_PG_STATEMENTS:-0} == 1 ]]; then
        # Statement statistics for a measurement (load/run-cluster.sh --pg-stats): which queries cost the database.
        printf "shared_preload_libraries = 'pg_stat_statements'\npg_stat_statements.track = all\n" >>"$dir/data/postgresql.conf"
    fi

    local port attempt started=0
    # Below Linux's ephemeral range (32768–60999): a port there may be an outgoing connection's local end.
    port=$(( 20000 + (RANDOM * 32768 + RANDOM + $$) % 12000 ))
    for attempt in $(seq 1 50); do
        port=$(( port + 1 ))
        if port_in_use "$port"; then continue; fi
        if as_pg "$bin/pg_ctl" start -D "$dir/data" -l "$dir/server.log" -w -t 60 -o "-p $port" >/dev/null 2>&1; then
            started=1
            break
        fi
        if grep -qiE 'could not (bind|create listen socket)|address already in use' "$dir/server.log" 2>/dev/null; then
            log "port $port taken, trying another"
            : >"$dir/server.log"
            continue
        fi
        log "pg_ctl start failed on port $port (attempt $attempt):"
        cat "$dir/server.log" >&2 || true
        false
    done
    [[ $started -eq 1 ]] || { log "no free port after 50 tries"; false; }

    as_pg "$bin/pg_isready" -q -h 127.0.0.1 -p "$port" -t 30 || { log "server not ready"; false; }

    local conn="Host=127.0.0.1;Port=$port;Username=postgres;Database=postgres;Include Error Detail=true"
    local tmp_state
    tmp_state=$(mktemp "$state_file.XXXXXX")
    {
        env_line MARGINGRID_TEST_PG "$conn"
        env_line MARGINGRID_PG_DIR "$dir"
        env_line MARGINGRID_PG_PORT "$port"
    } >"$tmp_state"
    mv -f -- "$tmp_state" "$state_file"
    trap - ERR
    log "PostgreSQL $("$bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$port, data in $dir/data, env in $state_file"
    print_env
}

cmd_stop() {
    if ! read_state; then
        log "no cluster to stop"
        return 0
    fi
    destroy_cluster "$MARGINGRID_PG_DIR"
    rm -f -- "$state_file"
    log "stopped and removed $MARGINGRID_PG_DIR"
}

cmd_status() {
    local bin
    bin=$(find_pg_bin)
    if [[ -n $bin ]] && read_state && cluster_running "$bin" "$MARGINGRID_PG_DIR"; then
        log "running: $MARGINGRID_PG_DIR on port $MARGINGRID_PG_PORT"
        return 0
    fi
    log "not running"
    return 1
}

cmd_env() {
    read_state || die "no cluster running: run '$0 start'"
    print_env
}

# start and stop of one checkout's cluster are serialized (two concurrent `start`s share one cluster).
lock() {
    if command -v flock >/dev/null; then
        exec 9>"$state_file.lock"
        flock -w 180 9 || die "timed out waiting for $state_file.lock"
    fi
}

case ${1:-} in
    start) lock; cmd_start ;;
    stop) lock; cmd_stop ;;
    status) cmd_status ;;
    env) cmd_env ;;
    *) printf 'usage: %s start|stop|status|env\n' "$0" >&2; exit 2 ;;
esac
