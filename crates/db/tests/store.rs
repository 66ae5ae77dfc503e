//! What the database store does beyond the conformance suite, on every database compiled in:
//! migrations (idempotent, concurrent, self-healing), batched expiry clearing and its periodic
//! helper, updates of identical data (MySQL's affected-rows trap), timeouts, hostile
//! configuration, and rows the store never writes itself.

mod common;

use std::time::Duration;

use common::{place, raw, store_with};
use sessionkit_core::{ErrorKind, SessionKey, SessionStore, Sessions, UnixTime};
use sessionkit_db::{Backend, DbConfig, DbStore, CLEAR_BATCH_SIZE};

/// Counts with raw SQL (`SELECT COUNT(*) ...`) on a connection of its own.
async fn count(url: &str, sql: &str) -> i64 {
    let (url, text) = (url.to_owned(), format!("({sql})"));
    tokio::task::spawn_blocking(move || {
        use sessionkit_db::diesel::sql_types::BigInt;
        use sessionkit_db::diesel::{dsl::sql, select, Connection, RunQueryDsl};
        let query = select(sql::<BigInt>(&text));
        match common::backend_of(&url) {
            #[cfg(feature = "postgres")]
            Backend::Postgres => query
                .get_result::<i64>(
                    &mut sessionkit_db::diesel::PgConnection::establish(&url).unwrap(),
                )
                .unwrap(),
            #[cfg(feature = "mysql")]
            Backend::Mysql => query
                .get_result::<i64>(
                    &mut sessionkit_db::diesel::MysqlConnection::establish(&url).unwrap(),
                )
                .unwrap(),
            #[cfg(feature = "sqlite")]
            Backend::Sqlite => query
                .get_result::<i64>(
                    &mut sessionkit_db::diesel::SqliteConnection::establish(
                        url.strip_prefix("sqlite://").unwrap(),
                    )
                    .unwrap(),
                )
                .unwrap(),
            #[allow(unreachable_patterns)]
            other => panic!("{other} not compiled in"),
        }
    })
    .await
    .unwrap()
}

fn blob_type(backend: Backend) -> &'static str {
    match backend {
        Backend::Postgres => "BYTEA",
        Backend::Mysql => "LONGBLOB",
        Backend::Sqlite => "BLOB",
    }
}

/// Inserts `n` rows expiring at `expire_date` with raw multi-row INSERTs (keys are digits).
async fn insert_rows(url: &str, table: &str, first: usize, n: usize, expire_date: i64) {
    let q = common::quote(common::backend_of(url), table);
    let mut sql = String::new();
    for chunk_start in (first..first + n).step_by(1_000) {
        let end = (chunk_start + 1_000).min(first + n);
        let values: Vec<String> = (chunk_start..end)
            .map(|i| format!("('{i:032}', '', {expire_date})"))
            .collect();
        sql.push_str(&format!(
            "INSERT INTO {q} (session_key, session_data, expire_date) VALUES {};\n",
            values.join(", ")
        ));
    }
    raw(url, &sql).await;
}

fn bytes(s: &str) -> Vec<u8> {
    s.as_bytes().to_vec()
}

// ---------------------------------------------------------------------------------------------

