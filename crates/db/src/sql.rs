//! The statements of each operation, per dialect, and the one query type that runs them.
//!
//! Statements are written once with the table name filled in (validated and quoted when the
//! store is built) and `?` where a value goes; [`Stmt`] splits them at the `?`s and pushes a
//! bound parameter at each (diesel writes `$1`, `$2`... for PostgreSQL). Keys, data and times
//! therefore always travel as parameters, never as SQL text.
//!
//! Unlike `diesel::sql_query`, which diesel never caches, a [`Stmt`] is safe to cache: diesel
//! keeps it prepared per connection, keyed by its SQL text, so each statement is parsed and
//! planned once per connection and every later call is one execute round trip.

use std::marker::PhantomData;

use diesel::backend::Backend as DieselBackend;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::serialize::ToSql;
use diesel::sql_types::{BigInt, Binary, HasSqlType, SqlType, Text};
use diesel::{QueryResult, RunQueryDsl};

use crate::{Backend, Schema, CLEAR_BATCH_SIZE};

/// A value bound to a statement parameter.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Bind<'a> {
    /// A session key or a name: `Text`.
    Text(&'a str),
    /// A session record: `Binary`.
    Bytes(&'a [u8]),
    /// A time in Unix seconds or a number: `BigInt`.
    Int(i64),
}

/// A statement's SQL split at its parameters: `parts.len()` is the number of parameters + 1.
#[derive(Debug, Clone)]
pub(crate) struct Template {
    parts: Box<[Box<str>]>,
}

impl Template {
    /// Splits `sql` at every `?` (none of our statements has a `?` anywhere else).
    pub(crate) fn new(sql: &str) -> Self {
        Self {
            parts: sql.split('?').map(Into::into).collect(),
        }
    }

    fn params(&self) -> usize {
        self.parts.len() - 1
    }

    /// The statement with `binds`, to execute.
    pub(crate) fn exec<'a>(&'a self, binds: &'a [Bind<'a>]) -> Stmt<'a, ()> {
        debug_assert_eq!(binds.len(), self.params(), "{:?}", self.parts);
        Stmt {
            template: self,
            binds,
            _row: PhantomData,
        }
    }

    /// The statement with `binds`, returning rows of one column of SQL type `ST`.
    pub(crate) fn select<'a, ST>(&'a self, binds: &'a [Bind<'a>]) -> Stmt<'a, ST> {
        debug_assert_eq!(binds.len(), self.params(), "{:?}", self.parts);
        Stmt {
            template: self,
            binds,
            _row: PhantomData,
        }
    }
}

/// One statement with its parameters, safe for diesel to cache as a prepared statement.
#[derive(Debug)]
pub(crate) struct Stmt<'a, ST> {
    template: &'a Template,
    binds: &'a [Bind<'a>],
    _row: PhantomData<ST>,
}

impl<ST, DB> QueryFragment<DB> for Stmt<'_, ST>
where
    DB: DieselBackend + HasSqlType<Text> + HasSqlType<Binary> + HasSqlType<BigInt>,
    str: ToSql<Text, DB>,
    [u8]: ToSql<Binary, DB>,
    i64: ToSql<BigInt, DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        let mut binds = self.binds.iter();
        for (i, part) in self.template.parts.iter().enumerate() {
            if i > 0 {
                match binds.next() {
                    Some(Bind::Text(s)) => out.push_bind_param::<Text, str>(s)?,
                    Some(Bind::Bytes(b)) => out.push_bind_param::<Binary, [u8]>(b)?,
                    Some(Bind::Int(n)) => out.push_bind_param::<BigInt, i64>(n)?,
                    None => {
                        return Err(diesel::result::Error::QueryBuilderError(
                            "sessionkit-db: a statement parameter has no value".into(),
                        ))
                    }
                }
            }
            out.push_sql(part);
        }
        Ok(())
    }
}

