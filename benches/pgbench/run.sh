#!/bin/sh
# pgbench baseline for the database benches: the statements of one session request cycle
# (SELECT of a live row, then a write of 1,600 bytes) at 32 clients, prepared statements.
#
#   benches/pgbench/run.sh                 # both scripts, 20 s each
#   PGBENCH_TIME=60 benches/pgbench/run.sh cycle_update
#
# Connection: libpq's usual variables, default 127.0.0.1:5432, user postgres, database test.
# Prints pgbench's report; "tps" is request cycles per second (one transaction = one cycle).
set -eu
here=$(dirname "$0")
: "${PGHOST:=127.0.0.1}" "${PGPORT:=5432}" "${PGUSER:=postgres}" "${PGDATABASE:=test}"
export PGHOST PGPORT PGUSER PGDATABASE
time=${PGBENCH_TIME:-20}
scripts=${*:-cycle_upsert cycle_update}
# 1,600 bytes of record, as bytea hex input.
data="\\x$(head -c 1600 /dev/urandom | od -An -v -tx1 | tr -d ' \n')"
psql -q -v ON_ERROR_STOP=1 -f "$here/setup.sql"
for s in $scripts; do
    echo "== $s: pgbench -M prepared -c 32 -j 2 -T $time"
    pgbench -n -M prepared -c 32 -j 2 -T "$time" -D data="$data" \
        -f "$here/$s.sql"
done