/// Several stores migrating the same table at once all succeed, the table is created once, and
/// migrating again is a no-op; a table dropped by hand is created again.
async fn migrate_is_idempotent_concurrent_and_self_healing(backend: Backend) {
    let (place, table) = place(backend, "mig").await;
    let url = place.url();
    let mut stores = Vec::new();
    for _ in 0..4 {
        stores.push(
            DbConfig::new(&url)
                .with_table(&table)
                .connect()
                .await
                .expect("connect"),
        );
    }
    let runs: Vec<_> = stores
        .iter()
        .cloned()
        .map(|s| tokio::spawn(async move { s.migrate().await }))
        .collect();
    for run in runs {
        run.await.unwrap().expect("concurrent migrate");
    }
    for s in &stores {
        s.migrate().await.expect("migrate again");
    }
    let recorded =
        format!("SELECT COUNT(*) FROM sessionkit_migrations WHERE table_name = '{table}'");
    assert_eq!(
        count(&url, &recorded).await,
        2,
        "versions 1 and 2 recorded once each"
    );

    let key = SessionKey::generate();
    let exp = UnixTime::now().add_secs(600);
    stores[0].create(&key, b"x", exp).await.unwrap();
    assert_eq!(
        sessionkit_conformance::stored(&stores[3], &key).await,
        Some(bytes("x"))
    );

    // Dropped by hand: the store says to migrate, and migrate brings it back.
    raw(
        &url,
        &format!("DROP TABLE {}", common::quote(backend, &table)),
    )
    .await;
    let err = stores[0].load(&key).await.unwrap_err();
    assert!(err.is_config(), "{err:?}");
    assert!(err.to_string().contains("migrate"), "{err}");
    stores[1].migrate().await.expect("migrate after a drop");
    assert_eq!(count(&url, &recorded).await, 2);
    stores[0].create(&key, b"y", exp).await.unwrap();
    assert_eq!(
        sessionkit_conformance::stored(&stores[2], &key).await,
        Some(bytes("y"))
    );
    drop(stores);
    drop(place);
}

/// 25,000 expired rows are cleared in batches, the count is exact, live rows stay.
async fn clear_expired_in_batches(backend: Backend) {
    let store = store_with(backend, "clear", |c| c).await;
    let url = store.url();
    let table = store.table().to_owned();
    let expired = 25 * CLEAR_BATCH_SIZE as usize;
    insert_rows(
        &url,
        &table,
        0,
        expired,
        UnixTime::now().add_secs(-100).as_secs(),
    )
    .await;
    let mut live = Vec::new();
    for i in 0..10 {
        let key = SessionKey::generate();
        let data = format!("live {i}");
        store
            .create(&key, data.as_bytes(), UnixTime::now().add_secs(600))
            .await
            .unwrap();
        live.push((key, data));
    }
    assert_eq!(store.clear_expired().await.unwrap(), expired as u64);
    for (key, data) in &live {
        assert_eq!(
            sessionkit_conformance::stored(&store.store, key).await,
            Some(bytes(data))
        );
    }
    assert_eq!(store.clear_expired().await.unwrap(), 0);
    let q = common::quote(backend, &table);
    assert_eq!(count(&url, &format!("SELECT COUNT(*) FROM {q}")).await, 10);
    // A number of rows that is not a multiple of the batch size.
    insert_rows(&url, &table, expired, 1_234, 0).await;
    assert_eq!(store.clear_expired().await.unwrap(), 1_234);
}

/// An update or touch that writes exactly what is stored is not "vanished" (MySQL counts only
/// changed rows unless the connection asks for found rows).
async fn identical_update_and_touch_are_not_vanished(backend: Backend) {
    let store = store_with(backend, "same", |c| c).await;
    let key = SessionKey::generate();
    let exp = UnixTime::now().add_secs(600);
    store.create(&key, b"same", exp).await.unwrap();
    for _ in 0..3 {
        store
            .update(&key, b"same", exp, sessionkit_core::Expected::Any)
            .await
            .expect("identical update");
        store.touch(&key, exp).await.expect("identical touch");
    }
    assert_eq!(
        sessionkit_conformance::stored(&store.store, &key).await,
        Some(bytes("same"))
    );
    // And a missing key still is vanished.
    let err = store
        .update(
            &SessionKey::generate(),
            b"same",
            exp,
            sessionkit_core::Expected::Any,
        )
        .await
        .unwrap_err();
    assert!(err.is_vanished(), "{err:?}");
}

/// A store connected before its table exists says to run migrate().
async fn missing_table_says_migrate(backend: Backend) {
    let (place, table) = place(backend, "nomig").await;
    let store = DbConfig::new(place.url())
        .with_table(&table)
        .connect()
        .await
        .unwrap();
    let err = store.load(&SessionKey::generate()).await.unwrap_err();
    assert!(err.is_config(), "{err:?}");
    assert!(err.to_string().contains("migrate()"), "{err}");
    let err = store
        .create(&SessionKey::generate(), b"x", UnixTime::now().add_secs(60))
        .await
        .unwrap_err();
    assert!(err.is_config(), "{err:?}");
    store.migrate().await.unwrap();
    store
        .create(&SessionKey::generate(), b"x", UnixTime::now().add_secs(60))
        .await
        .unwrap();
}