impl<ST> QueryId for Stmt<'_, ST> {
    type QueryId = ();
    // The SQL depends on the table name, so diesel keys its statement cache by the SQL text.
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<ST: SqlType> Query for Stmt<'_, ST> {
    type SqlType = ST;
}

impl<ST, Conn> RunQueryDsl<Conn> for Stmt<'_, ST> {}

/// Every statement a store runs on its table, in its dialect.
#[derive(Debug)]
pub(crate) struct Statements {
    /// Whether the table keeps versions ([`Schema::Sessionkit`]); without, the statements
    /// take no version parameters ([`insert_binds`](Self::insert_binds),
    /// [`update_binds`](Self::update_binds)) and `load` reads version 0.
    pub(crate) versioned: bool,
    /// `key, now` → data and version of the live row.
    pub(crate) load: Template,
    /// `key, now` → count of live rows (0 or 1).
    pub(crate) exists: Template,
    /// `key, data, expires_at, version`.
    pub(crate) insert: Template,
    /// `key, now`: removes the row under `key` only if it has expired.
    pub(crate) delete_expired_key: Template,
    /// `data, expires_at, new version, key, now`.
    pub(crate) update: Template,
    /// `data, expires_at, new version, key, now, expected version`: writes only the live row
    /// still at the expected version.
    pub(crate) update_checked: Template,
    /// `expires_at, key, now`.
    pub(crate) touch: Template,
    /// `key`.
    pub(crate) delete: Template,
    /// `now` → the keys of at most `CLEAR_BATCH_SIZE` expired rows, found through the
    /// `expire_date` index (named in the statement where the dialect allows; see
    /// `DbConn::index_scans_only`).
    pub(crate) clear_select: Template,
    /// `CLEAR_BATCH_SIZE` keys (the last repeated to fill), then `now`: deletes those rows if
    /// they are still expired.
    pub(crate) clear_delete: Template,
    /// The server's version.
    pub(crate) version: Template,
    /// `now` → how many rows are live.
    pub(crate) count_live: Template,
    /// `now` → how many rows have expired.
    pub(crate) count_expired: Template,
}

impl Statements {
    /// The statements for `quoted_table` (already validated and quoted) in `backend`'s dialect
    /// and `schema`'s layout.
    pub(crate) fn new(
        backend: Backend,
        schema: Schema,
        quoted_table: &str,
        expiry_index: &str,
    ) -> Self {
        let t = quoted_table;
        let dialect = backend.dialect();
        // What the two layouts spell differently: how a time parameter becomes an
        // `expire_date`, how the columns read back, and the version column.
        let (time, data, version, expire_secs, hint) = match schema {
            Schema::Sessionkit => (
                "?",
                "session_data",
                "session_version",
                "expire_date",
                dialect.clear_hint(expiry_index),
            ),
            // No hint: the index Django made has a name of Django's choosing.
            Schema::Django => {
                let d = &dialect.django;
                (d.time, d.data, d.zero, d.expire_secs, String::new())
            }
        };
        let versioned = schema == Schema::Sessionkit;
        let (version_column, version_param, set_version) = if versioned {
            (", session_version", ", ?", ", session_version = ?")
        } else {
            ("", "", "")
        };
        // Selecting the keys first, through the index, bounds a batch whatever the planner's
        // statistics say (a DELETE with a subselect was planned as a join over every expired
        // row when the statistics were stale); an empty batch costs one index probe.
        let clear_select = format!(
            "SELECT session_key FROM {t}{hint} WHERE expire_date <= {time} \
             ORDER BY expire_date LIMIT {CLEAR_BATCH_SIZE}"
        );
        // The `expire_date <= ?` re-checks each row as it is deleted: a key that was expired
        // when it was selected but was created anew since (create replaces an expired row) is
        // left alone.
        let keys = vec!["?"; CLEAR_BATCH_SIZE as usize].join(", ");
        let clear_delete =
            format!("DELETE FROM {t} WHERE session_key IN ({keys}) AND expire_date <= {time}");
        let update = format!(
            "UPDATE {t} SET session_data = ?, expire_date = {time}{set_version} \
             WHERE session_key = ? AND expire_date > {time}"
        );
        let update_checked = if versioned {
            format!("{update} AND session_version = ?")
        } else {
            // Never run: a store without versions cannot compare and set.
            update.clone()
        };
        Self {
            versioned,
            load: Template::new(&format!(
                "SELECT {data}, {version}, {expire_secs} FROM {t} \
                 WHERE session_key = ? AND expire_date > {time}"
            )),
            exists: Template::new(&format!(
                "SELECT COUNT(*) FROM {t} WHERE session_key = ? AND expire_date > {time}"
            )),
            insert: Template::new(&format!(
                "INSERT INTO {t} (session_key, session_data, expire_date{version_column}) \
                 VALUES (?, ?, {time}{version_param})"
            )),
            delete_expired_key: Template::new(&format!(
                "DELETE FROM {t} WHERE session_key = ? AND expire_date <= {time}"
            )),
            update: Template::new(&update),
            update_checked: Template::new(&update_checked),
            touch: Template::new(&format!(
                "UPDATE {t} SET expire_date = {time} WHERE session_key = ? AND expire_date > {time}"
            )),
            delete: Template::new(&format!("DELETE FROM {t} WHERE session_key = ?")),
            clear_select: Template::new(&clear_select),
            clear_delete: Template::new(&clear_delete),
            version: Template::new(dialect.server_version),
            count_live: Template::new(&format!(
                "SELECT COUNT(*) FROM {t} WHERE expire_date > {time}"
            )),
            count_expired: Template::new(&format!(
                "SELECT COUNT(*) FROM {t} WHERE expire_date <= {time}"
            )),
        }
    }

