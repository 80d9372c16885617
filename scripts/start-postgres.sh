#!/usr/bin/env bash
# Starts a PostgreSQL server on loopback for the tests (installing Debian's package when it is missing), creates
# the role and database they use, and prints the URL to export as ALOFT_TEST_POSTGRES_URL.
#   export ALOFT_TEST_POSTGRES_URL=$(scripts/start-postgres.sh)
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
if ! command -v pg_lsclusters >/dev/null 2>&1; then
  apt-get update -qq >&2 && apt-get install -y -qq postgresql >/dev/null
fi
version=$(ls /usr/lib/postgresql | sort -n | tail -1)
if ! pg_lsclusters -h | grep -q .; then
  pg_createcluster "$version" main >&2
fi
cluster=$(pg_lsclusters -h | head -1)
read -r cluster_version cluster_name port status _ <<<"$cluster"
if [ "$status" != "online" ]; then
  pg_ctlcluster "$cluster_version" "$cluster_name" start >&2
fi
as_postgres() { su postgres -c "$1" >&2; }
as_postgres "psql -p $port -tAc \"SELECT 1 FROM pg_roles WHERE rolname = 'aloft'\" | grep -q 1 || psql -p $port -c \"CREATE ROLE aloft LOGIN PASSWORD 'aloft'\""
as_postgres "psql -p $port -tAc \"SELECT 1 FROM pg_database WHERE datname = 'aloft_test'\" | grep -q 1 || createdb -p $port -O aloft aloft_test"
echo "postgres://aloft:aloft@127.0.0.1:$port/aloft_test"
