#!/usr/bin/env bash
# Applies MarginGrid's schema to a new PostgreSQL data volume.
#
# The postgres image runs the files of /docker-entrypoint-initdb.d once, when its data
# directory is empty, but not the files of sub-folders, so deploy/sql is mounted at
# /margingrid-sql and this script runs it in order: the Orleans ADO.NET scripts
# (Main first: the others insert into its OrleansQuery table), then MarginGrid's own
# migrations in name order. `margingrid db init` (the compose `migrate` service) then
# records the migrations and applies any newer one; it skips what already exists.
#
# Also run by tests/MarginGrid.Deploy.Tests against a throwaway PostgreSQL, with
# PGHOST/PGPORT and MARGINGRID_SQL_DIR set.
set -Eeuo pipefail

sql_dir=${MARGINGRID_SQL_DIR:-/margingrid-sql}
db=${POSTGRES_DB:-${PGDATABASE:-postgres}}
user=${POSTGRES_USER:-${PGUSER:-postgres}}

scripts=(
    "$sql_dir/orleans/PostgreSQL-Main.sql"
    "$sql_dir/orleans/PostgreSQL-Clustering.sql"
    "$sql_dir/orleans/PostgreSQL-Persistence.sql"
    "$sql_dir/orleans/PostgreSQL-Reminders.sql"
)
shopt -s nullglob
scripts+=("$sql_dir"/margingrid/*.sql)

for script in "${scripts[@]}"; do
    if [[ ! -f $script ]]; then
        echo "margingrid initdb: missing $script" >&2
        exit 1
    fi
    echo "margingrid initdb: applying $script"
    psql -v ON_ERROR_STOP=1 --no-psqlrc --quiet --username "$user" --dbname "$db" --single-transaction -f "$script"
done