    /// The bound values of an insert: the version only where the table keeps one.
    pub(crate) fn insert_binds<'a>(
        &self,
        key: &'a str,
        data: Bind<'a>,
        expires_at: i64,
        version: i64,
    ) -> Vec<Bind<'a>> {
        let mut binds = vec![Bind::Text(key), data, Bind::Int(expires_at)];
        if self.versioned {
            binds.push(Bind::Int(version));
        }
        binds
    }

    /// The bound values of an update (before the expected version, if any).
    pub(crate) fn update_binds<'a>(
        &self,
        data: Bind<'a>,
        expires_at: i64,
        version: i64,
        key: &'a str,
        now: i64,
    ) -> Vec<Bind<'a>> {
        let mut binds = vec![data, Bind::Int(expires_at)];
        if self.versioned {
            binds.push(Bind::Int(version));
        }
        binds.extend([Bind::Text(key), Bind::Int(now)]);
        binds
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_split_at_parameters() {
        let s = Statements::new(Backend::Postgres, Schema::Sessionkit, "\"t\"", "\"i\"");
        assert_eq!(s.update.params(), 5);
        assert_eq!(s.update_checked.params(), 6);
        assert_eq!(s.insert.params(), 4);
        assert_eq!(s.clear_select.params(), 1);
        assert_eq!(s.clear_delete.params(), CLEAR_BATCH_SIZE as usize + 1);
        let m = Statements::new(Backend::Mysql, Schema::Sessionkit, "`t`", "`i`");
        assert!(m.clear_select.parts.concat().contains("FORCE INDEX (`i`)"));
        assert!(m.clear_select.parts.concat().contains("LIMIT 1000"));
        let q = Statements::new(Backend::Sqlite, Schema::Sessionkit, "\"t\"", "\"i\"");
        assert!(q.clear_select.parts.concat().contains("INDEXED BY \"i\""));
    }

    #[test]
    fn djangos_table_has_no_version_and_converts_times() {
        for backend in [Backend::Postgres, Backend::Mysql, Backend::Sqlite] {
            let s = Statements::new(backend, Schema::Django, "t", "i");
            assert!(!s.versioned);
            assert_eq!(s.insert.params(), 3);
            assert_eq!(s.update.params(), 4);
            assert_eq!(s.load.params(), 2);
            let all = [&s.load, &s.insert, &s.update, &s.touch, &s.clear_select]
                .map(|t| t.parts.concat())
                .concat();
            assert!(!all.contains("session_version"), "{all}");
            let time = backend.dialect().django.time;
            assert!(all.contains(time.split('?').next().unwrap()), "{all}");
            assert!(!s.clear_select.parts.concat().contains("INDEX"), "no hint");
        }
    }
}

