//! What the three SQL dialects spell differently and more than one part of the crate needs:
//! identifier quoting, the expiry index's name, the migration lock's names. (Each dialect's
//! statements are in `sql.rs`, its DDL in `migrate.rs`, its connection settings in `pool.rs`.)
//! Depends on nothing but [`Backend`].

use crate::Backend;

#[cfg(feature = "postgres")]
/// PostgreSQL advisory lock key of the migration lock ("sessionk" in ASCII).
pub(crate) const LOCK_ID: i64 = 0x7365_7373_696f_6e6b;
#[cfg(feature = "mysql")]
/// MySQL/MariaDB named lock of the migration lock.
pub(crate) const LOCK_NAME: &str = "sessionkit_migrate";
#[cfg(feature = "mysql")]
/// How long a MySQL/MariaDB migration waits for another process's migration lock.
pub(crate) const LOCK_WAIT_SECS: i64 = 60;
/// `name` quoted for `backend` (the name is validated: it holds no quote characters).
pub(crate) fn quote(name: &str, backend: Backend) -> String {
    match backend {
        Backend::Mysql => format!("`{name}`"),
        Backend::Postgres | Backend::Sqlite => format!("\"{name}\""),
    }
}

/// The expiry index's name (unquoted). PostgreSQL and SQLite name indexes per schema, so it
/// carries the table's name — shortened with a hash where PostgreSQL's 63-character limit
/// would otherwise cut it; MySQL names them per table.
pub(crate) fn expiry_index_name(backend: Backend, table: &str) -> String {
    if backend == Backend::Mysql {
        return "expire_date_idx".to_owned();
    }
    let full = format!("{table}_expire_date_idx");
    if full.len() <= 63 {
        return full;
    }
    // FNV-1a: stable across builds and platforms.
    let hash = table.bytes().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    });
    format!("{}_{hash:08x}_expire_idx", &table[..38])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_quoted_per_dialect() {
        assert_eq!(quote("t", Backend::Mysql), "`t`");
        assert_eq!(quote("t", Backend::Postgres), "\"t\"");
        assert_eq!(quote("t", Backend::Sqlite), "\"t\"");
    }

    #[test]
    fn index_names_fit_postgres() {
        assert_eq!(
            expiry_index_name(Backend::Postgres, "sessionkit_session"),
            "sessionkit_session_expire_date_idx"
        );
        let long = "a".repeat(63);
        let other = format!("{}b", "a".repeat(62));
        let (x, y) = (
            expiry_index_name(Backend::Postgres, &long),
            expiry_index_name(Backend::Postgres, &other),
        );
        assert!(x.len() <= 63 && y.len() <= 63, "{x} {y}");
        assert_ne!(x, y);
        assert_eq!(expiry_index_name(Backend::Mysql, &long), "expire_date_idx");
    }
}
