//! The whole conformance suite against mysql: `SESSIONKIT_MYSQL_URL` (MySQL or MariaDB), or a throwaway MariaDB server started with the testkit; every test gets its own table.
#![cfg(feature = "mysql")]

mod common;

sessionkit_conformance::suite!(common::mysql_store());
