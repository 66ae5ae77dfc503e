//! The whole conformance suite, unchanged, against a cached database store: a fresh in-process
//! cache per test, in front of PostgreSQL (`SESSIONKIT_POSTGRES_URL` or a throwaway server), a
//! table of its own per test.

mod common;

sessionkit_conformance::suite!(common::store(common::Cache::Locmem, common::Db::Postgres));
