//! The README's example: sessions in a SQLite file, from migration to logout.
//!
//! `cargo run -p sessionkit-db --example db_quickstart` (SQLite is compiled in: no server needed).
//! With `SESSIONKIT_DB_URL=postgres://...` or `mysql://...` (and the crate's `postgres` /
//! `mysql` feature) it runs against that database instead.

use std::time::Duration;

use sessionkit_core::{SessionStore, Sessions};
use sessionkit_db::DbConfig;

#[tokio::main]
async fn main() -> sessionkit_core::Result<()> {
    let file = std::env::temp_dir().join(format!(
        "sessionkit-quickstart-{}.sqlite3",
        std::process::id()
    ));
    let url = std::env::var("SESSIONKIT_DB_URL")
        .unwrap_or_else(|_| format!("sqlite://{}", file.display()));

    // Point the configuration at the database, then migrate (once; a no-op afterwards).
    let store = DbConfig::new(url)
        .with_table("quickstart_session") // default: "sessionkit_session"
        .with_pool_size(8)
        .with_connect_timeout(Duration::from_secs(2))
        .with_statement_timeout(Duration::from_secs(2))
        .connect()
        .await?;
    store.migrate().await?;
    println!("{:?}", store);

    // Expired rows are deleted in batches of 1,000, now and then every hour, until `_cleaner`
    // is dropped.
    let sessions = Sessions::new(store.clone());
    let _cleaner = sessions.clear_expired_every(Duration::from_secs(3_600));

    // A request that logs a user in: a plain INSERT, so it never overwrites another session.
    let mut session = sessions.create();
    session.insert("user_id", 42)?;
    session.save().await?;
    let cookie = session.key().expect("saved").as_str().to_owned();

    // A later request presenting the cookie: an UPDATE of a live row, so a concurrent logout
    // is not undone.
    let mut session = sessions.load(Some(&cookie)).await?;
    assert_eq!(session.get::<u32>("user_id")?, Some(42));
    session.insert("theme", "dark")?;
    session.save().await?;

    // Logout: DELETE.
    session.flush().await?;
    let gone = sessions.load(Some(&cookie)).await?;
    assert!(gone.key().is_none());
    println!("expired rows cleared now: {}", store.clear_expired().await?);

    drop(sessions);
    drop(store);
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", file.display()));
    }
    println!("ok");
    Ok(())
}
