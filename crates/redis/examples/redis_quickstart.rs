//! The README's example: sessions in redis, from login to logout.
//!
//! `cargo run -p sessionkit-redis --example redis_quickstart` with a redis on 127.0.0.1:6379, or
//! `SESSIONKIT_REDIS_URL=redis://HOST:PORT/DB` for another one.

use std::time::Duration;

use sessionkit_core::Sessions;
use sessionkit_redis::RedisConfig;

#[tokio::main]
async fn main() -> sessionkit_core::Result<()> {
    let url = std::env::var("SESSIONKIT_REDIS_URL")
        .unwrap_or_else(|_| "redis://127.0.0.1:6379/0".to_owned());
    let store = RedisConfig::new(url)
        .with_key_prefix("quickstart:") // default: "sessionkit:"
        .with_connect_timeout(Duration::from_millis(500))
        .with_response_timeout(Duration::from_millis(500))
        .connect()
        .await?;
    let sessions = Sessions::new(store.clone());

    // A request that logs a user in: `SET NX`, so it never overwrites another session.
    let mut session = sessions.create();
    session.insert("user_id", 42)?;
    session.save().await?;
    let cookie = session.key().expect("saved").as_str().to_owned();
    println!(
        "stored as {}",
        store.redis_key(session.key().expect("saved"))
    );

    // A later request presenting the cookie: `SET XX`, so a concurrent logout is not undone.
    let mut session = sessions.load(Some(&cookie)).await?;
    assert_eq!(session.get::<u32>("user_id")?, Some(42));
    session.insert("theme", "dark")?;
    session.save().await?;

    // Logout: `DEL`.
    session.flush().await?;
    let gone = sessions.load(Some(&cookie)).await?;
    assert!(gone.key().is_none());
    println!("ok");
    Ok(())
}
