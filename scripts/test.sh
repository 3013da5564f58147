#!/usr/bin/env bash
# THE test command of MarginGrid: what CI runs (.ci/run) and what a developer runs.
#
#   ./scripts/test.sh [extra dotnet test arguments, e.g. --filter FullyQualifiedName~Storage]
#   MARGINGRID_TEST_TARGET=tests/MarginGrid.Storage.Tests ./scripts/test.sh   # one project only
#
# 1. ensures the prerequisites: PostgreSQL server binaries (via scripts/pg.sh) and
#    promtool (Debian's prometheus package, installed without leaving a service running);
# 2. starts a throwaway PostgreSQL cluster and exports MARGINGRID_TEST_PG;
# 3. builds the solution, then runs `dotnet test MarginGrid.sln -c Release --no-build -m:1` (one project at a time);
# 4. always stops PostgreSQL again;
# 5. prints "Tests: N passed, N failed, N skipped" (from the TRX files) and exits with
#    dotnet test's exit code.
set -Eeuo pipefail

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo_root"

log() { printf 'test.sh: %s\n' "$*" >&2; }

export DOTNET_CLI_TELEMETRY_OPTOUT=1
export DOTNET_NOLOGO=1
export DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

ensure_promtool() {
    if command -v promtool >/dev/null; then
        return 0
    fi
    if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null; then
        log "error: promtool is missing: install Debian's 'prometheus' package (it ships /usr/bin/promtool)"
        return 1
    fi
    log "promtool missing: installing Debian's prometheus package (service not started)"
    local own_policy=0 rc=0
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        # exit 101 = "action forbidden": the postinst must not start prometheus.
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        own_policy=1
    fi
    { DEBIAN_FRONTEND=noninteractive apt-get update -qq \
        && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus; } >&2 || rc=$?
    if [[ $own_policy -eq 1 ]]; then rm -f /usr/sbin/policy-rc.d; fi
    # Belt and braces: where an init system started it anyway, stop and disable it.
    if command -v systemctl >/dev/null && systemctl is-active --quiet prometheus 2>/dev/null; then
        systemctl disable --now prometheus >/dev/null 2>&1 || log "warning: could not stop the prometheus service"
    elif command -v service >/dev/null && service prometheus status >/dev/null 2>&1; then
        service prometheus stop >/dev/null 2>&1 || log "warning: could not stop the prometheus service"
    fi
    if [[ $rc -ne 0 ]] || ! command -v promtool >/dev/null; then
        log "error: could not install promtool (apt-get exit $rc)"
        return 1
    fi
    log "promtool: $(promtool --version 2>&1 | head -n 1)"
}

pg_started=0
stop_pg() {
    if [[ $pg_started -eq 1 ]]; then
        pg_started=0
        "$repo_root/scripts/pg.sh" stop || log "warning: scripts/pg.sh stop failed"
    fi
}
trap stop_pg EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

ensure_promtool
# The deploy checks' tools (docker-compose for `config`, the Kubernetes schema validator's node modules).
"$repo_root/tests/MarginGrid.Deploy.Tests/install-tools.sh"

pg_env=$("$repo_root/scripts/pg.sh" start)
pg_started=1
eval "$pg_env"
export MARGINGRID_TEST_PG MARGINGRID_PG_DIR MARGINGRID_PG_PORT
log "PostgreSQL for tests: $MARGINGRID_TEST_PG"

results_dir="$repo_root/artifacts/test-results"
rm -rf -- "$results_dir"
mkdir -p "$results_dir"

target=${MARGINGRID_TEST_TARGET:-MarginGrid.sln}
rc=0
# Build once with every core, then run the test projects one after another (-m:1): the cluster and fault tests start
# three or four silo processes and judge failure detection by the clock, and the deploy tests run a full publish;
# side by side on two cores they starve each other into false "silo dead" verdicts.
dotnet build "$target" -c Release || rc=$?
[[ $rc -ne 0 ]] || dotnet test "$target" -c Release --no-build -m:1 \
    --logger "console;verbosity=normal" \
    --logger "trx" \
    --results-directory "$results_dir" \
    --blame-hang-timeout 10m \
    "$@" || rc=$?

stop_pg

# One closing line that any reader understands, summed over all test projects.
passed=0 failed=0 skipped=0 total=0
shopt -s nullglob globstar
for trx in "$results_dir"/**/*.trx; do
    counters=$(grep -o '<Counters [^>]*>' "$trx" | head -n 1 || true)
    [[ -n $counters ]] || continue
    attr() { sed -n "s/.* $1=\"\\([0-9]*\\)\".*/\\1/p" <<<"$counters"; }
    total=$(( total + $(attr total) ))
    passed=$(( passed + $(attr passed) ))
    failed=$(( failed + $(attr failed) + $(attr error) + $(attr timeout) + $(attr aborted) ))
    skipped=$(( skipped + $(attr notExecuted) ))
done
if [[ $rc -eq 0 && $total -eq 0 ]]; then
    log "error: dotnet test succeeded but no test result was found in $results_dir"
    rc=1
fi
# CI shows only the tail of the output: repeat each failure (name and first lines of its
# message) here, after the noise of the test hosts' logs.
if [[ $failed -gt 0 ]]; then
    echo "Failed tests:"
    for trx in "$results_dir"/**/*.trx; do
        awk '
            /<UnitTestResult / && /outcome="(Failed|Error|Timeout|Aborted)"/ {
                match($0, /testName="[^"]*"/); name = substr($0, RSTART + 10, RLENGTH - 11)
                gsub(/&quot;/, "\"", name); gsub(/&lt;/, "<", name); gsub(/&gt;/, ">", name); gsub(/&amp;/, "\\&", name)
                printf "  FAILED %s\n", name; inresult = 1; lines = 0; next
            }
            inresult && /<\/UnitTestResult>/ { inresult = 0; inmsg = 0; next }
            inresult && /<Message>/ { inmsg = 1; sub(/.*<Message>/, "") }
            inresult && inmsg {
                done = sub(/<\/Message>.*/, "")
                if (lines < 15) { gsub(/&lt;/, "<"); gsub(/&gt;/, ">"); gsub(/&quot;/, "\""); gsub(/&amp;/, "\\&"); print "    " $0 }
                lines++
                if (done) inmsg = 0
            }' "$trx"
    done
fi
echo "Tests: $passed passed, $failed failed, $skipped skipped"
exit "$rc"
