//! The xtask binary itself, on this machine, with the C libraries made invisible: it must stop
//! before building anything, with one message naming every missing package and the command.

use std::process::Command;

#[test]
fn missing_libraries_stop_the_matrix_with_one_message() {
    let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["test-matrix", "--no-install", "--only", "db-sqlite"])
        // pkg-config then searches only this (empty) place: libpq and the MySQL client library
        // look uninstalled, whatever this machine has.
        .env("PKG_CONFIG_LIBDIR", "/nonexistent/sessionkit")
        .env_remove("PKG_CONFIG_PATH")
        .output()
        .expect("run the xtask binary");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(2),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(stderr.contains("nothing was built"), "{stderr}");
    assert!(stderr.contains("--no-install was given"), "{stderr}");
    for package in ["libpq-dev", "default-libmysqlclient-dev"] {
        assert!(stderr.contains(package), "{package} not named:\n{stderr}");
    }
    assert!(
        stderr.contains("sudo apt-get install -y --no-install-recommends")
            && stderr.contains("libpq-dev default-libmysqlclient-dev"),
        "{stderr}"
    );
    assert!(
        !stdout.contains("==> build"),
        "it built something:\n{stdout}"
    );
}
