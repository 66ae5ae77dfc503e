//! The `axum_login` example in a real headless browser: Chromium driven through chromedriver
//! (WebDriver, with fantoccini), sessions in redis. Log in, reload and see the counter grow,
//! a second tab sees the same user, logout ends both tabs, the application restarts and the
//! user stays logged in, a tampered cookie lands logged out.
//!
//! Needs `chromium` and `chromedriver` (Debian: `apt-get install chromium chromium-driver`;
//! `cargo xtask test-matrix --only browser` installs them) and a redis server
//! (`SESSIONKIT_REDIS_URL`, else a throwaway one).

#[path = "../axum_login/app.rs"]
#[allow(dead_code)]
mod app;

use std::net::{SocketAddr, TcpListener as StdListener};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use sessionkit_testkit::Service;

/// A chromedriver process on a free port, killed on drop.
struct Driver {
    child: Child,
    url: String,
    profile: std::path::PathBuf,
}

impl Driver {
    fn start() -> Self {
        let port = StdListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver not found: apt-get install chromium chromium-driver");
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        let profile =
            std::env::temp_dir().join(format!("sessionkit-chromium-{}", std::process::id()));
        Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
            profile,
        }
    }

    async fn browser(&self) -> Client {
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({
                "binary": "/usr/bin/chromium",
                "args": [
                    "--headless=new",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-dev-shm-usage",
                    format!("--user-data-dir={}", self.profile.display()),
                ]
            }),
        );
        ClientBuilder::new(HttpConnector::new())
            .capabilities(caps)
            .connect(&self.url)
            .await
            .expect("a chromium session through chromedriver")
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// The example application serving on `addr` with sessions from `url`, until aborted.
async fn serve(addr: SocketAddr, url: &str) -> tokio::task::JoinHandle<()> {
    let sessions = sessionkit::connect(url).await.expect("connect redis");
    let router = app::router(sessions, Default::default()).unwrap();
    let listener = bind_retrying(addr).await;
    tokio::spawn(async move {
        axum::serve(listener, router).await.unwrap();
    })
}

async fn bind_retrying(addr: SocketAddr) -> tokio::net::TcpListener {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match tokio::net::TcpListener::bind(addr).await {
            Ok(l) => return l,
            Err(e) if Instant::now() < deadline => {
                let _ = e;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("bind {addr}: {e}"),
        }
    }
}

/// Waits (up to 10 s: a click's navigation is not awaited by WebDriver) until the element `id`
/// holds `expected`, and fails with what it held last.
async fn expect_text(browser: &Client, id: &str, expected: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut last = String::from("(no such element)");
    while Instant::now() < deadline {
        if let Ok(element) = browser.find(Locator::Id(id)).await {
            if let Ok(text) = element.text().await {
                if text == expected {
                    return;
                }
                last = text;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("#{id}: expected {expected:?}, the page shows {last:?}");
}

async fn click(browser: &Client, id: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match browser.find(Locator::Id(id)).await {
            Ok(element) => return element.click().await.unwrap(),
            Err(e) if Instant::now() > deadline => panic!("#{id}: {e}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

async fn log_in(browser: &Client, site: &str, user: &str, password: &str) {
    browser.goto(&format!("{site}/login")).await.unwrap();
    let field = |id: &'static str| browser.find(Locator::Id(id));
    field("username")
        .await
        .unwrap()
        .send_keys(user)
        .await
        .unwrap();
    field("password")
        .await
        .unwrap()
        .send_keys(password)
        .await
        .unwrap();
    click(browser, "submit").await;
    expect_text(browser, "user", user).await;
}

const LOGGED_OUT: &str = "You are not logged in.";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_in_count_share_log_out_restart_and_tamper_in_a_real_browser() {
    let redis = tokio::task::spawn_blocking(|| Service::Redis.from_env_or_start())
        .await
        .unwrap()
        .expect("a redis server");
    let url = format!("{}?key_prefix=browser{}:", redis.url(), std::process::id());
    let port = StdListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let site = format!("http://{addr}");
    let mut server = serve(addr, &url).await;
    let driver = Driver::start();
    let browser = driver.browser().await;

    // Not logged in; log in through the form.
    browser.goto(&format!("{site}/")).await.unwrap();
    expect_text(&browser, "status", LOGGED_OUT).await;
    log_in(&browser, &site, "alice", "wonderland").await;
    expect_text(&browser, "visits", "1").await;
    let cookie = browser.get_named_cookie("sessionid").await.unwrap();
    assert_eq!(cookie.http_only(), Some(true));
    assert_eq!(cookie.value().len(), 32);

    // Reload: the counter grows.
    browser.refresh().await.unwrap();
    expect_text(&browser, "visits", "2").await;

    // A second tab is the same user, on the same session.
    let first_tab = browser.window().await.unwrap();
    let second = browser.new_window(true).await.unwrap();
    browser
        .switch_to_window(second.handle.clone())
        .await
        .unwrap();
    browser.goto(&format!("{site}/")).await.unwrap();
    expect_text(&browser, "user", "alice").await;
    expect_text(&browser, "visits", "3").await;

    // Restart the application (sessions are in redis): still logged in.
    server.abort();
    let _ = (&mut server).await;
    server = serve(addr, &url).await;
    browser.refresh().await.unwrap();
    expect_text(&browser, "user", "alice").await;
    expect_text(&browser, "visits", "4").await;

    // Log out in the second tab: the first tab is logged out too.
    click(&browser, "logout").await;
    expect_text(&browser, "status", LOGGED_OUT).await;
    browser.switch_to_window(first_tab).await.unwrap();
    browser.refresh().await.unwrap();
    expect_text(&browser, "status", LOGGED_OUT).await;
    assert!(
        browser.get_named_cookie("sessionid").await.is_err(),
        "logout deletes the cookie in the browser"
    );

    // Log in again, then tamper with the cookie: logged out, and the cookie is deleted.
    log_in(&browser, &site, "bob", "builder").await;
    let real = browser.get_named_cookie("sessionid").await.unwrap();
    let mut forged = real.value().to_owned().into_bytes();
    forged[0] = if forged[0] == b'a' { b'b' } else { b'a' };
    browser.delete_cookie("sessionid").await.unwrap();
    // The page's own script writes the forged value, as a user editing the cookie would.
    let forged = String::from_utf8(forged).unwrap();
    browser
        .execute(
            "document.cookie = 'sessionid=' + arguments[0] + '; path=/'",
            vec![serde_json::json!(forged)],
        )
        .await
        .unwrap();
    assert_eq!(
        browser.get_named_cookie("sessionid").await.unwrap().value(),
        forged
    );
    browser.refresh().await.unwrap();
    expect_text(&browser, "status", LOGGED_OUT).await;
    assert!(browser.get_named_cookie("sessionid").await.is_err());

    browser.close().await.unwrap();
    server.abort();
}
