# syntax=docker/dockerfile:1
# MarginGrid silo image.
#
#   docker build -t margingrid:local .
#   docker run --rm -p 8080:8080 margingrid:local            # = margingrid silo
#   docker run --rm margingrid:local db init                  # any other subcommand
#
# The build stage runs deploy/publish.sh, the same script tests/MarginGrid.Deploy.Tests
# runs, so what the image ships is what the tests publish.

ARG DOTNET_VERSION=10.0

FROM mcr.microsoft.com/dotnet/sdk:${DOTNET_VERSION} AS build
WORKDIR /src
COPY . .
RUN bash deploy/publish.sh /app

FROM mcr.microsoft.com/dotnet/aspnet:${DOTNET_VERSION} AS runtime
# curl for the HEALTHCHECK only.
RUN apt-get update \
    && apt-get install -y --no-install-recommends curl \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY --from=build --chown=root:root /app /app

ENV MarginGrid__Http__Port=8080 \
    DOTNET_CLI_TELEMETRY_OPTOUT=1 \
    DOTNET_gcServer=1
# HTTP API, /metrics and /health; Orleans silo-to-silo; Orleans gateway.
EXPOSE 8080 11111 30000

# The non-root "app" user (UID 1654) of the .NET images, by number so that
# Kubernetes' runAsNonRoot can verify it.
USER 1654:1654

HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD curl --fail --silent --show-error --max-time 2 http://localhost:8080/health/live || exit 1

# `margingrid silo` by default; `docker run IMAGE db init` or `... load ...` run other subcommands.
ENTRYPOINT ["dotnet", "/app/margingrid.dll"]
CMD ["silo"]
