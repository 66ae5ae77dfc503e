//! The whole conformance suite, unchanged, against a cached database store: memcached
//! (`SESSIONKIT_MEMCACHED_URLS` or a throwaway server), a key prefix per test, in front of a SQLite
//! file of its own per test.

mod common;

sessionkit_conformance::suite!(common::store(common::Cache::Memcached, common::Db::Sqlite));
