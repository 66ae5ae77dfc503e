-- One session request cycle as sessionkit-db does it: load the row if it has not expired, then
-- UPDATE it only if it is still live (an update never resurrects a deleted or expired session;
-- 0 rows would mean "vanished"). Same data, clock and sessions as cycle_upsert.sql.
\set k 1000000000000000 + :client_id * 64 + random(0, 63)
SELECT session_data FROM skbench_pgbench WHERE session_key = :k::text AND expire_date > extract(epoch FROM now())::bigint;
UPDATE skbench_pgbench SET session_data = :data::bytea, expire_date = extract(epoch FROM now())::bigint + 3600
WHERE session_key = :k::text AND expire_date > extract(epoch FROM now())::bigint;
