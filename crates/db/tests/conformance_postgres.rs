//! The whole conformance suite against postgres: `SESSIONKIT_POSTGRES_URL`, or a throwaway PostgreSQL server started with the testkit; every test gets its own table.
#![cfg(feature = "postgres")]

mod common;

sessionkit_conformance::suite!(common::postgres_store());
