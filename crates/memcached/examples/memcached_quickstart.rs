//! Sessions in memcached: log a user in, serve a later request, log out.
//!
//! ```text
//! memcached -l 127.0.0.1 -p 11211 &
//! cargo run -p sessionkit-memcached --example memcached_quickstart
//! SESSIONKIT_MEMCACHED_URLS=memcache://10.0.0.1:11211,memcache://10.0.0.2:11211 \
//!     cargo run -p sessionkit-memcached --example memcached_quickstart
//! ```

use std::time::Duration;

use sessionkit_core::Sessions;
use sessionkit_memcached::{MemcachedConfig, MemcachedStore};

#[tokio::main]
async fn main() -> sessionkit_core::Result<()> {
    // One server or several (comma-separated); keys are spread by rendezvous hashing.
    let servers = std::env::var("SESSIONKIT_MEMCACHED_URLS")
        .unwrap_or_else(|_| "memcached://127.0.0.1:11211".to_owned());
    let store = MemcachedStore::connect(
        MemcachedConfig::from_list(&servers)
            .with_prefix("quickstart:") // default: "sessionkit:"
            .with_response_timeout(Duration::from_millis(500)),
    )
    .await?;
    let sessions = Sessions::new(store.clone());

    // A request that logs a user in: `add`, so it never overwrites another session.
    let mut session = sessions.create();
    session.insert("user_id", 42)?;
    session.save().await?;
    let cookie = session.key().expect("saved").as_str().to_owned();
    println!(
        "stored on {}",
        store.server_for(session.key().expect("saved"))
    );

    // A later request presenting the cookie: `replace`, so a concurrent logout is not undone.
    let mut session = sessions.load(Some(&cookie)).await?;
    assert_eq!(session.get::<u32>("user_id")?, Some(42));
    session.insert("theme", "dark")?;
    session.save().await?;

    // Logout.
    session.flush().await?;
    let gone = sessions.load(Some(&cookie)).await?;
    assert!(gone.key().is_none());
    println!("ok");
    Ok(())
}