/// A table made by an earlier sessionkit-db (migration 1 only, no version column) with a live
/// session in it: the store says to migrate, naming the command; `migrate` adds the column
/// without touching the rows; the old session then loads (at version 0) and saves with
/// compare-and-set like any other, and a stale save of it is a conflict.
async fn upgrade_keeps_sessions_and_versions_them(backend: Backend) {
    let (place, table) = place(backend, "upg").await;
    let url = place.url();
    let q = common::quote(backend, &table);
    let blob = blob_type(backend);
    let key_type = match backend {
        Backend::Mysql => "VARCHAR(40) CHARACTER SET ascii COLLATE ascii_bin",
        _ => "VARCHAR(40)",
    };
    raw(
        &url,
        &format!(
            "CREATE TABLE IF NOT EXISTS sessionkit_migrations (table_name VARCHAR(64) NOT NULL, \
             version BIGINT NOT NULL, applied_at BIGINT NOT NULL, \
             PRIMARY KEY (table_name, version)); \
             INSERT INTO sessionkit_migrations VALUES ('{table}', 1, 0); \
             CREATE TABLE {q} (session_key {key_type} NOT NULL PRIMARY KEY, \
             session_data {blob} NOT NULL, expire_date BIGINT NOT NULL)"
        ),
    )
    .await;
    let store = DbConfig::new(&url)
        .with_table(&table)
        .connect()
        .await
        .unwrap();
    let sessions = Sessions::new(store.clone());
    // A session written by the earlier version: the same record bytes, in the old columns.
    let key = SessionKey::generate();
    let exp = UnixTime::now().add_secs(600);
    let record = sessionkit_core::Codecs::default()
        .encode(sessionkit_core::RecordRef {
            expires_at: exp,
            expiry: sessionkit_core::Expiry::Default,
            data: &[("user", sessionkit_core::Value::from("42"))]
                .into_iter()
                .collect(),
        })
        .unwrap();
    let hex: String = record.iter().map(|b| format!("{b:02x}")).collect();
    let literal = match backend {
        Backend::Postgres => format!("'\\x{hex}'"),
        Backend::Mysql | Backend::Sqlite => format!("X'{hex}'"),
    };
    raw(
        &url,
        &format!(
            "INSERT INTO {q} (session_key, session_data, expire_date) \
             VALUES ('{}', {literal}, {})",
            key.as_str(),
            exp.as_secs()
        ),
    )
    .await;

    let err = store.load(&key).await.unwrap_err();
    assert!(err.is_config(), "{err:?}");
    assert!(err.to_string().contains("sessionkit migrate"), "{err}");
    store.migrate().await.expect("upgrade");
    let loaded = store
        .load(&key)
        .await
        .unwrap()
        .expect("the old session survives");
    assert_eq!(loaded.version, sessionkit_core::Version::UNTRACKED);
    let mut first = sessions.load(Some(key.as_str())).await.unwrap();
    let failing = Sessions::with_config(
        store.clone(),
        sessionkit_core::SessionConfig::default()
            .with_conflict_policy(sessionkit_core::ConflictPolicy::Fail),
    );
    let mut stale = failing.load(Some(key.as_str())).await.unwrap();
    assert_eq!(first.get::<String>("user").unwrap().as_deref(), Some("42"));
    first.insert("visits", 1).unwrap();
    first.save().await.expect("an upgraded row saves");
    stale.insert("visits", 99).unwrap();
    let err = stale.save().await.unwrap_err();
    assert!(err.is_conflict(), "{err:?}");
    let again = sessions.load(Some(key.as_str())).await.unwrap();
    assert_eq!(again.get::<u64>("visits").unwrap(), Some(1));
}

