//! A web application with logins, as Django's `django.contrib.auth` views give one: a login
//! form, a page that counts your visits, and logout — sessions by sessionkit's axum layer.
//!
//! ```sh
//! cargo run --example axum_login                                   # in-process sessions
//! SESSIONKIT_URL=redis://127.0.0.1:6379/0 cargo run --example axum_login   # shared, survive restarts
//! ```
//!
//! Then open <http://127.0.0.1:3000/> and log in as `alice` / `wonderland` (or `bob` /
//! `builder`). `PORT` picks another port. Any back end URL works for `SESSIONKIT_URL`
//! (docs/urls.md); a database needs its table first (`sessionkit migrate URL`, done here at
//! start-up too). The cookie is `SameSite=Lax`, so other sites cannot post these forms with
//! it; a real application adds CSRF tokens to its forms as well.

mod app;

use std::net::SocketAddr;

use sessionkit::http::CookieSettings;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = sessionkit::url_from_env().unwrap_or_else(|_| "locmem://".to_owned());
    // One URL for the store and the cookie: `cookie_secure=true&cookie_samesite=strict`, ...
    let (store_url, cookie) = CookieSettings::split_url(&url)?;
    // Creates a database back end's table if it lacks one; nothing for the others.
    sessionkit::migrate(&store_url).await?;
    let sessions = sessionkit::connect(&store_url).await?;
    let app = app::router(sessions, cookie)?;
    let port: u16 = match std::env::var("PORT") {
        Ok(p) => p
            .parse()
            .map_err(|_| format!("PORT={p} is not a port number"))?,
        Err(_) => 3000,
    };
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let listener = tokio::net::TcpListener::bind(addr).await?;
    println!(
        "serving http://{addr}/ with sessions in {} — log in as alice / wonderland",
        sessionkit::backend_name(&url).unwrap_or("?")
    );
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
