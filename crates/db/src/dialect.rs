//! What each SQL dialect spells its own way, in one place per dialect: identifier quoting, the
//! session table's DDL, the migration record, where to look for a table, the clear-expired
//! index hint, the server-version query, how indexes are named, and the migration lock's
//! names. `migrate.rs` and `sql.rs` write the shared statement flow with these; each
//! connection type's own settings and lock calls are its `DbConn` impl in `pool.rs`. Depends on
//! nothing but [`Backend`].

use crate::Backend;

/// One dialect's spellings. Templates name the quoted table `{t}` and the quoted expiry index
/// `{i}`.
#[derive(Debug)]
pub(crate) struct Dialect {
    /// The identifier quote.
    quote: char,
    /// Migration 1: the session table and its expiry index.
    create_table: &'static str,
    /// Migration 2: the version column.
    add_version: &'static str,
    /// The migration record's name column type and table options.
    record_name_type: &'static str,
    record_options: &'static str,
    /// `table_name` → how many tables of that name exist where the store's statements look.
    pub(crate) table_exists: &'static str,
    /// What keeps the clear-expired select on the expiry index (`{i}`), after the table name.
    clear_hint: &'static str,
    /// The server's version.
    pub(crate) server_version: &'static str,
    /// Whether index names are per table (else per schema, so they carry the table's name).
    index_names_per_table: bool,
    /// `table_name`, `index_name` → whether the index exists, where a table adopted from
    /// elsewhere may lack the expiry index (MySQL declares it inside `CREATE TABLE`, which
    /// does nothing when the table exists); `None` where `CREATE INDEX IF NOT EXISTS` runs.
    pub(crate) adopted_index_exists: Option<&'static str>,
    /// How Django's `django_session` columns are read and written.
    pub(crate) django: DjangoColumns,
}

/// How a dialect reads and writes the columns of Django's `django_session` table, as Django's
/// `migrate` makes them (`session_data` text; `expire_date` a datetime Django keeps in UTC):
/// times still travel as Unix-seconds parameters, converted by the database, so neither its
/// clock nor its time zone matters.
#[derive(Debug)]
pub(crate) struct DjangoColumns {
    /// A Unix-seconds parameter (`?`) as an `expire_date` value.
    pub(crate) time: &'static str,
    /// `expire_date` as Unix seconds, a BIGINT.
    pub(crate) expire_secs: &'static str,
    /// `session_data` as bytes.
    pub(crate) data: &'static str,
    /// A BIGINT zero: the version the table does not keep.
    pub(crate) zero: &'static str,
}

/// PostgreSQL.
const POSTGRES: Dialect = Dialect {
    quote: '"',
    create_table: "CREATE TABLE IF NOT EXISTS {t} (\
                       session_key VARCHAR(40) NOT NULL PRIMARY KEY, \
                       session_data BYTEA NOT NULL, \
                       expire_date BIGINT NOT NULL); \
                   CREATE INDEX IF NOT EXISTS {i} ON {t} (expire_date)",
    add_version:
        "ALTER TABLE {t} ADD COLUMN IF NOT EXISTS session_version BIGINT NOT NULL DEFAULT 0",
    record_name_type: "VARCHAR(64)",
    record_options: "",
    table_exists: "SELECT COUNT(*) FROM information_schema.tables \
                   WHERE table_schema = current_schema() AND table_name = ?",
    // No hints: the clear-expired select runs with sequential scans turned off instead
    // (`DbConn::index_scans_only`).
    clear_hint: "",
    server_version: "SELECT version()",
    index_names_per_table: false,
    adopted_index_exists: None,
    // `timestamp with time zone`.
    django: DjangoColumns {
        time: "to_timestamp(?)",
        expire_secs: "CAST(FLOOR(EXTRACT(EPOCH FROM expire_date)) AS BIGINT)",
        data: "convert_to(session_data, 'UTF8')",
        zero: "CAST(0 AS BIGINT)",
    },
};

/// MySQL and MariaDB. Keys are ASCII; a binary collation compares them exactly (and cheaply).
const MYSQL: Dialect = Dialect {
    quote: '`',
    create_table: "CREATE TABLE IF NOT EXISTS {t} (\
                       session_key VARCHAR(40) CHARACTER SET ascii COLLATE ascii_bin NOT NULL \
                           PRIMARY KEY, \
                       session_data LONGBLOB NOT NULL, \
                       expire_date BIGINT NOT NULL, \
                       INDEX {i} (expire_date)) ENGINE=InnoDB",
    // MySQL has no `ADD COLUMN IF NOT EXISTS` (MariaDB has): the migration record guards it.
    add_version: "ALTER TABLE {t} ADD COLUMN session_version BIGINT NOT NULL DEFAULT 0",
    record_name_type: "VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin",
    record_options: " ENGINE=InnoDB",
    table_exists: "SELECT COUNT(*) FROM information_schema.tables \
                   WHERE table_schema = DATABASE() AND table_name = ?",
    clear_hint: " FORCE INDEX ({i})",
    server_version: "SELECT version()",
    index_names_per_table: true,
    adopted_index_exists: Some(
        "SELECT COUNT(*) FROM information_schema.statistics \
         WHERE table_schema = DATABASE() AND table_name = ? AND index_name = ?",
    ),
    // `datetime(6)` holding UTC (Django converts with USE_TZ); the session's time zone
    // setting plays no part in this arithmetic.
    django: DjangoColumns {
        time: "TIMESTAMPADD(SECOND, ?, TIMESTAMP'1970-01-01 00:00:00')",
        expire_secs: "TIMESTAMPDIFF(SECOND, TIMESTAMP'1970-01-01 00:00:00', expire_date)",
        data: "CAST(session_data AS BINARY)",
        zero: "CAST(0 AS SIGNED)",
    },
};

