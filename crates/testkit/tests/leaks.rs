//! A process that ends without dropping its servers does not leave them behind.

use std::io::{BufRead, BufReader};
use std::net::{Ipv4Addr, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use sessionkit_testkit::{RedisServer, ThrowawayServer};

const CHILD_VAR: &str = "SESSIONKIT_TESTKIT_LEAK_CHILD";

/// Run in a child process by the test below: start a server, report it, and exit without
/// dropping it.
#[test]
#[ignore = "run by servers_die_with_a_process_that_forgets_them"]
fn leak_a_server() {
    if std::env::var_os(CHILD_VAR).is_none() {
        return;
    }
    let server = RedisServer::start().unwrap_or_else(|e| panic!("{e}"));
    println!("leaked {} {}", server.port(), server.dir().display());
    std::process::exit(0);
}

#[test]
fn servers_die_with_a_process_that_forgets_them() {
    if let Err(e) = sessionkit_testkit::Service::Redis.check_installed() {
        if std::env::var_os("SESSIONKIT_TESTKIT_REQUIRE_SERVERS").is_some() {
            panic!("{e}");
        }
        eprintln!("skipped: {e}");
        return;
    }
    let mut child = Command::new(std::env::current_exe().expect("test binary path"))
        .args(["--exact", "leak_a_server", "--ignored", "--nocapture"])
        .env(CHILD_VAR, "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .expect("re-run the test binary");
    let stdout = child.stdout.take().expect("piped stdout");
    let line = BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .find_map(|l| l.strip_prefix("leaked ").map(str::to_owned))
        .expect("the child reports its server");
    assert!(child.wait().expect("child exits").success());
    let (port, dir) = line.split_once(' ').expect("port and dir");
    let port: u16 = port.parse().expect("a port");
    let dir = PathBuf::from(dir);

    // The watchdog acts once the child is gone; give it a while, then insist.
    let deadline = Instant::now() + Duration::from_secs(30);
    let answered = || TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_ok();
    while (answered() || dir.exists()) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        !answered(),
        "the forgotten server on port {port} was killed"
    );
    assert!(!dir.exists(), "{} was removed", dir.display());
}
