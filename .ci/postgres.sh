#!/usr/bin/env bash
# Starts two throwaway PostgreSQL servers for the Postgres tests and examples/postgres-transfer.ts,
# installing PostgreSQL from Debian first if it is missing. Idempotent, and quick once done.
#
#   eval "$(bash .ci/postgres.sh)"   # exports TWOPC_PG_URL and TWOPC_PG_URL_NO_PREPARED
#
# - TWOPC_PG_URL (port $TWOPC_PG_PORT, default 54329): max_prepared_transactions = 64, databases
#   twopc_bank_a and twopc_bank_b owned by the role twopc (password twopc).
# - TWOPC_PG_URL_NO_PREPARED (port $TWOPC_PG_PORT_NO_PREPARED, default 54330): the same role but
#   max_prepared_transactions = 0, so the tests can see the misconfiguration error on a real server.
#
# `bash .ci/postgres.sh stop` stops both servers (if running) and prints nothing on stdout.
#
# Both listen on 127.0.0.1 only and ask for a password over TCP. Their data lives in $TWOPC_PG_DIR
# (default /tmp/twopc-postgres); stop them with `pg_ctl -D <dir>/<name> stop`, or delete the
# directory after stopping them to start from scratch. Progress goes to stderr; stdout carries only
# the export lines, so that `eval` sees nothing else.
set -euo pipefail
exec 3>&1 1>&2

dir=${TWOPC_PG_DIR:-/tmp/twopc-postgres}
port=${TWOPC_PG_PORT:-54329}
port_no_prepared=${TWOPC_PG_PORT_NO_PREPARED:-54330}
is_root=$([ "$(id -u)" -eq 0 ] && echo yes || echo no)

bin_dir() { find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin 2>/dev/null | sort -V | tail -n 1; }

if [ -z "$(bin_dir)" ]; then
  if [ "$is_root" = no ]; then
    echo "PostgreSQL is not installed. Run this script as root, or: sudo apt-get install postgresql" >&2
    exit 1
  fi
  echo "installing PostgreSQL from Debian"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends postgresql </dev/null
fi
bin=$(bin_dir)

# initdb and postgres refuse to run as root: as root, run them as the postgres user the package made.
as_owner() {
  if [ "$is_root" = yes ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

mkdir -p "$dir"
if [ "$is_root" = yes ]; then chown postgres: "$dir"; fi

# Creates (once) and starts (unless running) the cluster `$1` on port `$2` with
# max_prepared_transactions = `$3`.
start_cluster() {
  local data="$dir/$1" cluster_port=$2 max_prepared=$3
  if [ ! -f "$data/PG_VERSION" ]; then
    echo "creating cluster $data (port $cluster_port, max_prepared_transactions = $max_prepared)"
    as_owner rm -rf "$data"
    as_owner "$bin/initdb" -D "$data" -U postgres -E UTF8 --locale=C \
      --auth-local=trust --auth-host=scram-sha-256 >/dev/null
    # The server is thrown away after the run, so durability settings trade safety for speed;
    # the tests kill client processes, never the server.
    as_owner tee -a "$data/postgresql.conf" >/dev/null <<EOF
listen_addresses = '127.0.0.1'
port = $cluster_port
unix_socket_directories = '$dir'
max_prepared_transactions = $max_prepared
max_connections = 200
shared_buffers = 32MB
fsync = off
synchronous_commit = off
full_page_writes = off
EOF
  fi
  if ! as_owner "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1; then
    echo "starting cluster $data"
    # 3>&-: the server must not inherit the export-lines descriptor, or a caller reading this
    # script's stdout (`$(bash .ci/postgres.sh)`) would wait for the server to exit, i.e. forever.
    as_owner "$bin/pg_ctl" -D "$data" -l "$data/server.log" -w -t 60 start >/dev/null 3>&-
  fi
}

# Runs SQL as the superuser over the Unix socket (trusted locally), on cluster port `$1`, database `$2`.
psql_admin() {
  local cluster_port=$1 database=$2
  shift 2
  as_owner "$bin/psql" -h "$dir" -p "$cluster_port" -U postgres -d "$database" -v ON_ERROR_STOP=1 -qAt "$@"
}

create_role() {
  psql_admin "$1" postgres -c "DO \$\$ BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'twopc') THEN
      CREATE ROLE twopc LOGIN PASSWORD 'twopc';
    END IF;
  END \$\$"
}

create_database() {
  if [ -z "$(psql_admin "$1" postgres -c "SELECT 1 FROM pg_database WHERE datname = '$2'")" ]; then
    psql_admin "$1" postgres -c "CREATE DATABASE $2 OWNER twopc"
  fi
}

if [ "${1:-}" = stop ]; then
  for name in main no-prepared; do
    if [ -f "$dir/$name/PG_VERSION" ] && as_owner "$bin/pg_ctl" -D "$dir/$name" status >/dev/null 2>&1; then
      as_owner "$bin/pg_ctl" -D "$dir/$name" -m fast -w stop >/dev/null
      echo "stopped cluster $dir/$name"
    fi
  done
  exit 0
fi

start_cluster main "$port" 64
create_role "$port"
create_database "$port" twopc_bank_a
create_database "$port" twopc_bank_b

start_cluster no-prepared "$port_no_prepared" 0
create_role "$port_no_prepared"

echo "PostgreSQL $("$bin/postgres" --version | awk '{print $3}') ready on 127.0.0.1:$port and :$port_no_prepared"
cat >&3 <<EOF
export TWOPC_PG_URL=postgres://twopc:twopc@127.0.0.1:$port
export TWOPC_PG_URL_NO_PREPARED=postgres://twopc:twopc@127.0.0.1:$port_no_prepared
EOF