/// Every statement is prepared once per connection and then reused from diesel's cache (a
/// `sql_query` would be prepared anew on every call).
#[cfg(all(test, feature = "sqlite"))]
mod cache_tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use diesel::connection::{Instrumentation, InstrumentationEvent};
    use diesel::{Connection, SqliteConnection};

    use super::*;
    use crate::pool::DbConn;

    #[test]
    fn statements_are_prepared_once_and_cached() {
        let mut conn = SqliteConnection::establish(":memory:").unwrap();
        crate::migrate::run(&mut conn, Backend::Sqlite, "t", "\"t\"").unwrap();
        let (cached, started) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let (c, s) = (cached.clone(), started.clone());
        let counter = move |event: InstrumentationEvent<'_>| match event {
            InstrumentationEvent::CacheQuery { .. } => {
                c.fetch_add(1, Ordering::SeqCst);
            }
            InstrumentationEvent::StartQuery { .. } => {
                s.fetch_add(1, Ordering::SeqCst);
            }
            _ => {}
        };
        fn assert_instrumentation(_: &impl Instrumentation) {}
        assert_instrumentation(&counter);
        conn.set_instrumentation(counter);

        let dialect = Backend::Sqlite.dialect();
        let index = dialect.quote(&dialect.expiry_index_name("t"));
        let st = Statements::new(Backend::Sqlite, Schema::Sessionkit, "\"t\"", &index);
        let (key, now) = ("k".repeat(32), 100);
        for round in 0..3 {
            let exp = 1_000 + round;
            conn.exec(
                &st.insert,
                &[
                    Bind::Text(&key),
                    Bind::Bytes(b"d"),
                    Bind::Int(exp),
                    Bind::Int(1),
                ],
            )
            .unwrap();
            conn.select_versioned(&st.load, &[Bind::Text(&key), Bind::Int(now)])
                .unwrap();
            conn.select_int(&st.exists, &[Bind::Text(&key), Bind::Int(now)])
                .unwrap();
            conn.exec(
                &st.update,
                &[
                    Bind::Bytes(b"e"),
                    Bind::Int(exp),
                    Bind::Int(2),
                    Bind::Text(&key),
                    Bind::Int(now),
                ],
            )
            .unwrap();
            conn.exec(
                &st.update_checked,
                &[
                    Bind::Bytes(b"f"),
                    Bind::Int(exp),
                    Bind::Int(3),
                    Bind::Text(&key),
                    Bind::Int(now),
                    Bind::Int(2),
                ],
            )
            .unwrap();
            conn.exec(
                &st.touch,
                &[Bind::Int(exp), Bind::Text(&key), Bind::Int(now)],
            )
            .unwrap();
            conn.exec(&st.delete_expired_key, &[Bind::Text(&key), Bind::Int(now)])
                .unwrap();
            conn.select_texts(&st.clear_select, &[Bind::Int(now)])
                .unwrap();
            let mut binds = vec![Bind::Text(&key); CLEAR_BATCH_SIZE as usize];
            binds.push(Bind::Int(now));
            conn.exec(&st.clear_delete, &binds).unwrap();
            conn.exec(&st.delete, &[Bind::Text(&key)]).unwrap();
        }
        assert_eq!(started.load(Ordering::SeqCst), 30, "every statement ran");
        assert_eq!(
            cached.load(Ordering::SeqCst),
            10,
            "each of the 10 statements is prepared once, then reused"
        );
    }
}
