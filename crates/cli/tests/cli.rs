//! The `sessionkit` binary against real servers (the matrix's, or throwaway ones): migrate
//! twice, clear-expired on 100,000 expired and 1,000 live rows, check and stats, and a server
//! that is down.

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use diesel::{Connection, RunQueryDsl};
use sessionkit_testkit::Service;

/// Runs `sessionkit args...` with `SESSIONKIT_URL` unset; a guard against a hang, not a timing
/// assertion.
fn sessionkit(args: &[&str]) -> Output {
    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_sessionkit"))
        .args(args)
        .env_remove("SESSIONKIT_URL")
        .output()
        .expect("the sessionkit binary runs");
    assert!(
        started.elapsed() < Duration::from_secs(300),
        "{args:?} hung"
    );
    out
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_str(stdout(out).trim()).unwrap_or_else(|e| panic!("{e}: {}", stdout(out)))
}

/// `sessionkit --json args...`, which must succeed.
fn ok_json(args: &[&str]) -> serde_json::Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let out = sessionkit(&all);
    assert!(
        out.status.success(),
        "{args:?}: {:?} {} {}",
        out.status,
        stdout(&out),
        String::from_utf8_lossy(&out.stderr)
    );
    json(&out)
}

/// A database URL whose session table is `table`, on a throwaway or the matrix's server.
fn db_url(server: &sessionkit_testkit::Provided, table: &str) -> String {
    let sep = if server.url().contains('?') { '&' } else { '?' };
    format!("{}{sep}table={table}", server.url())
}

fn migrate_twice(url: &str) {
    let first = ok_json(&["migrate", url]);
    assert_eq!(first["migration"], "created", "{first}");
    let second = ok_json(&["migrate", url]);
    assert_eq!(second["migration"], "current", "{second}");
    let out = sessionkit(&["migrate", url]);
    assert!(stdout(&out).contains("already current"), "{}", stdout(&out));
}

/// 100,000 expired and 1,000 live rows, written with one statement each; clear-expired
/// removes exactly the expired ones and leaves the live.
fn fill_and_clear(url: &str, conn_url: &str, table: &str, postgres: bool) {
    migrate_twice(url);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let rows = |from: i64, to: i64, expire: i64| {
        if postgres {
            format!(
                "INSERT INTO {table} (session_key, session_data, expire_date) \
                 SELECT md5(i::text), '\\x00'::bytea, {expire} FROM generate_series({from}, {to}) i"
            )
        } else {
            format!(
                "INSERT INTO {table} (session_key, session_data, expire_date) \
                 WITH RECURSIVE n(i) AS (SELECT {from} UNION ALL SELECT i + 1 FROM n WHERE i < {to}) \
                 SELECT md5(i), x'00', {expire} FROM n"
            )
        }
    };
    let expired = rows(1, 100_000, now - 10);
    let live = rows(100_001, 101_000, now + 3_600);
    if postgres {
        let mut c = diesel::PgConnection::establish(conn_url).unwrap();
        diesel::sql_query(expired).execute(&mut c).unwrap();
        diesel::sql_query(live).execute(&mut c).unwrap();
    } else {
        let mut c = diesel::MysqlConnection::establish(conn_url).unwrap();
        // The recursion limits of MySQL and MariaDB; each ignores the other's.
        for limit in ["cte_max_recursion_depth", "max_recursive_iterations"] {
            diesel::sql_query(format!("SET SESSION {limit} = 1000000"))
                .execute(&mut c)
                .ok();
        }
        diesel::sql_query(expired).execute(&mut c).unwrap();
        diesel::sql_query(live).execute(&mut c).unwrap();
    }
    let stats = ok_json(&["stats", url]);
    assert_eq!(stats["expired_sessions"], 100_000, "{stats}");
    assert_eq!(stats["live_sessions"], 1_000, "{stats}");
    let cleared = ok_json(&["clear-expired", url]);
    assert_eq!(cleared["removed"], 100_000, "{cleared}");
    let stats = ok_json(&["stats", url]);
    assert_eq!(stats["expired_sessions"], 0, "{stats}");
    assert_eq!(
        stats["live_sessions"], 1_000,
        "the live rows survive: {stats}"
    );
    // Nothing left: an empty run is quick and says so.
    let again = ok_json(&["clear-expired", url]);
    assert_eq!(again["removed"], 0, "{again}");
}