/// Rows the store never writes (a table made by hand with nullable columns: NULL data, NULL
/// expiry, empty or garbage data) load as no session or as bytes the core rejects, never a
/// panic; `migrate` adopts the existing table.
async fn odd_rows_do_not_panic(backend: Backend) {
    let (place, table) = place(backend, "odd").await;
    let url = place.url();
    let q = common::quote(backend, &table);
    let key_type = if backend == Backend::Mysql {
        "VARCHAR(40) CHARACTER SET ascii COLLATE ascii_bin"
    } else {
        "VARCHAR(40)"
    };
    let future = UnixTime::now().add_secs(600).as_secs();
    let (null_data, null_expiry, empty, garbage) = (
        SessionKey::generate(),
        SessionKey::generate(),
        SessionKey::generate(),
        SessionKey::generate(),
    );
    raw(
        &url,
        &format!(
            "CREATE TABLE {q} (session_key {key_type} NOT NULL PRIMARY KEY, \
             session_data {} NULL, expire_date BIGINT NULL);\n\
             INSERT INTO {q} (session_key, session_data, expire_date) VALUES \
             ('{}', NULL, {future}), ('{}', 'x', NULL), ('{}', '', {future}), \
             ('{}', 'not a session record', {future})",
            blob_type(backend),
            null_data.as_str(),
            null_expiry.as_str(),
            empty.as_str(),
            garbage.as_str(),
        ),
    )
    .await;
    let store = DbConfig::new(&url)
        .with_table(&table)
        .connect()
        .await
        .unwrap();
    store
        .migrate()
        .await
        .expect("migrate adopts the existing table");
    assert_eq!(
        sessionkit_conformance::stored(&store, &null_data).await,
        None
    );
    assert_eq!(
        sessionkit_conformance::stored(&store, &null_expiry).await,
        None
    );
    assert!(!store.exists(&null_expiry).await.unwrap());
    assert_eq!(
        sessionkit_conformance::stored(&store, &empty).await,
        Some(Vec::new())
    );
    let sessions = Sessions::new(store.clone());
    for key in [&null_data, &null_expiry, &empty, &garbage] {
        let s = sessions.load(Some(key.as_str())).await.unwrap();
        assert!(
            s.key().is_none() && s.is_empty(),
            "{key:?} loaded as a session"
        );
    }
    // The extremes of the expiry column.
    let forever = SessionKey::generate();
    store
        .create(&forever, b"f", UnixTime::from_secs(i64::MAX))
        .await
        .unwrap();
    assert_eq!(
        sessionkit_conformance::stored(&store, &forever).await,
        Some(bytes("f"))
    );
    let long_ago = SessionKey::generate();
    store
        .create(&long_ago, b"g", UnixTime::from_secs(i64::MIN))
        .await
        .unwrap();
    assert_eq!(
        sessionkit_conformance::stored(&store, &long_ago).await,
        None
    );
    assert!(store.clear_expired().await.unwrap() >= 1);
    drop(place);
}

/// A statement that waits on another connection's lock past the statement timeout fails as a
/// timeout; the store serves normally afterwards.
async fn lock_waits_time_out(backend: Backend) {
    let store = store_with(backend, "lock", |c| {
        c.with_statement_timeout(Duration::from_millis(500))
    })
    .await;
    let url = store.url();
    let q = common::quote(backend, store.table());
    let key = SessionKey::generate();
    let exp = UnixTime::now().add_secs(600);
    store.create(&key, b"before", exp).await.unwrap();

    // Another connection takes the row's (SQLite: the database's) write lock and holds it until
    // told to let go.
    let (locked_tx, locked_rx) = std::sync::mpsc::channel::<()>();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let lock_sql = match backend {
        Backend::Sqlite => "BEGIN IMMEDIATE".to_owned(),
        _ => format!(
            "BEGIN; SELECT session_key FROM {q} WHERE session_key = '{}' FOR UPDATE",
            key.as_str()
        ),
    };
    let holder_url = url.clone();
    let holder = std::thread::spawn(move || {
        hold_lock(&holder_url, &lock_sql, locked_tx, release_rx);
    });
    locked_rx
        .recv_timeout(Duration::from_secs(30))
        .expect("the lock holder took its lock");
    let err = store
        .update(&key, b"during", exp, sessionkit_core::Expected::Any)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err:?}");
    release_tx.send(()).unwrap();
    holder.join().unwrap();
    store
        .update(&key, b"after", exp, sessionkit_core::Expected::Any)
        .await
        .unwrap();
    assert_eq!(
        sessionkit_conformance::stored(&store.store, &key).await,
        Some(bytes("after"))
    );
}

