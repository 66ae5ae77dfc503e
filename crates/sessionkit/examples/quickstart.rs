//! sessionkit in one page: no server needed (the in-process back end).
//!
//! Run with `cargo run --example quickstart`.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use sessionkit::{Expiry, SessionConfig};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Cart {
    items: Vec<String>,
    total_cents: u64,
}

#[tokio::main]
async fn main() -> sessionkit::Result<()> {
    // Pick the back end by configuration, as Django's SESSION_ENGINE.
    let config = SessionConfig::new().with_cookie_age(Duration::from_secs(3600));
    let sessions = sessionkit::connect_with("locmem://?max_entries=100000", config).await?;

    // A first request: the browser sent no cookie.
    let mut session = sessions.load(None).await?;
    session.insert("user_id", 42u64)?;
    session.insert(
        "cart",
        Cart {
            items: vec!["book".into(), "lamp".into()],
            total_cents: 4_250,
        },
    )?;
    session.save().await?;
    let cookie = session
        .key()
        .expect("a stored session has a key")
        .as_str()
        .to_owned();
    println!(
        "stored a session; the cookie carries {} characters",
        cookie.len()
    );

    // A second request sends the cookie back: typed values come out again.
    let mut session = sessions.load(Some(&cookie)).await?;
    let cart: Cart = session.get("cart")?.expect("the cart is there");
    println!(
        "user {:?} has {} items",
        session.get::<u64>("user_id")?,
        cart.items.len()
    );

    // Logging in (or raising privileges): same data, new key, old key dead.
    session.cycle_key().await?;
    let new_cookie = session.key().expect("still stored").as_str().to_owned();
    assert_ne!(new_cookie, cookie);
    assert!(
        sessions.load(Some(&cookie)).await?.is_empty(),
        "the old key no longer works"
    );
    println!("cycled the key; the old cookie is now worthless");

    // A hostile or malformed cookie is simply "no session", without touching the store.
    let stranger = sessions.load(Some("../../etc/passwd\r\n")).await?;
    assert!(stranger.key().is_none());

    // Expire it: a fixed expiry in the past removes the session on save.
    session.set_expiry(Expiry::AfterInactivity(-1));
    session.save().await?;
    assert!(session.key().is_none());
    assert!(sessions.load(Some(&new_cookie)).await?.is_empty());
    println!("expired the session; the cookie no longer loads anything");
    Ok(())
}