#[test]
fn postgres_migrate_clear_expired_and_stats() {
    let server = Service::Postgres
        .from_env_or_start()
        .expect("a PostgreSQL server");
    let table = format!("cli_{}", std::process::id());
    fill_and_clear(&db_url(&server, &table), server.url(), &table, true);
    let check = ok_json(&["check", &db_url(&server, &table)]);
    assert!(
        check["server_version"]
            .as_str()
            .unwrap()
            .starts_with("PostgreSQL"),
        "{check}"
    );
}

#[test]
fn mysql_migrate_clear_expired_and_stats() {
    let server = Service::Mysql
        .from_env_or_start()
        .expect("a MariaDB/MySQL server");
    let table = format!("cli_{}", std::process::id());
    fill_and_clear(&db_url(&server, &table), server.url(), &table, false);
}

#[test]
fn sqlite_migrate_twice_and_check() {
    let dir = sessionkit_testkit::TempDir::new("sessionkit-cli").unwrap();
    let url = format!("sqlite://{}", dir.path().join("s.sqlite3").display());
    migrate_twice(&url);
    let check = ok_json(&["check", &url]);
    assert_eq!(check["backend"], "sqlite");
    for step in ["connect", "create", "read", "update", "delete"] {
        assert!(check["milliseconds"][step].is_number(), "{check}");
    }
}

#[test]
fn caches_say_the_server_expires_and_report_what_they_can() {
    let redis = Service::Redis.from_env_or_start().expect("a redis server");
    let memcached = Service::Memcached { nodes: 1 }
        .from_env_or_start()
        .expect("a memcached server");
    let mc = format!(
        "memcached://{}",
        memcached.urls()[0]
            .trim_start_matches("memcached://")
            .trim_start_matches("memcached://")
    );
    for url in [redis.url().to_owned(), mc] {
        let cleared = ok_json(&["clear-expired", &url]);
        assert_eq!(cleared["needed"], false, "{cleared}");
        assert_eq!(ok_json(&["migrate", &url])["migration"], "not-needed");
        let stats = ok_json(&["stats", &url]);
        assert!(stats["memory_bytes"].is_u64(), "{stats}");
        assert!(stats["server_version"].is_string(), "{stats}");
        let check = ok_json(&["check", &url]);
        assert_eq!(check["ok"], true, "{check}");
    }
    let stats = ok_json(&["stats", "locmem://"]);
    assert_eq!(stats["applicable"], false, "{stats}");
}

#[test]
fn a_server_that_is_down_fails_with_advice_and_its_exit_code() {
    // Port 1 on loopback: nothing listens, the kernel refuses at once.
    for url in [
        "redis://127.0.0.1:1/0",
        "postgres://u@127.0.0.1:1/db",
        "memcached://127.0.0.1:1",
    ] {
        let out = sessionkit(&["check", url]);
        assert_eq!(out.status.code(), Some(3), "{url}: {out:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("connect failed") && err.contains("unavailable"),
            "{url}: {err}"
        );
    }
    // Configuration errors are 2, naming what is wrong; no URL at all says how to give one.
    let out = sessionkit(&["check", "redis://127.0.0.1:1/0?colour=blue"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("colour"));
    let out = sessionkit(&["stats"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("SESSIONKIT_URL"));
    let out = sessionkit(&["--json", "check", "nosuch://x"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(json(&out)["ok"], false);
}

#[test]
fn every_subcommand_has_help() {
    for sub in ["migrate", "clear-expired", "check", "stats"] {
        let out = sessionkit(&[sub, "--help"]);
        assert!(
            out.status.success() && stdout(&out).contains("URL"),
            "{sub}"
        );
    }
}
