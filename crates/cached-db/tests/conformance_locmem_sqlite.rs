//! The whole conformance suite, unchanged, against a cached database store: a fresh in-process
//! cache per test, in front of a SQLite file of its own per test.

mod common;

sessionkit_conformance::suite!(common::store(common::Cache::Locmem, common::Db::Sqlite));
