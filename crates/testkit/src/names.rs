//! What every test that stores sessions needs so that tests never see each other's sessions: a
//! name of its own (key prefix, table) and a SQLite file of its own.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::{Result, TempDir};

/// A name no other caller in this run (nor, very likely, in another run against the same
/// server) gets: `skt_<tag>_<pid>_<n>_<nanoseconds>`. Valid as a table name (at most 63
/// characters for a `tag` of up to 20 characters of `[a-z0-9_]`) and as a key prefix.
pub fn unique_name(tag: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "skt_{tag}_{}_{}_{nanos}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// A SQLite database file for one test, in a temporary folder of its own that is removed
/// (with the WAL and journal files SQLite writes beside the file) when this is dropped.
#[derive(Debug)]
pub struct SqliteFile {
    _dir: TempDir,
    path: PathBuf,
}

impl SqliteFile {
    /// A path to a database file that does not exist yet.
    pub fn new(tag: &str) -> Result<Self> {
        let dir = TempDir::new("sqlite")?;
        let path = dir.path().join(format!("{tag}.sqlite3"));
        Ok(Self { _dir: dir, path })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `sqlite://<path>`, as sessionkit's URLs name it.
    pub fn url(&self) -> String {
        format!("sqlite://{}", self.path.display())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_differ_and_fit_a_table_name() {
        let a = unique_name("conformance_tag");
        let b = unique_name("conformance_tag");
        assert_ne!(a, b);
        assert!(a.len() <= 63, "{a}");
        assert!(a
            .bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_'));
    }

    #[test]
    fn sqlite_files_go_with_their_folder() {
        let file = SqliteFile::new("t").unwrap();
        let dir = file.path().parent().unwrap().to_owned();
        std::fs::write(file.path(), b"x").unwrap();
        std::fs::write(dir.join("t.sqlite3-wal"), b"x").unwrap();
        assert!(file.url().starts_with("sqlite:///"));
        drop(file);
        assert!(!dir.exists());
    }
}
