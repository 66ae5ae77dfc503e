-- One session request cycle as the issue measured it: load the row if it has not expired, then
-- write it back with an UPSERT. Each client cycles over its own 64 sessions, like the criterion
-- benches' tasks. :data (from run.sh) is the 1,600-byte record as '\x...' hex, sent as a bound
-- parameter under -M prepared. "Now" is the server's clock in Unix seconds, so expire_date moves
-- every second as in the criterion benches (an UPDATE that changes the indexed expire_date
-- cannot be a HOT update; a constant one would flatter the baseline).
\set k 1000000000000000 + :client_id * 64 + random(0, 63)
SELECT session_data FROM skbench_pgbench WHERE session_key = :k::text AND expire_date > extract(epoch FROM now())::bigint;
INSERT INTO skbench_pgbench (session_key, session_data, expire_date)
VALUES (:k::text, :data::bytea, extract(epoch FROM now())::bigint + 3600)
ON CONFLICT (session_key) DO UPDATE
SET session_data = EXCLUDED.session_data, expire_date = EXCLUDED.expire_date;
