//! Django logs you in; a Rust service beside it knows who you are, from the same cookie.
//!
//! ```sh
//! cargo run --example django_bridge
//! ```
//!
//! Runs the whole story on this machine and prints it: a real Django (`site.py` beside this
//! file, installed from PyPI into a virtualenv on first run, about 30 s; set
//! `SESSIONKIT_DJANGO_PYTHON` to use a Python that has Django 5.2) serves `/login/` and
//! `/whoami/` with its `db` session engine on an SQLite file; this program serves `/whoami` on
//! the same file, opened as `sqlite://FILE?format=django`, with `DJANGO_SECRET_KEY` in the
//! environment as Django has it. Then, as a browser would, it logs in to Django as
//! `alice` / `wonderland`, takes the `sessionid` cookie to the Rust service — which reads
//! Django's login and writes a visit counter into the session — and asks Django again, which
//! sees the counter. `docs/django.md` explains each setting.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use sessionkit::http::CookieSettings;
use sessionkit::tower::{Session, SessionLayer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

const SITE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/django_bridge/site.py");

/// The Rust service's one page: who Django says is logged in, and a counter of its own in the
/// same session (Django sees it too).
async fn whoami(session: Session) -> Response {
    let Ok(user) = session.user_id().await else {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    };
    let Some(user) = user else {
        return (StatusCode::UNAUTHORIZED, "not logged in\n").into_response();
    };
    let visits: u64 = session.get("rust_visits").await.ok().flatten().unwrap_or(0) + 1;
    if session.insert("rust_visits", visits).await.is_err() {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    format!("Django user id {user}; this Rust service has seen you {visits} time(s)\n")
        .into_response()
}

/// A port nobody listens on now.
fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// One HTTP/1.1 request (`Connection: close`): the status, the `Set-Cookie` values, the body.
async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    cookie: Option<&str>,
    form: Option<&str>,
) -> Result<(u16, Vec<String>, String)> {
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    if let Some(cookie) = cookie {
        head.push_str(&format!("Cookie: {cookie}\r\n"));
    }
    let body = form.unwrap_or("");
    if form.is_some() {
        head.push_str("Content-Type: application/x-www-form-urlencoded\r\n");
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    stream.write_all(head.as_bytes()).await?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await?;
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or("not an HTTP answer")?;
    let cookies = head
        .lines()
        .filter_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("set-cookie")
                .then(|| value.trim().to_owned())
        })
        .collect();
    Ok((status, cookies, body.to_owned()))
}

/// Django's development server, stopped when dropped.
struct Django(Child);

impl Drop for Django {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs `site.py` with `args` and the deployment's environment.
fn site(python: &Path, db: &Path, secret: &str, args: &[&str]) -> Command {
    let mut cmd = Command::new(python);
    cmd.arg(SITE)
        .args(args)
        .env("DJANGO_SECRET_KEY", secret)
        .env("BRIDGE_DB", db)
        .stdin(Stdio::null());
    cmd
}

/// Waits until something listens on `addr` (at most `limit`).
async fn listening(addr: SocketAddr, limit: Duration) -> Result<()> {
    let start = Instant::now();
    while tokio::net::TcpStream::connect(addr).await.is_err() {
        if start.elapsed() > limit {
            return Err(
                format!("Django did not start listening on {addr} within {limit:?}").into(),
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

async fn run(secret: String, dir: PathBuf) -> Result<()> {
    let python = sessionkit_testkit::django_python()
        .map_err(|e| format!("no Django to run the demo with: {e}"))?;
    let db = dir.join("db.sqlite3");

    // Django's side: its tables and a user, then its server.
    let setup = site(&python, &db, &secret, &["setup"]).output()?;
    if !setup.status.success() {
        return Err(format!(
            "site.py setup failed:\n{}",
            String::from_utf8_lossy(&setup.stderr)
        )
        .into());
    }
    let django_addr = SocketAddr::from(([127, 0, 0, 1], free_port()?));
    let _django = Django(
        site(
            &python,
            &db,
            &secret,
            &["runserver", &django_addr.to_string(), "--noreload"],
        )
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?,
    );
    listening(django_addr, Duration::from_secs(30)).await?;

    // The Rust side: the same database, in Django's format, Django's cookie name (`sessionid`).
    let url = format!("sqlite://{}?format=django", db.display());
    sessionkit::migrate(&url).await?; // checks that Django's table is there
    let sessions = sessionkit::connect(&url).await?;
    let app = Router::new()
        .route("/whoami", get(whoami))
        .layer(SessionLayer::new(sessions, CookieSettings::new())?);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let rust_addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });
    println!("Django on http://{django_addr}/, the Rust service on http://{rust_addr}/");

    // The browser: log in to Django.
    let (status, cookies, body) = request(
        django_addr,
        "POST",
        "/login/",
        None,
        Some("username=alice&password=wonderland"),
    )
    .await?;
    print!("POST Django /login/ -> {status} {body}");
    let cookie = cookies
        .iter()
        .find_map(|c| {
            c.split(';')
                .next()
                .filter(|kv| kv.starts_with("sessionid="))
        })
        .ok_or("Django set no sessionid cookie")?
        .to_owned();

    // The same cookie at the Rust service.
    for _ in 0..2 {
        let (status, _, body) = request(rust_addr, "GET", "/whoami", Some(&cookie), None).await?;
        print!("GET Rust /whoami -> {status} {body}");
        if status != 200 {
            return Err("the Rust service did not see Django's login".into());
        }
    }
    let (status, _, body) = request(rust_addr, "GET", "/whoami", None, None).await?;
    print!("GET Rust /whoami without the cookie -> {status} {body}");

    // Django sees what the Rust service wrote.
    let (status, _, body) = request(django_addr, "GET", "/whoami/", Some(&cookie), None).await?;
    println!("GET Django /whoami/ -> {status} {body}");
    if !body.contains("\"rust_visits\": 2") {
        return Err("Django did not see the Rust service's counter".into());
    }
    println!("one login, two services: done");
    Ok(())
}

fn main() -> Result<()> {
    // A fresh SECRET_KEY for this demo, shared by both sides as a deployment shares it. Set
    // before any thread starts: the store reads DJANGO_SECRET_KEY when it opens.
    let secret = format!(
        "demo-{}-{}",
        sessionkit::SessionKey::generate().as_str(),
        sessionkit::SessionKey::generate().as_str()
    );
    std::env::set_var("DJANGO_SECRET_KEY", &secret);
    let dir = std::env::temp_dir().join(format!("sessionkit-django-bridge-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let outcome = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run(secret, dir.clone()));
    let _ = std::fs::remove_dir_all(&dir);
    outcome
}
