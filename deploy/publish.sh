#!/usr/bin/env bash
# Publishes the `margingrid` executable (framework-dependent, Release) into a folder, and the load
# generator into its load/ subfolder.
#
#   deploy/publish.sh [OUTPUT_DIR]     # default /app
#
# MARGINGRID_PUBLISH_ARGS adds arguments to `dotnet publish` (the test passes an isolated
# --artifacts-path so it never writes into the bin/obj folders other tests run from; the
# Dockerfile passes nothing).
#
# This is THE build step of the container image: the Dockerfile runs exactly this script,
# and tests/MarginGrid.Deploy.Tests runs it into a temporary folder, so the image cannot
# drift from what is tested here.
set -Eeuo pipefail

out=${1:-/app}
repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo_root"

export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
# shellcheck disable=SC2086 # word splitting of the extra arguments is intended
dotnet publish src/MarginGrid.Host/MarginGrid.Host.csproj -c Release -o "$out" --nologo ${MARGINGRID_PUBLISH_ARGS:-}
test -f "$out/margingrid.dll" || { echo "publish.sh: $out/margingrid.dll was not produced" >&2; exit 1; }
# The load generator, for the compose load profile (`dotnet /app/load/MarginGrid.Load.dll --target …`).
# shellcheck disable=SC2086
dotnet publish load/MarginGrid.Load/MarginGrid.Load.csproj -c Release -o "$out/load" --nologo ${MARGINGRID_PUBLISH_ARGS:-}
test -f "$out/load/MarginGrid.Load.dll" || { echo "publish.sh: $out/load/MarginGrid.Load.dll was not produced" >&2; exit 1; }
