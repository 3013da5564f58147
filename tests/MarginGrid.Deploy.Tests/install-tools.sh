#!/usr/bin/env bash
# Installs what tests/MarginGrid.Deploy.Tests runs, idempotently:
#   promtool        Debian package prometheus      (/usr/bin/promtool; the service is not started)
#   docker-compose  Debian package docker-compose  (/usr/bin/docker-compose; `config` needs no engine)
#   node modules    npm ci in deploy/k8s/validate  (Kubernetes and Prometheus Operator schemas)
# kubectl, node and psql come with the machine image.
set -Eeuo pipefail
repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
log() { printf 'install-tools.sh: %s\n' "$*" >&2; }

missing=()
command -v promtool >/dev/null || missing+=(prometheus)
command -v docker-compose >/dev/null || missing+=(docker-compose)
if [[ ${#missing[@]} -gt 0 ]]; then
    if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null; then
        log "error: install Debian packages: ${missing[*]}"
        exit 1
    fi
    log "installing Debian packages: ${missing[*]}"
    own_policy=0
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        # exit 101 = "action forbidden": package scripts must not start prometheus.
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        own_policy=1
    fi
    rc=0
    { DEBIAN_FRONTEND=noninteractive apt-get update -qq \
        && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"; } >&2 || rc=$?
    if [[ $own_policy -eq 1 ]]; then rm -f /usr/sbin/policy-rc.d; fi
    if command -v systemctl >/dev/null && systemctl is-active --quiet prometheus 2>/dev/null; then
        systemctl disable --now prometheus >/dev/null 2>&1 || log "warning: could not stop the prometheus service"
    fi
    [[ $rc -eq 0 ]] || { log "error: apt-get exit $rc"; exit "$rc"; }
fi

validate_dir="$repo_root/deploy/k8s/validate"
if [[ ! -d $validate_dir/node_modules/kubernetes-models || $validate_dir/package-lock.json -nt $validate_dir/node_modules/.package-lock.json ]]; then
    log "npm ci in deploy/k8s/validate"
    npm ci --prefix "$validate_dir" --no-audit --no-fund --loglevel=error >&2
fi
log "promtool: $(promtool --version 2>&1 | head -n 1)"
log "docker-compose: $(docker-compose version --short 2>/dev/null)"
