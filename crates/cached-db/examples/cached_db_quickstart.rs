//! The README's example: sessions in a SQLite file with an in-process cache in front, from
//! login to logout. Needs no server: `cargo run -p sessionkit-cached-db --example cached_db_quickstart`.

use std::time::Duration;

use sessionkit_cached_db::{CachedDbOptions, CachedDbStore};
use sessionkit_core::{Loaded, Opened, SessionKey, SessionStore, Sessions};
use sessionkit_db::DbConfig;
use sessionkit_locmem::LocMemStore;

#[tokio::main]
async fn main() -> sessionkit_core::Result<()> {
    // The database is the truth: here a SQLite file, migrated once (a no-op afterwards).
    let path = std::env::temp_dir().join(format!(
        "sessionkit-quickstart-{}.sqlite3",
        std::process::id()
    ));
    let db = DbConfig::new(format!("sqlite://{}", path.display()))
        .connect()
        .await?;
    db.migrate().await?;

    // An in-process cache is only coherent within ONE process: with several processes, put a
    // shared redis or memcached in front instead, or bound staleness with `cache_ttl`.
    let options = CachedDbOptions::new().with_cache_ttl(Some(Duration::from_secs(300)));
    let store = CachedDbStore::with_options(LocMemStore::default(), db, options)?;
    let sessions = Sessions::new(store.clone());

    // Login: written to the database first, then to the cache.
    let mut session = sessions.create();
    session.insert("user_id", 42)?;
    session.save().await?;
    let cookie = session.key().expect("saved").as_str().to_owned();

    // A later request: served from the cache, no database round trip.
    let mut session = sessions.load(Some(&cookie)).await?;
    assert_eq!(session.get::<u32>("user_id")?, Some(42));
    session.insert("theme", "dark")?;
    session.save().await?;
    let key = SessionKey::parse(&cookie, store.key_format()).expect("a valid key");
    // The cache's copy is the database's record at the database's version.
    let copy = store.cache().load(&key).await?.expect("cached");
    assert_eq!(
        Some(Loaded::from_envelope(copy.record)),
        store.db().load(&key).await?.map(Opened::Whole)
    );

    // Logout: deleted from both.
    session.flush().await?;
    assert!(sessions.load(Some(&cookie)).await?.key().is_none());
    assert!(!store.db().exists(&key).await?);
    println!("ok; cache status: {:?}", store.cache_status());

    drop(sessions);
    drop(store);
    for suffix in ["", "-wal", "-shm"] {
        let mut p = path.clone().into_os_string();
        p.push(suffix);
        let _ = std::fs::remove_file(p);
    }
    Ok(())
}
