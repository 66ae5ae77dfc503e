-- The table a session request cycle works on, shaped like sessionkit-db's (Django's column
-- names; key VARCHAR(40) primary key, BYTEA data, expiry as BIGINT Unix seconds, indexed),
-- filled with 64 sessions for each of 32 clients (pgbench's :client_id 0..31), 1,600 bytes
-- of data each. Run by run.sh; safe to rerun (drops and recreates the table).
DROP TABLE IF EXISTS skbench_pgbench;
CREATE TABLE skbench_pgbench (
    session_key  VARCHAR(40) PRIMARY KEY,
    session_data BYTEA       NOT NULL,
    expire_date  BIGINT      NOT NULL
);
CREATE INDEX skbench_pgbench_expire_date ON skbench_pgbench (expire_date);
INSERT INTO skbench_pgbench (session_key, session_data, expire_date)
SELECT (1000000000000000 + k)::text,
       decode(repeat(md5(k::text), 100), 'hex'),
       extract(epoch FROM now())::bigint + 1209600
FROM generate_series(0, 32 * 64 - 1) AS k;
VACUUM ANALYZE skbench_pgbench;