/// A request that finds every pooled connection busy for the whole connect timeout fails as a
/// timeout that says to raise the pool size; the store serves normally afterwards.
async fn exhausted_pool_times_out(backend: Backend) {
    let store = store_with(backend, "pool", |c| {
        c.with_pool_size(1)
            .with_connect_timeout(Duration::from_millis(300))
            .with_statement_timeout(Duration::from_secs(3))
    })
    .await;
    let url = store.url();
    let q = common::quote(backend, store.table());
    let key = SessionKey::generate();
    let exp = UnixTime::now().add_secs(600);
    store.create(&key, b"before", exp).await.unwrap();

    let (locked_tx, locked_rx) = std::sync::mpsc::channel::<()>();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let lock_sql = match backend {
        Backend::Sqlite => "BEGIN IMMEDIATE".to_owned(),
        _ => format!(
            "BEGIN; SELECT session_key FROM {q} WHERE session_key = '{}' FOR UPDATE",
            key.as_str()
        ),
    };
    let holder_url = url.clone();
    let holder = std::thread::spawn(move || {
        hold_lock(&holder_url, &lock_sql, locked_tx, release_rx);
    });
    locked_rx
        .recv_timeout(Duration::from_secs(30))
        .expect("the lock holder took its lock");
    // The pool's one connection waits on the lock...
    let blocked = {
        let store = store.store.clone();
        let key = key.clone();
        tokio::spawn(async move {
            store
                .update(&key, b"blocked", exp, sessionkit_core::Expected::Any)
                .await
        })
    };
    // ...until the blocked update holds it, a second request cannot get a connection.
    let mut timed_out = None;
    for _ in 0..50 {
        match store.load(&key).await {
            Err(e) if e.kind() == ErrorKind::Timeout => {
                timed_out = Some(e);
                break;
            }
            Err(e) => panic!("unexpected error: {e:?}"),
            Ok(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
    release_tx.send(()).unwrap();
    holder.join().unwrap();
    let err = timed_out.expect("a request waiting for the only, busy connection timed out");
    assert!(err.to_string().contains("pool_size"), "{err}");
    blocked
        .await
        .unwrap()
        .expect("the blocked update went through once the lock was released");
    assert_eq!(
        sessionkit_conformance::stored(&store.store, &key).await,
        Some(bytes("blocked"))
    );
}

/// Runs `sql` on a connection of its own, reports, waits for the release, rolls back.
fn hold_lock(
    url: &str,
    sql: &str,
    locked: std::sync::mpsc::Sender<()>,
    release: std::sync::mpsc::Receiver<()>,
) {
    use sessionkit_db::diesel::connection::SimpleConnection;
    use sessionkit_db::diesel::Connection;
    fn hold(
        conn: &mut impl SimpleConnection,
        sql: &str,
        locked: std::sync::mpsc::Sender<()>,
        release: std::sync::mpsc::Receiver<()>,
    ) {
        conn.batch_execute(sql).expect("take the lock");
        locked.send(()).unwrap();
        let _ = release.recv_timeout(Duration::from_secs(60));
        conn.batch_execute("ROLLBACK").expect("release the lock");
    }
    match common::backend_of(url) {
        #[cfg(feature = "postgres")]
        Backend::Postgres => hold(
            &mut sessionkit_db::diesel::PgConnection::establish(url).unwrap(),
            sql,
            locked,
            release,
        ),
        #[cfg(feature = "mysql")]
        Backend::Mysql => hold(
            &mut sessionkit_db::diesel::MysqlConnection::establish(url).unwrap(),
            sql,
            locked,
            release,
        ),
        #[cfg(feature = "sqlite")]
        Backend::Sqlite => hold(
            &mut sessionkit_db::diesel::SqliteConnection::establish(
                url.strip_prefix("sqlite://").unwrap(),
            )
            .unwrap(),
            sql,
            locked,
            release,
        ),
        #[allow(unreachable_patterns)]
        other => panic!("{other} not compiled in"),
    }
}

/// Settings and URLs that cannot work are typed errors, before or at connect; never a panic.
async fn hostile_configuration(backend: Backend) {
    let (place, _) = place(backend, "hostile").await;
    let url = place.url();
    for bad in [
        "",
        "1st",
        "x-y",
        "t\"; DROP TABLE t; --",
        "t`; DROP TABLE t; --",
        "sessionkit_migrations",
        &"a".repeat(64),
    ] {
        let err = DbConfig::new(&url)
            .with_table(bad)
            .connect()
            .await
            .unwrap_err();
        assert!(err.is_config(), "{bad:?}: {err:?}");
    }
    let err = DbConfig::new(&url)
        .with_pool_size(0)
        .connect()
        .await
        .unwrap_err();
    assert!(err.is_config(), "{err:?}");
    let err = DbConfig::new(&url)
        .with_statement_timeout(Duration::ZERO)
        .connect()
        .await
        .unwrap_err();
    assert!(err.is_config(), "{err:?}");
    match backend {
        Backend::Sqlite => {
            for memory in [":memory:", "sqlite::memory:", "sqlite://:memory:"] {
                let err = DbConfig::new(memory).connect().await.unwrap_err();
                assert!(err.is_config(), "{memory}: {err:?}");
                assert!(err.to_string().contains("file path"), "{err}");
            }
            let err = DbConfig::new("sqlite:///nonexistent-dir-sessionkit/x/s.sqlite3")
                .connect()
                .await
                .unwrap_err();
            assert!(err.is_config(), "{err:?}");
        }
        Backend::Postgres | Backend::Mysql => {
            // Nothing listens on port 1: refused at once.
            let scheme = if backend == Backend::Postgres {
                "postgres"
            } else {
                "mysql"
            };
            let err = DbConfig::new(format!("{scheme}://root@127.0.0.1:1/test"))
                .with_connect_timeout(Duration::from_secs(2))
                .connect()
                .await
                .unwrap_err();
            assert!(err.is_unavailable(), "{err:?}");
            // A database that does not exist on a live server.
            let base = url.rsplit_once('/').map(|(b, _)| b).unwrap();
            let err = DbConfig::new(format!("{base}/no_such_database_sessionkit"))
                .connect()
                .await
                .unwrap_err();
            assert!(err.is_config(), "{err:?}");
        }
    }
    for unknown in [
        "mongodb://x/y",
        "redis://127.0.0.1:6379",
        "http://example.com/db",
    ] {
        let err = DbConfig::new(unknown).connect().await.unwrap_err();
        assert!(err.is_config(), "{unknown}: {err:?}");
    }
}

/// The store's debug output names the database and table, never a URL.
async fn debug_shows_no_url(backend: Backend) {
    let store = store_with(backend, "dbg", |c| c).await;
    let shown = format!("{:?}", store.store);
    assert!(shown.contains("DbStore"), "{shown}");
    assert!(
        !shown.contains("://") && !shown.contains(".sqlite3"),
        "{shown}"
    );
    let clone: DbStore = store.store.clone();
    assert_eq!(clone.backend(), backend);
}

macro_rules! per_backend {
    ($($name:ident),* $(,)?) => {
        #[cfg(feature = "sqlite")]
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(sessionkit_db::Backend::Sqlite).await;
                }
            )*
        }
        #[cfg(feature = "postgres")]
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(sessionkit_db::Backend::Postgres).await;
                }
            )*
        }
        #[cfg(feature = "mysql")]
        mod mysql {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(sessionkit_db::Backend::Mysql).await;
                }
            )*
        }
    };
}

per_backend!(
    migrate_is_idempotent_concurrent_and_self_healing,
    clear_expired_in_batches,
    identical_update_and_touch_are_not_vanished,
    missing_table_says_migrate,
    upgrade_keeps_sessions_and_versions_them,
    odd_rows_do_not_panic,
    lock_waits_time_out,
    exhausted_pool_times_out,
    hostile_configuration,
    debug_shows_no_url,
);
