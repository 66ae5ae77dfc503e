//! `rediss://` against a throwaway TLS-only redis-server of this test's own, with a private CA
//! made here with the `openssl` command (the testkit starts plain-TCP servers only).

use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use sessionkit_core::{SessionKey, SessionStore, UnixTime};
use sessionkit_redis::redis::TlsCertificates;
use sessionkit_redis::RedisConfig;

/// A TLS-only redis-server in its own temp dir; killed and removed on drop.
struct TlsRedis {
    child: Child,
    dir: PathBuf,
    port: u16,
}

impl Drop for TlsRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn run(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .expect("the openssl command (apt-get install openssl)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn start() -> TlsRedis {
    let dir = std::env::temp_dir().join(format!("sessionkit-tls-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    // A CA, and a server certificate for 127.0.0.1 signed by it.
    run(
        &dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
            "-subj",
            "/CN=sessionkit test CA",
        ],
    );
    run(
        &dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=127.0.0.1",
        ],
    );
    std::fs::write(dir.join("san.ext"), "subjectAltName=IP:127.0.0.1\n").unwrap();
    run(
        &dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "san.ext",
            "-out",
            "server.crt",
        ],
    );

    let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    let child = Command::new("redis-server")
        .args([
            "--port",
            "0",
            "--tls-port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
        ])
        .args([
            "--tls-cert-file",
            "server.crt",
            "--tls-key-file",
            "server.key",
        ])
        .args(["--tls-ca-cert-file", "ca.crt", "--tls-auth-clients", "no"])
        .args([
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            dir.to_str().unwrap(),
        ])
        .current_dir(&dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("redis-server (apt-get install redis-server)");
    let server = TlsRedis { child, dir, port };
    for _ in 0..100 {
        if TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_ok() {
            return server;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("the TLS redis-server did not listen on {port}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rediss_with_a_private_ca() {
    let server = tokio::task::spawn_blocking(start).await.unwrap();
    let url = format!("rediss://127.0.0.1:{}/", server.port);
    let ca = std::fs::read(server.dir.join("ca.crt")).unwrap();

    let store = RedisConfig::new(&url)
        .with_tls_certificates(TlsCertificates {
            client_tls: None,
            root_cert: Some(ca),
        })
        .connect()
        .await
        .expect("TLS connection trusting the test CA");
    let key = SessionKey::generate();
    store
        .create(&key, b"over tls", UnixTime::now().add_secs(60))
        .await
        .unwrap();
    assert_eq!(
        sessionkit_conformance::stored(&store, &key)
            .await
            .as_deref(),
        Some(&b"over tls"[..])
    );

    // The system's roots do not include the test CA: the handshake is refused, nothing is sent.
    let err = RedisConfig::new(&url)
        .connect()
        .await
        .expect_err("an untrusted certificate");
    assert!(err.is_unavailable() || err.is_config(), "{err:?}");

    // Plain TCP to a TLS port gets no answer it understands: an error, not a hang.
    let err = RedisConfig::new(format!("redis://127.0.0.1:{}/", server.port))
        .with_connect_timeout(Duration::from_millis(500))
        .with_response_timeout(Duration::from_millis(500))
        .connect()
        .await
        .expect_err("plain text to a TLS port");
    assert!(err.is_unavailable(), "{err:?}");
}
