#!/usr/bin/env bash
# The production-path figure in one command: a throwaway PostgreSQL (scripts/pg.sh), `margingrid db init`,
# a cluster of 3 `margingrid silo` processes on it (ADO.NET clustering, grain storage, reminders, pub-sub),
# the crash scenario through `--target` over the HTTP API and over the native client (MarginGrid.Client at the
# silos' gateways), each on a fresh cluster, the key figures of both reports, and everything stopped again.
#
#   load/run-cluster.sh                       # 10,000 accounts, crash-2020-03-12, 3 silos, http then client
#   load/run-cluster.sh --accounts 2000 --duration 10 --transports client
#
# Options (defaults in brackets):
#   --accounts N [10000]  --markets N [8]  --duration S [20]  --rate R [200]  --scenario NAME [crash-2020-03-12]
#   --feed sequential|per-market [sequential]   --silos N [3]   --transports "http client" [both]
#   --out DIR [artifacts/cluster-run]   --no-build (use the existing Release build)
#   --quiet S [0]  seconds with nothing sent between opening the accounts and the crash (a quiet market: what an
#              account keeps only for a while after its last command, its audit reminder, has lapsed by then)
#   --durable  PostgreSQL commits as in production (fsync, synchronous_commit on); by default the throwaway
#              cluster of scripts/pg.sh runs with them off, which understates the database's cost per write
#   --pg-stats   PostgreSQL with pg_stat_statements: the statements that cost the database most during each load
#              run (time, calls, rows) in DIR/<transport>/pg-statements.txt, the CPU seconds the silos and
#              PostgreSQL spent during it (the load tool's setup included) and the grain-state writes per round
#              trip (margingrid_storage_* of each silo's /metrics) in the summary; the grain-state table's
#              updates, HOT updates and size at the end of pg-statements.txt; every 2 s the load run's phase,
#              PostgreSQL's checkpoints, WAL written (bytes, full-page images, flushes) and the CPU of silos and
#              PostgreSQL in DIR/<transport>/pg-activity.tsv
#
# Each transport gets a cluster of its own (its own cluster and service id on the same database, so its grain
# state, fund and pub-sub start empty): the two runs do not see each other's accounts. The silos run with
# workstation GC (as the tests do) and no API keys (loopback only). Reports: DIR/<transport>/report.{json,md},
# silo logs: DIR/<transport>/silo-N.log. Exit code: 0 when every run finished and money was conserved in each,
# 1 otherwise. Whether tick→liquidation p99 met the 2 s target is printed, not enforced.
set -Eeuo pipefail

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo_root"

log() { printf 'run-cluster: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

accounts=10000 markets=8 duration=20 rate=200 scenario=crash-2020-03-12 feed=sequential silos=3
transports="http client" out="$repo_root/artifacts/cluster-run" build=1 pg_stats=0 quiet=0
while [[ $# -gt 0 ]]; do
    case $1 in
        --accounts) accounts=$2; shift 2 ;;
        --markets) markets=$2; shift 2 ;;
        --duration) duration=$2; shift 2 ;;
        --rate) rate=$2; shift 2 ;;
        --scenario) scenario=$2; shift 2 ;;
        --feed) feed=$2; shift 2 ;;
        --silos) silos=$2; shift 2 ;;
        --transports) transports=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        --no-build) build=0; shift ;;
        --quiet) quiet=$2; shift 2 ;;
        --durable) export MARGINGRID_PG_DURABLE=1; shift ;;
        --pg-stats) export MARGINGRID_PG_STATEMENTS=1; pg_stats=1; shift ;;
        -h|--help) sed -n '2,28p' "${BASH_SOURCE[0]}"; exit 0 ;;
        *) die "unknown argument '$1' (see --help)" ;;
    esac
done
for t in $transports; do
    [[ $t == http || $t == client ]] || die "--transports takes http and/or client, got '$t'"
done
command -v jq >/dev/null || die "jq is needed for the summary (Debian: apt-get install jq)"
command -v curl >/dev/null || die "curl is needed for the readiness checks"

export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
host_dll=$repo_root/src/MarginGrid.Host/bin/Release/net10.0/margingrid.dll
load_dll=$repo_root/load/MarginGrid.Load/bin/Release/net10.0/MarginGrid.Load.dll
if [[ $build -eq 1 ]]; then
    log "building margingrid and the load tool (Release)"
    dotnet build src/MarginGrid.Host -c Release -v q -nologo >&2
    dotnet build load/MarginGrid.Load -c Release -v q -nologo >&2