/// SQLite.
const SQLITE: Dialect = Dialect {
    quote: '"',
    create_table: "CREATE TABLE IF NOT EXISTS {t} (\
                       session_key VARCHAR(40) NOT NULL PRIMARY KEY, \
                       session_data BLOB NOT NULL, \
                       expire_date BIGINT NOT NULL); \
                   CREATE INDEX IF NOT EXISTS {i} ON {t} (expire_date)",
    add_version: "ALTER TABLE {t} ADD COLUMN session_version BIGINT NOT NULL DEFAULT 0",
    record_name_type: "VARCHAR(64)",
    record_options: "",
    table_exists: "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?",
    clear_hint: " INDEXED BY {i}",
    server_version: "SELECT sqlite_version()",
    index_names_per_table: false,
    adopted_index_exists: None,
    // Text `YYYY-MM-DD HH:MM:SS[.ffffff]` in UTC, compared as text (as Django compares it).
    django: DjangoColumns {
        time: "datetime(?, 'unixepoch')",
        expire_secs: "CAST(strftime('%s', expire_date) AS INTEGER)",
        data: "CAST(session_data AS BLOB)",
        zero: "0",
    },
};

impl Backend {
    /// How this database spells what dialects spell differently.
    pub(crate) const fn dialect(self) -> &'static Dialect {
        match self {
            Backend::Postgres => &POSTGRES,
            Backend::Mysql => &MYSQL,
            Backend::Sqlite => &SQLITE,
        }
    }
}

/// A template with the quoted table and index filled in.
fn fill(template: &str, table: &str, index: &str) -> String {
    template.replace("{t}", table).replace("{i}", index)
}

impl Dialect {
    /// `name` quoted (the name is validated: it holds no quote characters).
    pub(crate) fn quote(&self, name: &str) -> String {
        format!("{q}{name}{q}", q = self.quote)
    }

    /// Migration 1 for the quoted `table` and `index`.
    pub(crate) fn create_table(&self, table: &str, index: &str) -> String {
        fill(self.create_table, table, index)
    }

    /// Migration 2 for the quoted `table`.
    pub(crate) fn add_version(&self, table: &str) -> String {
        fill(self.add_version, table, "")
    }

    /// The migration record table `name`, if missing.
    pub(crate) fn record_table(&self, name: &str) -> String {
        format!(
            "CREATE TABLE IF NOT EXISTS {name} (\
                 table_name {} NOT NULL, \
                 version BIGINT NOT NULL, \
                 applied_at BIGINT NOT NULL, \
                 PRIMARY KEY (table_name, version)){}",
            self.record_name_type, self.record_options
        )
    }

    /// The hint after the table name that keeps a select on the quoted expiry `index`.
    pub(crate) fn clear_hint(&self, index: &str) -> String {
        fill(self.clear_hint, "", index)
    }

    /// The expiry index's name (unquoted) for `table`. Where indexes are named per schema
    /// (PostgreSQL, SQLite) it carries the table's name — shortened with a hash where
    /// PostgreSQL's 63-character limit would otherwise cut it.
    pub(crate) fn expiry_index_name(&self, table: &str) -> String {
        if self.index_names_per_table {
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
}

#[cfg(feature = "postgres")]
/// PostgreSQL advisory lock key of the migration lock ("sessionk" in ASCII).
pub(crate) const LOCK_ID: i64 = 0x7365_7373_696f_6e6b;
#[cfg(feature = "mysql")]
/// MySQL/MariaDB named lock of the migration lock.
pub(crate) const LOCK_NAME: &str = "sessionkit_migrate";
#[cfg(feature = "mysql")]
/// How long a MySQL/MariaDB migration waits for another process's migration lock.
pub(crate) const LOCK_WAIT_SECS: i64 = 60;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_quoted_per_dialect() {
        assert_eq!(Backend::Mysql.dialect().quote("t"), "`t`");
        assert_eq!(Backend::Postgres.dialect().quote("t"), "\"t\"");
        assert_eq!(Backend::Sqlite.dialect().quote("t"), "\"t\"");
    }

    #[test]
    fn index_names_fit_postgres() {
        assert_eq!(
            Backend::Postgres
                .dialect()
                .expiry_index_name("sessionkit_session"),
            "sessionkit_session_expire_date_idx"
        );
        let long = "a".repeat(63);
        let other = format!("{}b", "a".repeat(62));
        let (x, y) = (
            Backend::Postgres.dialect().expiry_index_name(&long),
            Backend::Postgres.dialect().expiry_index_name(&other),
        );
        assert!(x.len() <= 63 && y.len() <= 63, "{x} {y}");
        assert_ne!(x, y);
        assert_eq!(
            Backend::Mysql.dialect().expiry_index_name(&long),
            "expire_date_idx"
        );
    }
}
