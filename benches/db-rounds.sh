#!/bin/sh
# The database goals' runs (docs/benchmarks.md, "databases"): the request cycle at 32 tasks,
# measured in ROUNDS rounds (default 3), each round pgbench, then sessionkit-db and raw diesel
# (benches/db.rs), then tower-sessions' sqlx store and raw diesel again (benches/sqlx-peer, a
# separate workspace), so every ratio is taken from measurements seconds apart; then warm-cache
# loads of cached-db. Servers as for the benches: SESSIONKIT_POSTGRES_URL, SESSIONKIT_MYSQL_URL
# (or throwaway ones; pgbench uses PGHOST etc., default 127.0.0.1:5432 postgres/test),
# SESSIONKIT_REDIS_URL.
#
#   benches/db-rounds.sh 2>&1 | tee db-rounds.txt
set -eu
here=$(cd "$(dirname "$0")" && pwd)
rounds=${ROUNDS:-3}
export SESSIONKIT_LATENCY_OPS=${SESSIONKIT_LATENCY_OPS:-1}
summary='/^[a-z_-]+\/.*tasks\// && !/latency/ {n=$1} /thrpt:/ && !/%\]/ {print n, $4, $5}'
cd "$here/.."
cargo bench -p sessionkit-benches --bench db --no-run -q
cargo bench --manifest-path benches/sqlx-peer/Cargo.toml --no-run -q
r=1
while [ "$r" -le "$rounds" ]; do
    echo "== round $r $(date -u +%T)"
    PGBENCH_TIME=10 "$here/pgbench/run.sh" cycle_update 2>&1 | grep tps
    cargo bench -q -p sessionkit-benches --bench db -- --measurement-time 6 \
        'request_cycle/1.5KB/32tasks/[a-z]+/(sessionkit-db|raw-diesel)$' 2>&1 | awk "$summary"
    cargo bench -q --manifest-path benches/sqlx-peer/Cargo.toml -- --measurement-time 6 \
        'request_cycle/1.5KB/32tasks/[a-z]+/(tower-sessions-sqlx|raw-diesel)$' 2>&1 | awk "$summary"
    r=$((r + 1))
done
r=1
while [ "$r" -le "$rounds" ]; do
    echo "== cached-db round $r $(date -u +%T)"
    cargo bench -q -p sessionkit-benches --bench db -- --measurement-time 4 'cached-db-load' 2>&1 \
        | awk "$summary"
    r=$((r + 1))
done