fi
[[ -f $host_dll && -f $load_dll ]] || die "no Release build found: run without --no-build"

# ---- everything started here is stopped on exit ----------------------------------------------------------------
pg_state=$(mktemp -u "/tmp/margingrid-pg-run-cluster-$$-XXXXXX.env")
silo_pids=()
stop_silos() {
    local pid
    for pid in "${silo_pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${silo_pids[@]}"; do
        # A silo leaves the cluster gracefully on SIGTERM; one that has not exited within 30 s is killed.
        timeout 30 tail --pid="$pid" -f /dev/null 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
    done
    silo_pids=()
}
cleanup() {
    stop_silos
    if [[ -f $pg_state ]]; then
        MARGINGRID_PG_STATE=$pg_state "$repo_root/scripts/pg.sh" stop || log "warning: scripts/pg.sh stop failed"
    fi
    rm -f -- "$pg_state.lock"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
# free_port sets $port (no command substitution: the counter must survive the call).
# Below Linux's ephemeral range (32768–60999 by default): a port there can be taken, between the check and the bind,
# as the local end of an outgoing connection (a silo's to PostgreSQL or to another silo) — "address already in use".
next_port=$(( 20000 + ($$ % 600) * 20 ))
free_port() {
    while port_in_use "$next_port"; do next_port=$(( next_port + 1 )); done
    port=$next_port
    next_port=$(( next_port + 1 ))
}

pg_env=$(MARGINGRID_PG_STATE=$pg_state "$repo_root/scripts/pg.sh" start)
eval "$pg_env"
connection="$MARGINGRID_TEST_PG"
log "PostgreSQL on port $MARGINGRID_PG_PORT; initializing the schema"
dotnet "$host_dll" db init --connection-string "$connection" >&2
psql() { "${MARGINGRID_PG_BIN:-$(dirname "$(find /usr/lib/postgresql/*/bin -name psql | sort -V | tail -n 1)")}/psql" \
    -X -q -h 127.0.0.1 -p "$MARGINGRID_PG_PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 "$@"; }
# Clock ticks (user + system) of the silos and of PostgreSQL's processes, from /proc.
cpu_seconds() {
    local hz silo=0 pg=0 pid cmd stat
    hz=$(getconf CLK_TCK)
    for pid in /proc/[0-9]*; do
        cmd=$( { tr '\0' ' ' <"$pid/cmdline"; } 2>/dev/null) || continue # a process gone since the glob: the shell's own redirection fails
        stat=$(cat "$pid/stat" 2>/dev/null) || continue
        stat=${stat##*) }
        read -r -a f <<<"$stat"
        case $cmd in
            *margingrid.dll*) silo=$(( silo + f[11] + f[12] )) ;;
            postgres*|*/postgres\ *) pg=$(( pg + f[11] + f[12] )) ;;
        esac
    done
    printf '%s %s %s\n' "$silo" "$pg" "$hz"
}
if [[ $pg_stats -eq 1 ]]; then psql -c 'create extension if not exists pg_stat_statements'; fi
# Every 2 s of a load run: the load tool's phase (from its log), PostgreSQL's checkpoints so far, and the WAL written
# since the previous sample — bytes, full-page images (the first change of a page after a checkpoint writes the whole
# page) and flushes — and the CPU seconds of the silos and of PostgreSQL in those 2 s: DIR/<transport>/pg-activity.tsv.
sample_pg() {
    local dir=$1 phase row cpu last_cpu=
    printf 'time\tphase\tcheckpoints (timed, requested)\tcheckpoint buffers\tWAL MB\tfull-page images\tWAL flushes\tCPU s silos\tCPU s PostgreSQL\n' >"$dir/pg-activity.tsv"
    local prev="0 0 0"
    while sleep 2; do
        phase=setup
        if grep -q 'updates …' "$dir/load.log" 2>/dev/null; then phase=crash
        elif grep -q 'quiet market' "$dir/load.log" 2>/dev/null; then phase=quiet; fi
        row=$(psql -A -t -F ' ' -c "select b.checkpoints_timed, b.checkpoints_req, b.buffers_checkpoint, w.wal_bytes, w.wal_fpi, w.wal_sync
                                    from pg_stat_bgwriter b, pg_stat_wal w" 2>/dev/null) || continue
        cpu=$(cpu_seconds)
        read -r ct cr cb wb fpi syncs <<<"$row"
        read -r pb pf ps <<<"$prev"
        if [[ -n $last_cpu ]]; then
            read -r s0 p0 hz <<<"$last_cpu"
            read -r s1 p1 _ <<<"$cpu"
            awk -v t="$(date +%T)" -v ph="$phase" -v ct="$ct" -v cr="$cr" -v cb="$cb" -v wb=$(( wb - pb )) -v f=$(( fpi - pf )) \
                -v y=$(( syncs - ps )) -v s=$(( s1 - s0 )) -v p=$(( p1 - p0 )) -v hz="$hz" \
                'BEGIN { printf "%s\t%s\t%d, %d\t%d\t%.1f\t%d\t%d\t%.1f\t%.1f\n", t, ph, ct, cr, cb, wb / 1048576, f, y, s / hz, p / hz }' >>"$dir/pg-activity.tsv"
        fi
        prev="$wb $fpi $syncs"
        last_cpu=$cpu
    done
}

mkdir -p "$out"
failed=0
for transport in $transports; do
    dir="$out/$transport"
    rm -rf -- "$dir"
    mkdir -p "$dir"
    id="run-$transport-$(date -u +%Y%m%d%H%M%S)"
    http_targets=() gateways=() ready_at=()
    log "$transport: starting $silos silos (cluster and service id $id)"
    started=$(date +%s)
    for i in $(seq 1 "$silos"); do
        free_port; http=$port
        free_port; silo=$port
        free_port; gateway=$port
        Logging__LogLevel__Default=Warning \
        MarginGrid__RateLimit__PermitsPerSecond=1000000 \
        DOTNET_gcServer=${DOTNET_gcServer:-0} \
            dotnet "$host_dll" silo --http-port "$http" --silo-port "$silo" --gateway-port "$gateway" \
            --advertised-ip 127.0.0.1 --cluster-id "$id" --service-id "$id" --connection-string "$connection" \
            >"$dir/silo-$i.log" 2>&1 &
        silo_pids+=("$!")
        http_targets+=("http://127.0.0.1:$http")
        gateways+=("127.0.0.1:$gateway")
    done
    for i in $(seq 1 "$silos"); do
        url="${http_targets[$((i - 1))]}/health/ready"
        deadline=$(( $(date +%s) + 180 ))
        until curl -fs -o /dev/null --max-time 5 "$url"; do
            kill -0 "${silo_pids[$((i - 1))]}" 2>/dev/null || { tail -n 40 "$dir/silo-$i.log" >&2; die "silo $i exited before it was ready"; }
            [[ $(date +%s) -lt $deadline ]] || { tail -n 40 "$dir/silo-$i.log" >&2; die "silo $i not ready within 180 s"; }
            sleep 0.5 # polling interval of a readiness check with a deadline
        done
    done
    log "$transport: $silos silos ready in $(( $(date +%s) - started )) s"

    if [[ $transport == http ]]; then
        target=$(IFS=,; printf '%s' "${http_targets[*]}")
    else
        target="orleans://$(IFS=,; printf '%s' "${gateways[*]}")?cluster-id=$id&service-id=$id"
    fi
    log "$transport: --target $target"
    sampler=
    if [[ $pg_stats -eq 1 ]]; then
        psql -c 'select pg_stat_statements_reset()' >/dev/null
        cpu_seconds >"$dir/cpu-start"
        sample_pg "$dir" &
        sampler=$!
    fi
    if ! dotnet "$load_dll" --target "$target" --no-baseline --plain --scenario "$scenario" --accounts "$accounts" \
        --markets "$markets" --duration "$duration" --rate "$rate" --feed "$feed" --quiet "$quiet" --run-id "$transport" --out "$dir" \
        >"$dir/load.log" 2>&1; then
        log "$transport: the load run failed:"
        tail -n 40 "$dir/load.log" >&2
        failed=1
    fi
    if [[ -n $sampler ]]; then kill "$sampler" 2>/dev/null || true; wait "$sampler" 2>/dev/null || true; fi
    if [[ $pg_stats -eq 1 ]]; then
        # Before the silos stop: their CPU is read from /proc while they run. From the start of the load run (its
        # setup included) to its end.
        cpu_seconds >"$dir/cpu-end"
        for i in $(seq 1 "$silos"); do
            curl -fs --max-time 5 "${http_targets[$((i - 1))]}/metrics" | grep '^margingrid_storage_' >"$dir/silo-$i.storage-metrics" || true
        done
        psql -c "select round(total_exec_time::numeric, 0) as total_ms, calls, rows,
                        round((total_exec_time / greatest(calls, 1))::numeric, 3) as mean_ms,
                        left(regexp_replace(query, '\s+', ' ', 'g'), 160) as query
                 from pg_stat_statements order by total_exec_time desc limit 25" >"$dir/pg-statements.txt"
        # Updates of grain states that were HOT (no new index entry: room for the new version on the row's page).
        psql -c "select relname, n_tup_ins, n_tup_upd, n_tup_hot_upd, n_live_tup, n_dead_tup, pg_size_pretty(pg_total_relation_size(relid)) as size
                 from pg_stat_user_tables where relname in ('orleansstorage', 'margingrid_audit')" >>"$dir/pg-statements.txt"
    fi
    stop_silos
done

# ---- summary ---------------------------------------------------------------------------------------------------
printf '\nProduction path: %s, %s accounts, %s markets, %s s at %s updates/s (%s feed), %s silos on PostgreSQL (%s)\n\n' \
    "$scenario" "$accounts" "$markets" "$duration" "$rate" "$feed" "$silos" \
    "$([[ ${MARGINGRID_PG_DURABLE:-0} == 1 ]] && echo "fsync and synchronous_commit on" || echo "fsync off: --durable for production commits")"
printf '| transport | updates/s | tick→decision p99 ms | tick→liquidation p50 / p99 / max ms | liquidations (closes) | closes/s | margin calls | bankruptcies | conservation | p99 ≤ 2 s |\n'
printf '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n'
for transport in $transports; do
    report="$out/$transport/report.json"
    if [[ ! -f $report ]]; then
        printf '| %s | run failed: see %s |  |  |  |  |  |  |  |  |\n' "$transport" "$out/$transport/load.log"
        continue
    fi
    jq -r --arg t "$transport" '
        def f: . * 100 | round / 100;
        "| \($t) | \(.updatesPerSecond | f) | \(.tickDecision.p99 | f) | \(.tickLiquidation.p50 | f) / \(.tickLiquidation.p99 | f) / \(.tickLiquidation.max | f) (\(.tickLiquidation.count) steps) | \(.liquidations) | \(if .gridSeconds > 0 then (.liquidations / .gridSeconds | f) else 0 end) | \(.marginCalls) | \(.bankruptcies) | \(if .conservationHolds then "holds" else "FAILS by \(.conservationDifference)" end) | \(if .tickLiquidation.count == 0 then "n/a" elif .tickLiquidation.p99 <= 2000 then "yes" else "NO" end) |"
    ' "$report"
    if [[ $(jq -r '.conservationHolds' "$report") != true ]]; then failed=1; fi
done
if [[ $pg_stats -eq 1 ]]; then
    printf '\n| transport | CPU s during the load run: silos | PostgreSQL | state writes | round trips | top statements |\n| --- | --: | --: | --: | --: | --- |\n'
    for transport in $transports; do
        dir="$out/$transport"
        [[ -f $dir/cpu-start && -f $dir/cpu-end ]] || continue
        read -r s0 p0 hz <"$dir/cpu-start"
        read -r s1 p1 _ <"$dir/cpu-end"
        writes=$(cat "$dir"/silo-*.storage-metrics 2>/dev/null | awk '/^margingrid_storage_writes_total/ { n += $2 } END { print n + 0 }')
        batches=$(cat "$dir"/silo-*.storage-metrics 2>/dev/null | awk '/^margingrid_storage_write_batches_total/ { n += $2 } END { print n + 0 }')
        awk -v t="$transport" -v s=$(( s1 - s0 )) -v p=$(( p1 - p0 )) -v hz="$hz" -v w="$writes" -v b="$batches" \
            -v f="$dir/pg-statements.txt" 'BEGIN { printf "| %s | %.1f | %.1f | %d | %d | %s |\n", t, s / hz, p / hz, w, b, f }'
    done
fi
printf '\nReports: %s/<transport>/report.md\n' "$out"
exit "$failed"
