//! The whole conformance suite against sqlite: a temporary SQLite file per test.
#![cfg(feature = "sqlite")]

mod common;

sessionkit_conformance::suite!(common::sqlite_store());
