//! The whole conformance suite against one redis server: `SESSIONKIT_REDIS_URL`, or a
//! throwaway server started with the testkit. Every test gets its own key prefix.

mod common;

sessionkit_conformance::suite!(common::single_store());
