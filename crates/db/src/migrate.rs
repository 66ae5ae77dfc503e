//! The embedded migrations: one list of versions, each with its SQL for every dialect,
//! recorded per session table in [`MIGRATIONS_TABLE`].
//!
//! Running them is idempotent and safe from several processes at once: the whole run holds a
//! database-wide migration lock (PostgreSQL: a transaction-scoped advisory lock, with the DDL
//! inside the transaction; MySQL/MariaDB: a named `GET_LOCK`, since its DDL commits by itself;
//! SQLite: `BEGIN IMMEDIATE`), reads which versions are recorded for the table, and applies and
//! records the others in order. Every statement is also written to be harmless if repeated
//! (`IF NOT EXISTS`). A recorded table that no longer exists (dropped by hand) is migrated
//! again from the start.
//!
//! A later release adds a version to [`MIGRATIONS`]; never edit a released one.

use std::time::Duration;

use diesel::result::QueryResult;
use sessionkit_core::{Migration as Outcome, UnixTime};

use crate::pool::DbConn;
use crate::sql::{Bind, Template};
use crate::{Backend, MIGRATIONS_TABLE};

/// The statement timeout of migration connections, if the configured one is shorter: DDL on a
/// big table and waiting for another process's migration both take longer than a request.
pub(crate) const MIGRATION_STATEMENT_TIMEOUT: Duration = Duration::from_secs(60);

/// Names a migration's SQL is written with.
pub(crate) struct Names<'a> {
    /// The session table, quoted.
    pub(crate) table: &'a str,
    /// Its expiry index, quoted.
    pub(crate) expiry_index: &'a str,
}

/// One schema change.
pub(crate) struct Migration {
    /// Recorded in [`MIGRATIONS_TABLE`] once applied; increasing.
    pub(crate) version: i64,
    /// What it does, for logs.
    pub(crate) description: &'static str,
    /// Its SQL (one or more statements) for a dialect.
    pub(crate) sql: fn(Backend, &Names<'_>) -> String,
}

/// Every migration, in order.
pub(crate) const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        description: "create the session table and its expiry index",
        sql: v1_create_table,
    },
    Migration {
        version: 2,
        description: "add the record version (compare-and-set); existing rows get version 0",
        sql: v2_add_version,
    },
];

/// Existing rows keep working: they load at version 0 (`Version::UNTRACKED`) and their next
/// save compares against it. PostgreSQL and SQLite run it inside the migration transaction;
/// MySQL's DDL commits by itself, so a crash between it and its record would make the next run
/// fail on the existing column (drop it or record version 2 by hand).
fn v2_add_version(backend: Backend, n: &Names<'_>) -> String {
    backend.dialect().add_version(n.table)
}

fn v1_create_table(backend: Backend, n: &Names<'_>) -> String {
    backend.dialect().create_table(n.table, n.expiry_index)
}

/// Whether `table` exists where the store's statements look for it.
pub(crate) fn table_exists<C: DbConn>(
    conn: &mut C,
    backend: Backend,
    table: &str,
) -> QueryResult<bool> {
    let found = conn.select_int(
        &Template::new(backend.dialect().table_exists),
        &[Bind::Text(table)],
    )?;
    Ok(found.unwrap_or(0) > 0)
}

/// Applies the migrations `table` lacks, under the migration lock; returns the versions
/// applied. Blocking.
pub(crate) fn run<C: DbConn>(
    conn: &mut C,
    backend: Backend,
    table: &str,
    quoted_table: &str,
) -> QueryResult<Outcome> {
    let index = backend
        .dialect()
        .quote(&backend.dialect().expiry_index_name(table));
    let names = Names {
        table: quoted_table,
        expiry_index: &index,
    };
    conn.with_migration_lock(|c| {
        c.batch_execute(&backend.dialect().record_table(MIGRATIONS_TABLE))?;
        let exists = table_exists(c, backend, table)?;
        let applied = if exists {
            c.select_ints(
                &Template::new(&format!(
                    "SELECT version FROM {MIGRATIONS_TABLE} WHERE table_name = ?"
                )),
                &[Bind::Text(table)],
            )?
        } else {
            // Never created, or dropped by hand since: start again.
            c.exec(
                &Template::new(&format!(
                    "DELETE FROM {MIGRATIONS_TABLE} WHERE table_name = ?"
                )),
                &[Bind::Text(table)],
            )?;
            Vec::new()
        };
        let known = MIGRATIONS.last().map_or(0, |m| m.version);
        if let Some(newer) = applied.iter().copied().filter(|v| *v > known).max() {
            tracing::warn!(
                table,
                version = newer,
                known,
                "sessionkit-db: the session table was migrated by a newer sessionkit-db; \
                 this one may not understand its schema"
            );
        }
        let record = Template::new(&format!(
            "INSERT INTO {MIGRATIONS_TABLE} (table_name, version, applied_at) VALUES (?, ?, ?)"
        ));
        let mut newly = Vec::new();
        for m in MIGRATIONS {
            if applied.contains(&m.version) {
                continue;
            }
            c.batch_execute(&(m.sql)(backend, &names))?;
            c.exec(
                &record,
                &[
                    Bind::Text(table),
                    Bind::Int(m.version),
                    Bind::Int(UnixTime::now().as_secs()),
                ],
            )?;
            tracing::info!(
                table,
                version = m.version,
                "sessionkit-db: applied migration: {}",
                m.description
            );
            newly.push(m.version);
        }
        if let Some(exists) = backend.dialect().adopted_index_exists {
            // A table adopted from elsewhere (created before sessionkit) may lack the expiry
            // index; clear_expired names it.
            let has_index = c
                .select_int(
                    &Template::new(exists),
                    &[
                        Bind::Text(table),
                        Bind::Text(&backend.dialect().expiry_index_name(table)),
                    ],
                )?
                .unwrap_or(0)
                > 0;
            if !has_index {
                c.batch_execute(&format!(
                    "CREATE INDEX {index} ON {quoted_table} (expire_date)"
                ))?;
            }
        }
        let before = applied.iter().copied().max();
        Ok(match (before, newly.last().copied()) {
            (None, Some(version)) => Outcome::Created { version },
            (Some(from), Some(to)) => Outcome::Upgraded { from, to },
            (before, None) => Outcome::Current {
                version: before.unwrap_or(known),
            },
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_increase() {
        assert!(MIGRATIONS.windows(2).all(|w| w[0].version < w[1].version));
        assert!(MIGRATIONS.iter().all(|m| m.version > 0));
    }
}
